//===- QuantizedMatmul.cpp - a matmul that dequantizes as it reads --------===//

#include "QuantizedMatmul.h"
#include "LinalgBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace monocard;
using mlir::utils::IteratorType;

namespace {
constexpr IteratorType kPar = IteratorType::parallel;
constexpr IteratorType kRed = IteratorType::reduction;
} // namespace

/// init[t, n] + sum_k x[t, k] * ((q[n, k] - zero[n, g]) * scale[n, g]),
/// g = k / group, dequantizing each code as the reduction reads it: the f32
/// weight never exists as a tensor.
///
/// Loops are (n, t, groups..., within a group): a weight row stays in cache
/// while every row of a prefill chunk reads it, and a group's scale and zero
/// are invariant in the innermost loops. For i4 the innermost loop walks the
/// two nibbles of a byte (x viewed as [T, groups, group/2, 2]), so that after
/// LLVM unrolls it the byte loop reads codes contiguously and vectorizes.
/// A short last group goes through a second, flat reduction.
Value monocard::quantizedMatmul(OpBuilder &b, Location loc, Value x,
                                Value codes, Value params,
                                tfm::QWeightType q, Value init) {
  MLIRContext *ctx = b.getContext();
  bool int4 = q.getBits() == 4;
  int64_t rows = cast<RankedTensorType>(x.getType()).getDimSize(0);
  int64_t k = q.getNumCols(), group = q.getGroupSize();
  // Grouped loops need whole groups (of whole bytes, for i4).
  int64_t whole = (int4 && group % 2) ? 0 : k / group;
  int64_t tail = k - whole * group;
  Type f32 = b.getF32Type();

  // (q - zero) * scale of one code (already an i8 or a nibble in an i8).
  auto dequant = [&](OpBuilder &nb, Location l, Value code, Value scale,
                     Value zero) -> Value {
    Value c = int4 ? arith::UIToFPOp::create(nb, l, f32, code).getResult()
                   : arith::SIToFPOp::create(nb, l, f32, code).getResult();
    if (scale.getType() != f32) {
      scale = arith::ExtFOp::create(nb, l, f32, scale);
      zero = arith::ExtFOp::create(nb, l, f32, zero);
    }
    return arith::MulFOp::create(nb, l, arith::SubFOp::create(nb, l, c, zero),
                                 scale);
  };
  // The nibble of `byte` at element parity `parity` (an index 0 or 1):
  // even elements are the low nibble.
  auto nibble = [&](OpBuilder &nb, Location l, Value byte,
                    Value parity) -> Value {
    Value p = arith::IndexCastOp::create(nb, l, nb.getI8Type(), parity);
    Value shift = arith::ShLIOp::create(
        nb, l, p, arith::ConstantIntOp::create(nb, l, nb.getI8Type(), 2));
    Value shifted = arith::ShRUIOp::create(nb, l, byte, shift);
    return arith::AndIOp::create(
        nb, l, shifted, arith::ConstantIntOp::create(nb, l, nb.getI8Type(), 15));
  };

  Value acc = init;
  if (whole > 0) {
    Value xs = slice(b, loc, x, {0, 0}, {rows, whole * group});
    AffineExpr n = b.getAffineDimExpr(0), t = b.getAffineDimExpr(1),
               g = b.getAffineDimExpr(2);
    int64_t dims = int4 ? 5 : 4;
    SmallVector<AffineMap> maps;
    SmallVector<IteratorType> iters(dims, kRed);
    iters[0] = iters[1] = kPar;
    if (int4) {
      // x as [T, groups, 2, group/2]: the even elements of each group, then
      // the odd ones, so that for each nibble the innermost loop reads x
      // and the codes contiguously. The transpose is O(T K), once per
      // matmul, instead of a deinterleave per weight row.
      AffineExpr p = b.getAffineDimExpr(3), j = b.getAffineDimExpr(4);
      Value pairs = splitLastAxis(b, loc, xs, {whole, group / 2, 2});
      Value split = emptyTensor(b, loc, {rows, whole, 2, group / 2}, f32);
      xs = linalg::TransposeOp::create(b, loc, pairs, split,
                                       ArrayRef<int64_t>{0, 1, 3, 2})
               .getResult()[0];
      maps.push_back(AffineMap::get(dims, 0, {t, g, p, j}, ctx));
      maps.push_back(AffineMap::get(dims, 0, {n, g * (group / 2) + j}, ctx));
    } else {
      AffineExpr j = b.getAffineDimExpr(3);
      xs = splitLastAxis(b, loc, xs, {whole, group});
      maps.push_back(AffineMap::get(dims, 0, {t, g, j}, ctx));
      maps.push_back(AffineMap::get(dims, 0, {n, g * group + j}, ctx));
    }
    maps.push_back(AffineMap::get(dims, 0, {n, g, b.getAffineConstantExpr(0)},
                                  ctx));
    maps.push_back(AffineMap::get(dims, 0, {n, g, b.getAffineConstantExpr(1)},
                                  ctx));
    maps.push_back(AffineMap::get(dims, 0, {t, n}, ctx));
    // Whole groups only: the map reads the group index as is.
    Value wholeParams = slice(b, loc, params, {0, 0, 0},
                              {q.getNumRows(), whole, 2});
    acc = generic(b, loc, {xs, codes, wholeParams, wholeParams}, acc, maps,
                  iters,
                  [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                    Value code = a[1];
                    if (int4)
                      code = nibble(nb, l, code,
                                    linalg::IndexOp::create(nb, l, 3));
                    Value wv = dequant(nb, l, code, a[2], a[3]);
                    return fastAdd(nb, l, a[4], fastMul(nb, l, a[0], wv));
                  });
  }
  if (tail > 0) {
    // Elements [k0, K): one flat reduction, the group and byte of each
    // element computed from its index.
    int64_t k0 = whole * group;
    Value xs = slice(b, loc, x, {0, k0}, {rows, tail});
    AffineExpr n = b.getAffineDimExpr(0), t = b.getAffineDimExpr(1),
               e = b.getAffineDimExpr(2) + k0;
    SmallVector<AffineMap> maps = {
        AffineMap::get(3, 0, {t, b.getAffineDimExpr(2)}, ctx),
        AffineMap::get(3, 0, {n, int4 ? e.floorDiv(2) : e}, ctx),
        AffineMap::get(3, 0, {n, e.floorDiv(group), b.getAffineConstantExpr(0)},
                       ctx),
        AffineMap::get(3, 0, {n, e.floorDiv(group), b.getAffineConstantExpr(1)},
                       ctx),
        AffineMap::get(3, 0, {t, n}, ctx)};
    acc = generic(
        b, loc, {xs, codes, params, params}, acc, maps,
        {kPar, kPar, kRed}, [&](OpBuilder &nb, Location l, ValueRange a) {
          Value code = a[1];
          if (int4) {
            Value i = linalg::IndexOp::create(nb, l, 2);
            Value el = arith::AddIOp::create(
                nb, l, i, arith::ConstantIndexOp::create(nb, l, k0));
            Value parity = arith::RemUIOp::create(
                nb, l, el, arith::ConstantIndexOp::create(nb, l, 2));
            code = nibble(nb, l, code, parity);
          }
          Value wv = dequant(nb, l, code, a[2], a[3]);
          return fastAdd(nb, l, a[4], fastMul(nb, l, a[0], wv));
        });
  }
  return acc;
}

