//===- Passes.h - tfm transformation passes ---------------------*- C++ -*-===//

#ifndef MONOCARD_DIALECT_TFM_TRANSFORMS_PASSES_H
#define MONOCARD_DIALECT_TFM_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace monocard::tfm {

#define GEN_PASS_DECL
#include "monocard/Dialect/Tfm/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "monocard/Dialect/Tfm/Transforms/Passes.h.inc"

} // namespace monocard::tfm

#endif // MONOCARD_DIALECT_TFM_TRANSFORMS_PASSES_H
