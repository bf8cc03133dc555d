//===- StepBuffers.h - what both lowerings read of the ABI buffers -------===//
//
// tfm-lower-to-linalg and tfm-lower-to-gpu rewrite the same step functions
// over the same weights and KV buffers; this is their one reading of the
// packing recipe and of the KV cache layout (docs/runtime-abi.md).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_CONVERSION_STEPBUFFERS_H
#define MONOCARD_LIB_CONVERSION_STEPBUFFERS_H

#include "monocard/Dialect/Tfm/IR/TfmOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace monocard {

struct StepBuffers {
  mlir::DictionaryAttr offsets; // param name -> byte offset in the weights
  /// Quantized params only: name -> byte offset of the (scale, zero) plane.
  mlir::DictionaryAttr scaleOffsets;
  int64_t weightsBytes = 1;     // at least 1: a buffer type needs a size
  int64_t kvBytes = 1;
};

/// Reads `tfm.weights` (which must be present) and sizes the KV buffer,
/// which holds every layer's K and V.
StepBuffers readStepBuffers(mlir::ModuleOp module,
                            mlir::DictionaryAttr weights);

/// Byte offset of `op`'s layer and kind in the KV buffer.
int64_t kvCacheOffset(tfm::KvCacheOp op);

/// Functions holding tfm ops are the steps to lower.
bool isStepFunction(mlir::func::FuncOp fn);

} // namespace monocard

#endif // MONOCARD_LIB_CONVERSION_STEPBUFFERS_H
