//===- Passes.td - tfm transformation passes ---------------*- tablegen -*-===//

#ifndef MONOCARD_DIALECT_TFM_TRANSFORMS_PASSES_TD
#define MONOCARD_DIALECT_TFM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def TfmPlanMemory : Pass<"tfm-plan-memory", "::mlir::func::FuncOp"> {
  let summary = "Place every intermediate buffer of a step at a static offset "
                "in one activation arena";
  let description = [{
    Runs after one-shot bufferization. A liveness analysis over the step
    function gives each `memref.alloc` a live interval (from the alloc to the
    last use of it or of any view/alias of it); buffers are then placed
    best-fit in one arena, largest first, so that buffers whose intervals
    overlap never share bytes. Each alloc becomes a `memref.view` of the
    function argument marked `{tfm.abi = "arena"}`, whose type is set to
    `memref<Nxi8>` with N the arena size. Nothing in the step allocates.

    The plan is recorded on the function as `tfm.memplan`: arena bytes, the
    liveness lower bound (the largest sum of live bytes at any program
    point), the naive sum, and per buffer its size, offset and interval.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "byte alignment of every buffer in the arena">
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def TfmFuse : Pass<"tfm-fuse", "::mlir::func::FuncOp"> {
  let summary = "Fuse the ops of a transformer layer into the kernels that "
                "run it";
  let description = [{
    Pattern-based; each pattern fires only where the fused op computes what
    the ops it replaces computed, and only when the intermediate results
    have no other use:

    - `fuse-qkv`: the q, k and v linears of one input, RoPE of q and k,
      and the appends of k and v to their caches become one
      `tfm.fused_qkv`, whose weight is one param concatenating the three
      (q and k rows in RoPE pair order). An RMSNorm feeding only those
      linears becomes its prologue.
    - `fuse-gate-up`: `swiglu(linear(x, Wg), linear(x, Wu))` becomes one
      `tfm.fused_linear {swiglu}` over a param of paired gate/up rows, with
      an RMSNorm feeding only the two linears as its prologue.
    - `fuse-residual`: `add(r, linear(x, W))` becomes `tfm.fused_linear`
      with `r` as residual epilogue (the o-proj and down-proj).
    - `fuse-norm`: `linear(rms_norm(x, g), W)` (the norm used once) becomes
      `tfm.fused_linear` with the norm as prologue (the lm_head).

    Merged weights are new `tfm.param`s whose `sources` and `pair_rows`
    tell the packer how to build them from the checkpoint. With `remarks`,
    every linear, rope and kv_append left on its own gets a remark, so a
    model whose layers do not fuse says where.
  }];
  let options = [
    Option<"remarks", "remarks", "bool", /*default=*/"false",
           "remark on every linear, rope and kv_append left unfused">
  ];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def TfmQuantize : Pass<"tfm-quantize", "::mlir::ModuleOp"> {
  let summary = "Store linear-layer weights as quantized integers";
  let description = [{
    Gives every `tfm.param` used only as the weight of a linear layer
    (`tfm.linear`, `tfm.fused_linear`, `tfm.fused_qkv`) the type
    `!tfm.qweight`: `i8` with a scale per output channel, or `i4` with a
    scale and zero per `group` elements. The packer quantizes the
    checkpoint's values when it packs (docs/packed-weights-format.md); no
    weight value ever enters the IR. Embedding tables stay as they are. So
    does the output projection (the linear whose result a step returns),
    unless `lm-head` is set.
  }];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"4",
           "bits per weight: 8 (per-channel) or 4 (group-wise)">,
    Option<"group", "group", "int64_t", /*default=*/"128",
           "elements per scale for 4-bit weights (capped at the row length)">,
    Option<"lmHead", "lm-head", "bool", /*default=*/"false",
           "quantize the output projection too">
  ];
}

def TfmLayoutWeights : Pass<"tfm-layout-weights", "::mlir::ModuleOp"> {
  let summary = "Decide the packed-weights layout and record the packing "
                "recipe";
  let description = [{
    Gives every distinct `tfm.param` of the module (by name, in order of
    first use) a 64-byte-aligned offset in the packed weights file, and
    records the result as the module attribute
    `tfm.weights = {bytes = N, recipe = [{param, offset, dtype, shape,
    sources, transform, pair_rows?, quant?} ...] }`. A `!tfm.qweight` gets
    two planes, codes then (scale, zero) pairs; `quant.scales_offset` says
    where the second one starts (docs/packed-weights-format.md). The packer (`--pack`) applies the recipe to the
    checkpoint; lowering reads the offsets. Two params of one name must have
    one type.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "byte alignment of every packed tensor">
  ];
}

def TfmSelectParallelLoops
    : Pass<"tfm-select-parallel-loops", "::mlir::func::FuncOp"> {
  let summary = "Keep scf.parallel only where the work pays for threads";
  let description = [{
    After linalg becomes parallel loops, every elementwise op of a step is
    an `scf.parallel`, and a fork/join costs microseconds. This pass
    estimates each top-level parallel loop's work (the product of the static
    trip counts along its deepest loop nest) and rewrites loops below
    `min-work` iterations as nested `scf.for`s. The loops that remain are
    turned into OpenMP worksharing loops, which the launcher runs on its
    thread pool. A loop with a dynamic bound counts as large.
  }];
  let options = [
    Option<"minWork", "min-work", "int64_t", /*default=*/"32768",
           "fewest innermost iterations that get their own parallel loop">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect"];
}

#endif // MONOCARD_DIALECT_TFM_TRANSFORMS_PASSES_TD
