//===- LinalgBuilders.h - small builders of linalg.generic ------*- C++ -*-===//
//
// The tfm lowerings are mostly "an elementwise map" or "a reduction over the
// last axis"; these helpers keep each lowering to the math it computes.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_CONVERSION_TFMTOLINALG_LINALGBUILDERS_H
#define MONOCARD_LIB_CONVERSION_TFMTOLINALG_LINALGBUILDERS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace monocard {

using BodyFn = llvm::function_ref<mlir::Value(mlir::OpBuilder &,
                                              mlir::Location,
                                              mlir::ValueRange)>;

/// A `tensor.empty` shaped like `like` (or `shape`) with element type `et`.
mlir::Value emptyLike(mlir::OpBuilder &b, mlir::Location loc, mlir::Value like,
                      mlir::Type et = {});
mlir::Value emptyTensor(mlir::OpBuilder &b, mlir::Location loc,
                        llvm::ArrayRef<int64_t> shape, mlir::Type et);

/// A tensor of `shape` filled with the f32/i32/index constant `value`.
mlir::Value filledTensor(mlir::OpBuilder &b, mlir::Location loc,
                         llvm::ArrayRef<int64_t> shape, mlir::Type et,
                         double value);

/// out[i...] = body(inputs[i...]) for same-shaped inputs.
mlir::Value elementwise(mlir::OpBuilder &b, mlir::Location loc,
                        mlir::ValueRange inputs, BodyFn body);

/// A general linalg.generic with one tensor result. `body` gets the input
/// elements followed by the current output element and returns the new one.
mlir::Value generic(mlir::OpBuilder &b, mlir::Location loc,
                    mlir::ValueRange inputs, mlir::Value init,
                    llvm::ArrayRef<mlir::AffineMap> maps,
                    llvm::ArrayRef<mlir::utils::IteratorType> iterators,
                    BodyFn body);

/// Reduces `input` (rank r) over its last axis into a rank r-1 tensor
/// initialised to `initValue`; body(element, acc) -> new acc.
mlir::Value reduceLastAxis(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value input, double initValue, BodyFn body);

/// Maps over `input` (rank r) with `rowValues` (rank r-1 tensors, one value
/// per row) broadcast along the last axis: body(element, rowvals...).
mlir::Value mapWithRowValues(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::Value input, mlir::ValueRange rowValues,
                             BodyFn body);

/// Additions and multiplications that may be reassociated, so that LLVM
/// vectorizes reductions over them.
mlir::Value fastAdd(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                    mlir::Value y);
mlir::Value fastMul(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                    mlir::Value y);

/// An f32 constant.
mlir::Value f32Const(mlir::OpBuilder &b, mlir::Location loc, double v);

/// x * sigmoid(x) = x / (1 + exp(-x)).
mlir::Value silu(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);

/// `x` (rank r) with its last axis split into `parts` (static sizes).
mlir::Value splitLastAxis(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value x, llvm::ArrayRef<int64_t> parts);

/// `x` (rank r) with its last `n` axes merged into one.
mlir::Value mergeLastAxes(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value x, int64_t n);

/// The static box [offsets, offsets + sizes) of `x`, unit strides.
mlir::Value slice(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                  llvm::ArrayRef<int64_t> offsets,
                  llvm::ArrayRef<int64_t> sizes);

} // namespace monocard

#endif // MONOCARD_LIB_CONVERSION_TFMTOLINALG_LINALGBUILDERS_H
