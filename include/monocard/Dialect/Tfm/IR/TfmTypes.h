//===- TfmTypes.h - tfm types -----------------------------------*- C++ -*-===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMTYPES_H
#define MONOCARD_DIALECT_TFM_IR_TFMTYPES_H

#include "mlir/IR/BuiltinTypeInterfaces.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Types.h"

#define GET_TYPEDEF_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmTypes.h.inc"

#endif // MONOCARD_DIALECT_TFM_IR_TFMTYPES_H
