//===- TfmOps.h - tfm operations --------------------------------*- C++ -*-===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMOPS_H
#define MONOCARD_DIALECT_TFM_IR_TFMOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "monocard/Dialect/Tfm/IR/TfmAttrs.h"
#include "monocard/Dialect/Tfm/IR/TfmDialect.h"
#include "monocard/Dialect/Tfm/IR/TfmTypes.h"

namespace monocard::tfm {
/// RoPE inverse frequencies θ^(-2i/d), i < d/2, with Llama 3's scaling when
/// `scaling` is set, rounded to f32 the way transformers computes them.
::llvm::SmallVector<float> ropeInverseFrequencies(int64_t headDim, double theta,
                                                  Llama3RopeScalingAttr scaling);
} // namespace monocard::tfm

#define GET_OP_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmOps.h.inc"

#endif // MONOCARD_DIALECT_TFM_IR_TFMOPS_H
