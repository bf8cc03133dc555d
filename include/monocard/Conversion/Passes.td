//===- Passes.td - conversions out of tfm ------------------*- tablegen -*-===//

#ifndef MONOCARD_CONVERSION_PASSES_TD
#define MONOCARD_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def TfmLowerToLinalg : Pass<"tfm-lower-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Lower tfm step functions to linalg on tensors with the "
                "runtime ABI";
  let description = [{
    Rewrites each step function (`prefill`, `decode`) into the runtime's ABI
    (docs/runtime-abi.md): it takes `%weights`, `%kv` and `%arena` byte
    buffers first, then the token ids as a memref, the position indices, and
    the logits as an output memref; it returns nothing. Arguments carry
    `tfm.abi` attributes that later passes key on.

    - `tfm.param` becomes a `memref.view` of `%weights` at the offset that
      `tfm-layout-weights` recorded, read through `bufferization.to_tensor`;
    - `tfm.kv_cache` a view of `%kv` (docs/runtime-abi.md gives the layout),
      and `tfm.kv_append` an `insert_slice` materialized in place into it;
    - every compute op becomes `linalg.generic`s on tensors, with f32
      accumulation. Attention masks the cache positions past each query's
      position instead of slicing, so every shape stays static;
    - `tfm.fused_linear` and `tfm.fused_qkv` become the generics of the ops
      they replace, composed: RMSNorm prologue, one matmul (+ bias), then
      SwiGLU over column pairs `(2i, 2i + 1)` and the residual, or RoPE of
      the pair-ordered q/k columns into rotate-half heads and the two cache
      appends;
    - a `!tfm.qweight` param becomes two views of `%weights`, the codes
      (`[N, row_bytes] x i8`) and the `(scale, zero)` pairs
      (`[N, groups, 2]`) at the recipe's `quant.scales_offset`, and every
      matmul reading it dequantizes each code in its body,
      `(q - zero) * scale` in f32; the full-precision weight never exists.

    The module must have been through `tfm-layout-weights`.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::bufferization::BufferizationDialect"
  ];
}

def TfmFuseElementwise : Pass<"tfm-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Fuse elementwise linalg ops into their consumers where no "
                "work is repeated";
  let description = [{
    linalg's elementwise fusion (and its reshape propagation and constant
    folding) with one more condition: a producer is fused into a consumer
    only if the consumer reads each element of the producer's result once,
    i.e. the consumer's indexing map for it is a permutation of its loops.
    Upstream's `linalg-fuse-elementwise-ops` also fuses into consumers that
    broadcast the value, which recomputes the producer for every iteration
    of the missing loops: a SwiGLU (an `exp` per element) fused into the
    down projection ran once per output column, an RMSNorm's `rsqrt` once
    per output of the next linear layer.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect"];
}

def TfmLowerToGPU : Pass<"tfm-lower-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower tfm step functions to launches of CUDA kernels built "
                "by the kernel builders";
  let description = [{
    Rewrites each step function (`prefill`, `decode`) into a straight-line
    host function of `gpu.launch_func`s over the CUDA device ABI
    (docs/runtime-abi.md): `(%weights, %kv, %arena, %io)` byte buffers,
    marked with `tfm.abi` attributes, and no results. The kernels are
    `gpu.func`s in `gpu.module @monocard_kernels`, emitted by C++ kernel
    builders specialised to each op's shapes and storage types:

    - `tfm.linear` with one row: a GEMV, a warp per output row with 16-byte
      loads and shuffle reductions; with more rows: a shared-memory tiled
      GEMM (64x64 tiles, 4x4 per thread);
    - `tfm.attention`: GQA attention over the KV cache with an online
      softmax and no bound on the context: for prefill a flash-style kernel
      (tiles of query rows and keys in dynamic shared memory, which the
      launch passes as `dynamic_shared_memory_size`), for decode one block
      per query head whose warps split the keys;
    - `tfm.rms_norm`, `tfm.rope`, `tfm.kv_append`, `tfm.embedding`,
      `tfm.add`/`mul`/`silu`/`swiglu` and whole-row `tensor.extract_slice`:
      row and elementwise kernels.

    Buffers are flat memrefs: parameters and the KV cache are views of their
    buffers, the token ids, step scalars (position, valid rows, sampler
    settings) and logits are views of the I/O buffer whose layout is
    recorded as the module attribute `tfm.io`, and intermediates are
    `memref.alloc`s for tfm-plan-memory. Each step ends with a launch of the
    sampling kernel, which writes the next token into the I/O buffer.

    Floats are stored in the IR's element types and computed in f32. The
    module must have been through `tfm-layout-weights`.

    The kernels' launch shapes (GEMV unrolling and persistent grid, GEMM
    tiles, attention warps and row tiles) are chosen by KernelConfig for the
    GPU `gpu` names and recorded on each kernel as `monocard.config`. A persistent GEMV launch
    whose grid the launcher sizes from the device's SM count carries
    `monocard.persistent = {blocks_per_sm, min_blocks, max_blocks}`.
  }];
  let options = [
    Option<"gpu", "gpu", "std::string", /*default=*/"\"\"",
           "GPU to choose launch shapes for: a known chip (a100, h200, ...) "
           "or sm_XX; empty: every sm_80+ GPU, shapes tuned for 132 SMs">,
    Option<"gemvTune", "gemv-tune", "std::string", /*default=*/"\"\"",
           "Override the GEMV's tuning for tuning runs: "
           "u=U,bps=B,persist=0|1,roll=0|1 (any subset); the kernel name "
           "records it">,
    Option<"gemmTile", "gemm-tile", "std::string", /*default=*/"\"\"",
           "Force the GEMM tile BMxBN where the kernel's path has it; the "
           "kernel name records it">
  ];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
    "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::NVVM::NVVMDialect"
  ];
}

def GpuExternDynamicShared : Pass<"gpu-extern-dynamic-shared",
                                  "::mlir::gpu::GPUModuleOp"> {
  let summary = "Make the dynamic shared memory symbol an extern declaration";
  let description = [{
    Runs after convert-gpu-to-nvvm. That pass lowers
    `gpu.dynamic_shared_memory` to an *internal* zero-length global in
    address space 3, which the NVPTX back end demotes into a one-byte static
    `.shared` variable: the kernel then indexes past a zero-sized object
    (undefined behaviour the optimiser may act on) and only works because
    the dynamic allocation happens to follow it. This pass turns each such
    global (`!llvm.array<0 x i8>` in address space 3, no initializer) into
    an external declaration, which becomes PTX's
    `.extern .shared .align 16 .b8 name[]`, as CUDA C++ declares
    `extern __shared__` arrays.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // MONOCARD_CONVERSION_PASSES_TD
