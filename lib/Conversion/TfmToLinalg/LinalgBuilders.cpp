//===- LinalgBuilders.cpp - small builders of linalg.generic --------------===//

#include "LinalgBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace monocard;

Value monocard::emptyTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                            Type et) {
  return tensor::EmptyOp::create(b, loc, shape, et);
}

Value monocard::emptyLike(OpBuilder &b, Location loc, Value like, Type et) {
  auto type = cast<RankedTensorType>(like.getType());
  return emptyTensor(b, loc, type.getShape(), et ? et : type.getElementType());
}

Value monocard::f32Const(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

Value monocard::filledTensor(OpBuilder &b, Location loc,
                             ArrayRef<int64_t> shape, Type et, double value) {
  TypedAttr attr;
  if (isa<FloatType>(et))
    attr = b.getFloatAttr(et, value);
  else
    attr = b.getIntegerAttr(et, int64_t(value));
  Value scalar = arith::ConstantOp::create(b, loc, attr);
  Value empty = emptyTensor(b, loc, shape, et);
  return linalg::FillOp::create(b, loc, ValueRange{scalar}, ValueRange{empty})
      .getResult(0);
}

Value monocard::generic(OpBuilder &b, Location loc, ValueRange inputs,
                        Value init, ArrayRef<AffineMap> maps,
                        ArrayRef<utils::IteratorType> iterators, BodyFn body) {
  auto op = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc, body(nb, nloc, args));
      });
  return op.getResult(0);
}

Value monocard::elementwise(OpBuilder &b, Location loc, ValueRange inputs,
                            BodyFn body) {
  auto type = cast<RankedTensorType>(inputs.front().getType());
  int64_t rank = type.getRank();
  SmallVector<AffineMap> maps(inputs.size() + 1,
                              b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  return generic(b, loc, inputs, emptyLike(b, loc, inputs.front()), maps,
                 iters, [&](OpBuilder &nb, Location nloc, ValueRange args) {
                   return body(nb, nloc, args.drop_back());
                 });
}

Value monocard::reduceLastAxis(OpBuilder &b, Location loc, Value input,
                               double initValue, BodyFn body) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  Value init = filledTensor(b, loc, type.getShape().drop_back(),
                            b.getF32Type(), initValue);
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap rows = id.dropResult(rank - 1);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters.back() = utils::IteratorType::reduction;
  return generic(b, loc, input, init, {id, rows}, iters, body);
}

Value monocard::mapWithRowValues(OpBuilder &b, Location loc, Value input,
                                 ValueRange rowValues, BodyFn body) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  AffineMap id = b.getMultiDimIdentityMap(rank);
  SmallVector<AffineMap> maps = {id};
  for (size_t i = 0; i < rowValues.size(); ++i)
    maps.push_back(id.dropResult(rank - 1));
  maps.push_back(id);
  SmallVector<Value> inputs = {input};
  llvm::append_range(inputs, rowValues);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  return generic(b, loc, inputs, emptyLike(b, loc, input), maps, iters,
                 [&](OpBuilder &nb, Location nloc, ValueRange args) {
                   return body(nb, nloc, args.drop_back());
                 });
}

static arith::FastMathFlagsAttr reassoc(OpBuilder &b) {
  return arith::FastMathFlagsAttr::get(
      b.getContext(),
      arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
}

Value monocard::fastAdd(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y, reassoc(b));
}

Value monocard::fastMul(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y, reassoc(b));
}

Value monocard::silu(OpBuilder &b, Location loc, Value x) {
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  Value den = arith::AddFOp::create(b, loc, f32Const(b, loc, 1.0), e);
  return arith::DivFOp::create(b, loc, x, den);
}

Value monocard::splitLastAxis(OpBuilder &b, Location loc, Value x,
                              ArrayRef<int64_t> parts) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> shape(type.getShape().drop_back());
  llvm::append_range(shape, parts);
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0; i < rank - 1; ++i)
    groups.push_back({i});
  ReassociationIndices last;
  for (int64_t i = 0; i < int64_t(parts.size()); ++i)
    last.push_back(rank - 1 + i);
  groups.push_back(last);
  auto result = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, result, x, groups);
}

Value monocard::mergeLastAxes(OpBuilder &b, Location loc, Value x, int64_t n) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> shape(type.getShape().drop_back(n));
  int64_t merged = 1;
  for (int64_t d : type.getShape().take_back(n))
    merged *= d;
  shape.push_back(merged);
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0; i < rank - n; ++i)
    groups.push_back({i});
  ReassociationIndices last;
  for (int64_t i = rank - n; i < rank; ++i)
    last.push_back(i);
  groups.push_back(last);
  auto result = RankedTensorType::get(shape, type.getElementType());
  return tensor::CollapseShapeOp::create(b, loc, result, x, groups);
}

Value monocard::slice(OpBuilder &b, Location loc, Value x,
                      ArrayRef<int64_t> offsets, ArrayRef<int64_t> sizes) {
  auto type = cast<RankedTensorType>(x.getType());
  if (type.getShape() == sizes)
    return x;
  SmallVector<OpFoldResult> o, s, st;
  for (size_t i = 0; i < sizes.size(); ++i) {
    o.push_back(b.getIndexAttr(offsets[i]));
    s.push_back(b.getIndexAttr(sizes[i]));
    st.push_back(b.getIndexAttr(1));
  }
  auto result = RankedTensorType::get(sizes, type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, result, x, o, s, st);
}
