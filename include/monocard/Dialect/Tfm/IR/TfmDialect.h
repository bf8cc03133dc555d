//===- TfmDialect.h - the tfm dialect ---------------------------*- C++ -*-===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMDIALECT_H
#define MONOCARD_DIALECT_TFM_IR_TFMDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"

#include "monocard/Dialect/Tfm/IR/TfmDialect.h.inc"

#endif // MONOCARD_DIALECT_TFM_IR_TFMDIALECT_H
