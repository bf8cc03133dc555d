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

#define GET_OP_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmOps.h.inc"

#endif // MONOCARD_DIALECT_TFM_IR_TFMOPS_H
