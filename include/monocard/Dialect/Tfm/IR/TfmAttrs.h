//===- TfmAttrs.h - tfm attributes and enums --------------------*- C++ -*-===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMATTRS_H
#define MONOCARD_DIALECT_TFM_IR_TFMATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "monocard/Dialect/Tfm/IR/TfmEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmAttrs.h.inc"

#endif // MONOCARD_DIALECT_TFM_IR_TFMATTRS_H
