//===- QuantizedMatmul.h - a matmul that dequantizes as it reads -*- C++ -*-===//

#ifndef MONOCARD_LIB_CONVERSION_TFMTOLINALG_QUANTIZEDMATMUL_H
#define MONOCARD_LIB_CONVERSION_TFMTOLINALG_QUANTIZEDMATMUL_H

#include "monocard/Dialect/Tfm/IR/TfmOps.h"

#include "mlir/IR/Builders.h"

namespace monocard {

/// init[t, n] + x[t, :] . dequant(W[n, :]) in f32, with W a
/// `!tfm.qweight` given as its code plane (`tensor<N x rowBytes x i8>`) and
/// parameter plane (`tensor<N x groups x 2 x scaleT>`).
mlir::Value quantizedMatmul(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value x, mlir::Value codes,
                            mlir::Value params, tfm::QWeightType q,
                            mlir::Value init);

} // namespace monocard

#endif // MONOCARD_LIB_CONVERSION_TFMTOLINALG_QUANTIZEDMATMUL_H
