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

#endif // MONOCARD_CONVERSION_PASSES_TD
