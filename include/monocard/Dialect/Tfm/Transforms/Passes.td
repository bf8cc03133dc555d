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

def TfmLayoutWeights : Pass<"tfm-layout-weights", "::mlir::ModuleOp"> {
  let summary = "Decide the packed-weights layout and record the packing "
                "recipe";
  let description = [{
    Gives every distinct `tfm.param` of the module (by name, in order of
    first use) a 64-byte-aligned offset in the packed weights file, and
    records the result as the module attribute
    `tfm.weights = {bytes = N, recipe = [{param, offset, dtype, shape,
    sources, transform} ...] }`. The packer (`--pack`) applies the recipe to the
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
