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
      position instead of slicing, so every shape stays static.

    The module must have been through `tfm-layout-weights`.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::bufferization::BufferizationDialect"
  ];
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
    - `tfm.attention`: causal GQA attention over the KV cache, one block per
      (head, query row), for prefill and decode alike;
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
  }];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
    "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::NVVM::NVVMDialect"
  ];
}

#endif // MONOCARD_CONVERSION_PASSES_TD
