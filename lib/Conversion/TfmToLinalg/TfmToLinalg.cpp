//===- TfmToLinalg.cpp - tfm step functions -> linalg on tensors ----------===//
//
// Lowers each op to linalg.generic on tensors, and the step function itself
// to the runtime ABI (docs/runtime-abi.md). Weights and the KV cache are
// views of the byte buffers the runtime passes in, so bufferization keeps
// them where they are: weights are read in place, cache appends write in
// place, and the only new buffers are the step's intermediates, which
// tfm-plan-memory then packs into the arena.
//
//===----------------------------------------------------------------------===//

#include "monocard/Conversion/Passes.h"
#include "monocard/Dialect/Tfm/IR/TfmOps.h"
#include "monocard/Runtime/Contract.h"

#include "../StepBuffers.h"
#include "LinalgBuilders.h"
#include "QuantizedMatmul.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>

namespace monocard {
#define GEN_PASS_DEF_TFMLOWERTOLINALG
#include "monocard/Conversion/Passes.h.inc"
} // namespace monocard

using namespace mlir;
using namespace monocard;
namespace tfm = monocard::tfm;
using utils::IteratorType;

namespace {

constexpr IteratorType kPar = IteratorType::parallel;
constexpr IteratorType kRed = IteratorType::reduction;

/// What a linear layer's matmul reads as its weight: a full-precision
/// [N, K] tensor, or the two planes of a quantized one.
struct WeightPlanes {
  Value dense;  // tensor<N x K x f32>
  Value codes;  // tensor<N x rowBytes x i8>
  Value params; // tensor<N x groups x 2 x scaleT>: (scale, zero) pairs
  tfm::QWeightType qtype;
};

class StepLowering {
public:
  StepLowering(func::FuncOp fn, const StepBuffers &buffers)
      : fn(fn), b(fn.getContext()), recipe(buffers.offsets),
        scaleOffsets(buffers.scaleOffsets),
        weightsBytes(buffers.weightsBytes), kvBytes(buffers.kvBytes) {}

  LogicalResult run();

private:
  LogicalResult rewriteSignature();
  LogicalResult lower(Operation *op);
  Value view(Location loc, Value base, int64_t offset, RankedTensorType type,
             bool writable, Value *memrefOut = nullptr);

  Value lowerParam(tfm::ParamOp op);
  LogicalResult lowerQuantizedParam(tfm::ParamOp op);
  FailureOr<WeightPlanes> weightPlanes(Operation *user, Value weight);
  Value lowerKvCache(tfm::KvCacheOp op);
  Value appendToCache(Operation *op, Value cache, Value rows, Value position);
  Value lowerEmbedding(tfm::EmbeddingOp op);
  Value rmsNorm(Location loc, Value input, Value weight, double eps);
  Value lowerLayerNorm(tfm::LayerNormOp op);
  Value linear(Location loc, Value input, const WeightPlanes &w, Value bias,
               RankedTensorType outType);
  Value lowerLinear(tfm::LinearOp op);
  Value lowerFusedLinear(tfm::FusedLinearOp op);
  LogicalResult lowerFusedQkv(tfm::FusedQkvOp op);
  Value ropeFrequencies(Location loc, ArrayRef<float> freqs);
  Value lowerRope(tfm::RopeOp op);
  Value lowerAttention(tfm::AttentionOp op);
  Value lowerSoftmax(Location loc, Value x);
  Value lowerArgmax(tfm::ArgmaxOp op);

  func::FuncOp fn;
  OpBuilder b;
  DictionaryAttr recipe;       // param name -> offset
  DictionaryAttr scaleOffsets; // quantized param name -> (scale, zero) plane
  int64_t weightsBytes, kvBytes;
  Value weights, kv;
  llvm::StringMap<Value> paramViews;
  llvm::StringMap<WeightPlanes> quantViews;
  DenseMap<Value, Value> cacheMemrefs; // to_tensor result -> kv view
};

Value StepLowering::view(Location loc, Value base, int64_t offset,
                         RankedTensorType type, bool writable,
                         Value *memrefOut) {
  Value shift = arith::ConstantIndexOp::create(b, loc, offset);
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  Value m = memref::ViewOp::create(b, loc, memrefType, base, shift,
                                   ValueRange{});
  if (memrefOut)
    *memrefOut = m;
  return bufferization::ToTensorOp::create(b, loc, type, m, /*restrict=*/true,
                                           writable);
}

Value StepLowering::lowerParam(tfm::ParamOp op) {
  StringRef name = op.getName();
  auto it = paramViews.find(name);
  if (it != paramViews.end())
    return it->second;
  auto offset = recipe.getAs<IntegerAttr>(name);
  if (!offset) {
    op.emitOpError() << "has no packed offset; run tfm-layout-weights first";
    return {};
  }
  // Views sit at the top of the function so that one serves every use.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfterValue(weights);
  auto type = cast<RankedTensorType>(op.getType());
  Value v = view(op.getLoc(), weights, offset.getInt(), type, false);
  paramViews[name] = v;
  return v;
}

/// A quantized weight is two tensors, so the param stays until the linear
/// layers reading it are lowered; they find its planes by name.
LogicalResult StepLowering::lowerQuantizedParam(tfm::ParamOp op) {
  StringRef name = op.getName();
  if (quantViews.count(name))
    return success();
  auto q = cast<tfm::QWeightType>(op.getType());
  auto offset = recipe.getAs<IntegerAttr>(name);
  auto scales = scaleOffsets.getAs<IntegerAttr>(name);
  if (!offset || !scales)
    return op.emitOpError()
           << "has no packed offset and parameter plane for its quantized "
              "weight; run tfm-layout-weights after tfm-quantize";
  int64_t n = q.getNumRows();
  int64_t codeEnd = offset.getInt() + q.getDataBytes();
  int64_t scaleEnd = scales.getInt() + q.getScalesBytes();
  if (codeEnd > weightsBytes || scaleEnd > weightsBytes ||
      (scales.getInt() < codeEnd && offset.getInt() < scaleEnd))
    return op.emitOpError() << "quantized planes [" << offset.getInt() << ", "
                            << codeEnd << ") and [" << scales.getInt() << ", "
                            << scaleEnd
                            << ") overlap or lie outside the weights";
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfterValue(weights);
  Location loc = op.getLoc();
  WeightPlanes w;
  w.qtype = q;
  w.codes = view(loc, weights, offset.getInt(),
                 RankedTensorType::get({n, q.getRowBytes()}, b.getI8Type()),
                 false);
  w.params = view(loc, weights, scales.getInt(),
                  RankedTensorType::get({n, q.getNumGroups(), 2},
                                        q.getScaleType()),
                  false);
  quantViews[name] = w;
  return success();
}

FailureOr<WeightPlanes> StepLowering::weightPlanes(Operation *user,
                                                   Value weight) {
  if (isa<RankedTensorType>(weight.getType()))
    return WeightPlanes{weight, {}, {}, {}};
  auto param = weight.getDefiningOp<tfm::ParamOp>();
  auto it = param ? quantViews.find(param.getName()) : quantViews.end();
  if (it == quantViews.end())
    return user->emitOpError()
           << "reads a quantized weight that is not a tfm.param";
  return it->second;
}

Value StepLowering::lowerKvCache(tfm::KvCacheOp op) {
  RankedTensorType type = op.getType();
  int64_t bytes = type.getNumElements() * type.getElementTypeBitWidth() / 8;
  int64_t offset = kvCacheOffset(op);
  if (offset + bytes > kvBytes) {
    op.emitOpError() << "layer " << op.getLayer()
                     << " lies outside the KV cache";
    return {};
  }
  Value memref;
  Value t = view(op.getLoc(), kv, offset, type, true, &memref);
  cacheMemrefs[t] = memref;
  return t;
}

Value StepLowering::appendToCache(Operation *op, Value cache, Value rows,
                                  Value position) {
  Location loc = op->getLoc();
  auto rowsType = cast<RankedTensorType>(rows.getType()); // [T, Hkv, Dh]
  int64_t t = rowsType.getDimSize(0), h = rowsType.getDimSize(1),
          d = rowsType.getDimSize(2);
  Value cacheMemref = cacheMemrefs.lookup(cache);
  if (!cacheMemref) {
    op->emitOpError() << "cache operand must come straight from tfm.kv_cache";
    return {};
  }
  // Transpose [T, Hkv, Dh] -> [Hkv, T, Dh] straight into the cache slice
  // (destination-passing style: bufferization writes it in place).
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), position,
                                       b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(h), b.getIndexAttr(t),
                                     b.getIndexAttr(d)};
  SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
  auto sliceType = RankedTensorType::get({h, t, d}, rowsType.getElementType());
  Value slice = tensor::ExtractSliceOp::create(b, loc, sliceType, cache,
                                               offsets, sizes, strides);
  Value transposed =
      linalg::TransposeOp::create(b, loc, rows, slice,
                                  ArrayRef<int64_t>{1, 0, 2})
          .getResult()[0];
  Value updated = tensor::InsertSliceOp::create(b, loc, transposed, cache,
                                                offsets, sizes, strides);
  // The cache outlives the step: make the new contents land in its buffer.
  bufferization::MaterializeInDestinationOp::create(
      b, loc, TypeRange{}, updated, cacheMemref, /*restrict=*/true,
      /*writable=*/true);
  return updated;
}

Value StepLowering::lowerEmbedding(tfm::EmbeddingOp op) {
  Location loc = op.getLoc();
  Value table = op.getTable();
  AffineMap id = b.getMultiDimIdentityMap(2);
  AffineMap rows = AffineMap::get(2, 0, {b.getAffineDimExpr(0)},
                                  b.getContext());
  return generic(b, loc, op.getIds(), emptyLike(b, loc, op.getResult()),
                 {rows, id}, {kPar, kPar},
                 [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
                   Value row = arith::IndexCastOp::create(
                       nb, l, nb.getIndexType(), args[0]);
                   Value col = linalg::IndexOp::create(nb, l, 1);
                   return tensor::ExtractOp::create(nb, l, table,
                                                    ValueRange{row, col});
                 });
}

Value StepLowering::rmsNorm(Location loc, Value input, Value weight,
                             double eps) {
  auto type = cast<RankedTensorType>(input.getType());
  double width = double(type.getShape().back());
  Value sumsq = reduceLastAxis(
      b, loc, input, 0.0,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        return fastAdd(nb, l, a[1], fastMul(nb, l, a[0], a[0]));
      });
  // Scale each row by rsqrt(mean + eps), then by the weight (HF's order).
  int64_t rank = type.getRank();
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap rows = id.dropResult(rank - 1);
  AffineMap last = AffineMap::get(rank, 0, {b.getAffineDimExpr(rank - 1)},
                                  b.getContext());
  SmallVector<IteratorType> iters(rank, kPar);
  return generic(
      b, loc, {input, sumsq, weight}, emptyLike(b, loc, input),
      {id, rows, last, id}, iters,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value mean = arith::DivFOp::create(nb, l, a[1], f32Const(nb, l, width));
        Value var = arith::AddFOp::create(nb, l, mean, f32Const(nb, l, eps));
        Value inv = math::RsqrtOp::create(nb, l, var);
        Value x = arith::MulFOp::create(nb, l, a[0], inv);
        return arith::MulFOp::create(nb, l, a[2], x);
      });
}

Value StepLowering::lowerLayerNorm(tfm::LayerNormOp op) {
  Location loc = op.getLoc();
  auto type = op.getInput().getType();
  Value width = f32Const(b, loc, double(type.getShape().back()));
  double eps = op.getEps().convertToDouble();
  Value sum = reduceLastAxis(b, loc, op.getInput(), 0.0,
                             [&](OpBuilder &nb, Location l, ValueRange a) {
                               return fastAdd(nb, l, a[1], a[0]);
                             });
  Value mean = elementwise(b, loc, sum,
                           [&](OpBuilder &nb, Location l, ValueRange a) {
                             return arith::DivFOp::create(nb, l, a[0], width)
                                 .getResult();
                           });
  // Two-pass variance: sum((x - mean)^2), as torch computes it.
  int64_t rank = type.getRank();
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap rows = id.dropResult(rank - 1);
  SmallVector<IteratorType> iters(rank, kPar);
  iters.back() = kRed;
  Value zeros = filledTensor(b, loc, type.getShape().drop_back(),
                             b.getF32Type(), 0.0);
  Value sqdev = generic(b, loc, {op.getInput(), mean}, zeros,
                        {id, rows, rows}, iters,
                        [&](OpBuilder &nb, Location l, ValueRange a) {
                          Value dx = arith::SubFOp::create(nb, l, a[0], a[1]);
                          return fastAdd(nb, l, a[2], fastMul(nb, l, dx, dx));
                        });
  AffineMap last = AffineMap::get(rank, 0, {b.getAffineDimExpr(rank - 1)},
                                  b.getContext());
  SmallVector<IteratorType> par(rank, kPar);
  return generic(
      b, loc, {op.getInput(), mean, sqdev, op.getWeight(), op.getBias()},
      emptyLike(b, loc, op.getInput()), {id, rows, rows, last, last, id}, par,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value var = arith::DivFOp::create(nb, l, a[2], width);
        var = arith::AddFOp::create(nb, l, var, f32Const(nb, l, eps));
        Value inv = math::RsqrtOp::create(nb, l, var);
        Value x = arith::SubFOp::create(nb, l, a[0], a[1]);
        x = arith::MulFOp::create(nb, l, x, inv);
        x = arith::MulFOp::create(nb, l, x, a[3]);
        return arith::AddFOp::create(nb, l, x, a[4]);
      });
}

Value StepLowering::linear(Location loc, Value input, const WeightPlanes &w,
                           Value bias, RankedTensorType out) {
  Value init;
  if (bias) {
    // Start the accumulator at the bias: one pass fewer over the output.
    AffineMap col = AffineMap::get(2, 0, {b.getAffineDimExpr(1)},
                                   b.getContext());
    init = generic(b, loc, bias, emptyTensor(b, loc, out.getShape(),
                                             out.getElementType()),
                   {col, b.getMultiDimIdentityMap(2)}, {kPar, kPar},
                   [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  } else {
    init = filledTensor(b, loc, out.getShape(), out.getElementType(), 0.0);
  }
  if (!w.dense)
    return quantizedMatmul(b, loc, input, w.codes, w.params, w.qtype, init);
  MLIRContext *ctx = b.getContext();
  AffineExpr t = b.getAffineDimExpr(0), n = b.getAffineDimExpr(1),
             k = b.getAffineDimExpr(2);
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {t, k}, ctx),
                                 AffineMap::get(3, 0, {n, k}, ctx),
                                 AffineMap::get(3, 0, {t, n}, ctx)};
  return generic(b, loc, {input, w.dense}, init, maps, {kPar, kPar, kRed},
                 [&](OpBuilder &nb, Location l, ValueRange a) {
                   return fastAdd(nb, l, a[2], fastMul(nb, l, a[0], a[1]));
                 });
}

Value StepLowering::lowerLinear(tfm::LinearOp op) {
  FailureOr<WeightPlanes> w = weightPlanes(op, op.getWeight());
  if (failed(w))
    return {};
  return linear(op.getLoc(), op.getInput(), *w, op.getBias(),
                op.getResult().getType());
}

/// norm prologue, matmul (+ bias), swiglu over column pairs (2i, 2i + 1),
/// residual: the ops the unfused step would run, in the same order, so the
/// result is the same up to the reductions' f32 rounding.
Value StepLowering::lowerFusedLinear(tfm::FusedLinearOp op) {
  Location loc = op.getLoc();
  FailureOr<WeightPlanes> w = weightPlanes(op, op.getWeight());
  if (failed(w))
    return {};
  Value x = op.getInput();
  if (Value g = op.getNormWeight())
    x = rmsNorm(loc, x, g, op.getEpsAttr().getValueAsDouble());
  auto out = op.getResult().getType();
  int64_t rows = out.getDimSize(0), n = out.getDimSize(1);
  int64_t zWidth = op.getSwiglu() ? 2 * n : n;
  auto zType = RankedTensorType::get({rows, zWidth}, out.getElementType());
  Value z = linear(loc, x, *w, op.getBias(), zType);
  Value residual = op.getResidual();
  if (!op.getSwiglu()) {
    if (!residual)
      return z;
    return elementwise(b, loc, {z, residual},
                       [](OpBuilder &nb, Location l, ValueRange a) {
                         return arith::AddFOp::create(nb, l, a[0], a[1])
                             .getResult();
                       });
  }
  // result[t, i] = silu(z[t, 2i]) * z[t, 2i + 1] (+ residual[t, i])
  MLIRContext *ctx = b.getContext();
  Value pairs = splitLastAxis(b, loc, z, {n, 2});
  AffineExpr t = b.getAffineDimExpr(0), i = b.getAffineDimExpr(1);
  AffineMap id = b.getMultiDimIdentityMap(2);
  SmallVector<Value> inputs = {pairs, pairs};
  SmallVector<AffineMap> maps = {
      AffineMap::get(2, 0, {t, i, b.getAffineConstantExpr(0)}, ctx),
      AffineMap::get(2, 0, {t, i, b.getAffineConstantExpr(1)}, ctx)};
  if (residual) {
    inputs.push_back(residual);
    maps.push_back(id);
  }
  maps.push_back(id);
  return generic(b, loc, inputs, emptyLike(b, loc, op.getResult()), maps,
                 {kPar, kPar},
                 [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                   Value r = arith::MulFOp::create(nb, l, silu(nb, l, a[0]),
                                                   a[1]);
                   if (residual)
                     r = arith::AddFOp::create(nb, l, r, a[2]);
                   return r;
                 });
}

Value StepLowering::ropeFrequencies(Location loc, ArrayRef<float> freqs) {
  auto freqType = RankedTensorType::get({int64_t(freqs.size())},
                                        b.getF32Type());
  return arith::ConstantOp::create(b, loc,
                                   DenseElementsAttr::get(freqType, freqs));
}

/// x · cos + rot · sin at angle (pos0 + t) · freq[i], where rot is the
/// rotate-half partner, negated for the low half: the one RoPE formula of
/// tfm.rope and tfm.fused_qkv.
static Value ropeElement(OpBuilder &nb, Location l, Value self, Value partner,
                         Value isLow, Value freqTensor, Value i, Value pos0,
                         Value t) {
  Value freq = tensor::ExtractOp::create(nb, l, freqTensor, i);
  Value p = arith::AddIOp::create(nb, l, pos0, t);
  Value pi64 = arith::IndexCastOp::create(nb, l, nb.getI64Type(), p);
  Value pf = arith::SIToFPOp::create(nb, l, nb.getF32Type(), pi64);
  Value angle = arith::MulFOp::create(nb, l, pf, freq);
  Value cos = math::CosOp::create(nb, l, angle);
  Value sin = math::SinOp::create(nb, l, angle);
  Value negPartner = arith::NegFOp::create(nb, l, partner);
  Value rot = arith::SelectOp::create(nb, l, isLow, negPartner, partner);
  Value xc = arith::MulFOp::create(nb, l, self, cos);
  Value rs = arith::MulFOp::create(nb, l, rot, sin);
  return arith::AddFOp::create(nb, l, xc, rs);
}

/// norm, one matmul over the q, k, v rows, RoPE of q and k from their pair
/// order (columns 2i, 2i + 1 of a head are rotate-half partners i and
/// i + Dh/2) into the rotate-half layout, and the appends of k and v.
LogicalResult StepLowering::lowerFusedQkv(tfm::FusedQkvOp op) {
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  FailureOr<WeightPlanes> w = weightPlanes(op, op.getWeight());
  if (failed(w))
    return failure();
  for (Value cache : {op.getKeyCache(), op.getValueCache()})
    if (!cacheMemrefs.lookup(cache))
      return op.emitOpError()
             << "cache operand must come straight from tfm.kv_cache";
  int64_t rows = op.getQuery().getType().getDimSize(0);
  int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads(),
          dh = op.getHeadDim(), half = dh / 2;
  Value x = op.getInput();
  if (Value g = op.getNormWeight())
    x = rmsNorm(loc, x, g, op.getEpsAttr().getValueAsDouble());
  auto zType = RankedTensorType::get({rows, (heads + 2 * kvHeads) * dh},
                                     b.getF32Type());
  Value z = linear(loc, x, *w, op.getBias(), zType);

  // q and k heads as [T, H + Hkv, Dh/2, 2] pairs -> [T, H + Hkv, 2, Dh/2].
  int64_t ropedHeads = heads + kvHeads;
  Value qk = slice(b, loc, z, {0, 0}, {rows, ropedHeads * dh});
  Value pairs = splitLastAxis(b, loc, qk, {ropedHeads, half, 2});
  Value freqTensor = ropeFrequencies(loc, op.getInverseFrequencies());
  Value pos0 = op.getPosition();
  // Loops (t, h, s, i): s = 0 the low half (x1 at column 2i), 1 the high
  // half (x2 at column 2i + 1).
  AffineExpr t = b.getAffineDimExpr(0), h = b.getAffineDimExpr(1),
             i = b.getAffineDimExpr(3);
  Value roped = generic(
      b, loc, {pairs, pairs},
      emptyTensor(b, loc, {rows, ropedHeads, 2, half}, b.getF32Type()),
      {AffineMap::get(4, 0, {t, h, i, b.getAffineConstantExpr(0)}, ctx),
       AffineMap::get(4, 0, {t, h, i, b.getAffineConstantExpr(1)}, ctx),
       b.getMultiDimIdentityMap(4)},
      {kPar, kPar, kPar, kPar},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value tt = linalg::IndexOp::create(nb, l, 0);
        Value ss = linalg::IndexOp::create(nb, l, 2);
        Value ii = linalg::IndexOp::create(nb, l, 3);
        Value isLow = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::eq, ss,
            arith::ConstantIndexOp::create(nb, l, 0));
        Value self = arith::SelectOp::create(nb, l, isLow, a[0], a[1]);
        Value partner = arith::SelectOp::create(nb, l, isLow, a[1], a[0]);
        return ropeElement(nb, l, self, partner, isLow, freqTensor, ii, pos0,
                           tt);
      });
  Value headsTensor = mergeLastAxes(b, loc, roped, 2); // [T, H + Hkv, Dh]
  Value query = slice(b, loc, headsTensor, {0, 0, 0}, {rows, heads, dh});
  Value keys = slice(b, loc, headsTensor, {0, heads, 0}, {rows, kvHeads, dh});
  Value values = splitLastAxis(
      b, loc, slice(b, loc, z, {0, ropedHeads * dh}, {rows, kvHeads * dh}),
      {kvHeads, dh});
  Value newKeys = appendToCache(op, op.getKeyCache(), keys, pos0);
  Value newValues = appendToCache(op, op.getValueCache(), values, pos0);
  if (!newKeys || !newValues)
    return failure();
  op.getQuery().replaceAllUsesWith(query);
  op.getNewKeyCache().replaceAllUsesWith(newKeys);
  op.getNewValueCache().replaceAllUsesWith(newValues);
  return success();
}

Value StepLowering::lowerRope(tfm::RopeOp op) {
  Location loc = op.getLoc();
  Value input = op.getInput();
  int64_t dim = op.getInput().getType().getDimSize(2), half = dim / 2;
  Value freqTensor = ropeFrequencies(loc, op.getInverseFrequencies());
  Value pos0 = op.getPosition();
  return generic(
      b, loc, ValueRange{input}, emptyLike(b, loc, input),
      {b.getMultiDimIdentityMap(3), b.getMultiDimIdentityMap(3)},
      {kPar, kPar, kPar},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value t = linalg::IndexOp::create(nb, l, 0);
        Value h = linalg::IndexOp::create(nb, l, 1);
        Value d = linalg::IndexOp::create(nb, l, 2);
        Value cHalf = arith::ConstantIndexOp::create(nb, l, half);
        Value isLow = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult,
                                            d, cHalf);
        Value i = arith::RemUIOp::create(nb, l, d, cHalf);
        // The partner element: d + half for the low half, d - half above.
        Value up = arith::AddIOp::create(nb, l, d, cHalf);
        Value down = arith::SubIOp::create(nb, l, d, cHalf);
        Value pd = arith::SelectOp::create(nb, l, isLow, up, down);
        Value partner = tensor::ExtractOp::create(nb, l, input,
                                                  ValueRange{t, h, pd});
        return ropeElement(nb, l, a[0], partner, isLow, freqTensor, i, pos0,
                           t);
      });
}

Value StepLowering::lowerSoftmax(Location loc, Value x) {
  Value max = reduceLastAxis(
      b, loc, x, -INFINITY, [](OpBuilder &nb, Location l, ValueRange a) {
        return arith::MaximumFOp::create(nb, l, a[0], a[1]).getResult();
      });
  Value e = mapWithRowValues(b, loc, x, max,
                             [](OpBuilder &nb, Location l, ValueRange a) {
                               Value s = arith::SubFOp::create(nb, l, a[0],
                                                               a[1]);
                               return math::ExpOp::create(nb, l, s)
                                   .getResult();
                             });
  Value sum = reduceLastAxis(b, loc, e, 0.0,
                             [](OpBuilder &nb, Location l, ValueRange a) {
                               return fastAdd(nb, l, a[1], a[0]);
                             });
  return mapWithRowValues(b, loc, e, sum,
                          [](OpBuilder &nb, Location l, ValueRange a) {
                            return arith::DivFOp::create(nb, l, a[0], a[1])
                                .getResult();
                          });
}

Value StepLowering::lowerAttention(tfm::AttentionOp op) {
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  auto q = op.getQuery().getType(); // [T, H, Dh]
  int64_t rows = q.getDimSize(0), heads = q.getDimSize(1),
          dh = q.getDimSize(2);
  int64_t cap = op.getKeyCache().getType().getDimSize(1);
  int64_t group = heads / op.getNumKvHeads();
  double scale = op.getScale().convertToDouble();
  bool causal = op.getCausal();
  Value pos0 = op.getPosition();

  // scores[h, t, s] = scale * q[t, h, :] . k[h / group, s, :], masked to
  // -inf past each query's position.
  AffineExpr h = b.getAffineDimExpr(0), t = b.getAffineDimExpr(1),
             s = b.getAffineDimExpr(2), d = b.getAffineDimExpr(3);
  Value zeros = filledTensor(b, loc, {heads, rows, cap}, b.getF32Type(), 0.0);
  Value dots = generic(
      b, loc, {op.getQuery(), op.getKeyCache()}, zeros,
      {AffineMap::get(4, 0, {t, h, d}, ctx),
       AffineMap::get(4, 0, {h.floorDiv(group), s, d}, ctx),
       AffineMap::get(4, 0, {h, t, s}, ctx)},
      {kPar, kPar, kPar, kRed}, [](OpBuilder &nb, Location l, ValueRange a) {
        return fastAdd(nb, l, a[2], fastMul(nb, l, a[0], a[1]));
      });
  Value scores = elementwise(
      b, loc, dots, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value tt = linalg::IndexOp::create(nb, l, 1);
        Value ss = linalg::IndexOp::create(nb, l, 2);
        Value limit = causal ? arith::AddIOp::create(nb, l, pos0, tt)
                             : arith::AddIOp::create(
                                   nb, l, pos0,
                                   arith::ConstantIndexOp::create(nb, l,
                                                                  rows - 1));
        Value visible = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::ule, ss, limit);
        Value scaled = arith::MulFOp::create(nb, l, a[0],
                                             f32Const(nb, l, scale));
        return arith::SelectOp::create(nb, l, visible, scaled,
                                       f32Const(nb, l, -INFINITY));
      });
  Value probs = lowerSoftmax(loc, scores);

  // out[t, h, :] = sum_s probs[h, t, s] * v[h / group, s, :]
  AffineExpr ot = b.getAffineDimExpr(0), oh = b.getAffineDimExpr(1),
             od = b.getAffineDimExpr(2), os = b.getAffineDimExpr(3);
  Value outInit = filledTensor(b, loc, {rows, heads, dh}, b.getF32Type(), 0.0);
  return generic(b, loc, {probs, op.getValueCache()}, outInit,
                 {AffineMap::get(4, 0, {oh, ot, os}, ctx),
                  AffineMap::get(4, 0, {oh.floorDiv(group), os, od}, ctx),
                  AffineMap::get(4, 0, {ot, oh, od}, ctx)},
                 {kPar, kPar, kPar, kRed},
                 [](OpBuilder &nb, Location l, ValueRange a) {
                   return fastAdd(nb, l, a[2], fastMul(nb, l, a[0], a[1]));
                 });
}

Value StepLowering::lowerArgmax(tfm::ArgmaxOp op) {
  Location loc = op.getLoc();
  auto type = op.getInput().getType();
  int64_t rank = type.getRank();
  ArrayRef<int64_t> rows = type.getShape().drop_back();
  Value maxInit = filledTensor(b, loc, rows, b.getF32Type(), -INFINITY);
  Value idxInit = filledTensor(b, loc, rows, b.getI32Type(), 0);
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap r = id.dropResult(rank - 1);
  SmallVector<IteratorType> iters(rank, kPar);
  iters.back() = kRed;
  // Strictly greater: the lowest index wins ties, as torch.argmax does.
  auto gen = linalg::GenericOp::create(
      b, loc, TypeRange{maxInit.getType(), idxInit.getType()},
      ValueRange{op.getInput()}, ValueRange{maxInit, idxInit}, {id, r, r},
      iters, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value i = linalg::IndexOp::create(nb, l, rank - 1);
        Value i32 = arith::IndexCastOp::create(nb, l, nb.getI32Type(), i);
        Value better = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                             a[0], a[1]);
        Value m = arith::SelectOp::create(nb, l, better, a[0], a[1]);
        Value k = arith::SelectOp::create(nb, l, better, i32, a[2]);
        linalg::YieldOp::create(nb, l, ValueRange{m, k});
      });
  return gen.getResult(1);
}

LogicalResult StepLowering::lower(Operation *op) {
  Location loc = op->getLoc();
  b.setInsertionPoint(op);
  auto unary = [&](Value x, auto fn) {
    return elementwise(b, loc, x, [&](OpBuilder &nb, Location l,
                                      ValueRange a) -> Value {
      return fn(nb, l, a[0]);
    });
  };
  Value result;
  if (auto p = dyn_cast<tfm::ParamOp>(op)) {
    if (isa<tfm::QWeightType>(p.getType()))
      return lowerQuantizedParam(p); // erased once its readers are lowered
    result = lowerParam(p);
  } else if (auto c = dyn_cast<tfm::KvCacheOp>(op))
    result = lowerKvCache(c);
  else if (auto a = dyn_cast<tfm::KvAppendOp>(op))
    result = appendToCache(a, a.getCache(), a.getRows(), a.getPosition());
  else if (auto e = dyn_cast<tfm::EmbeddingOp>(op))
    result = lowerEmbedding(e);
  else if (auto n = dyn_cast<tfm::RmsNormOp>(op))
    result = rmsNorm(loc, n.getInput(), n.getWeight(),
                     n.getEps().convertToDouble());
  else if (auto n = dyn_cast<tfm::LayerNormOp>(op))
    result = lowerLayerNorm(n);
  else if (auto l = dyn_cast<tfm::LinearOp>(op))
    result = lowerLinear(l);
  else if (auto f = dyn_cast<tfm::FusedLinearOp>(op))
    result = lowerFusedLinear(f);
  else if (auto f = dyn_cast<tfm::FusedQkvOp>(op)) {
    if (failed(lowerFusedQkv(f)))
      return failure();
    op->erase();
    return success();
  } else if (auto r = dyn_cast<tfm::RopeOp>(op))
    result = lowerRope(r);
  else if (auto at = dyn_cast<tfm::AttentionOp>(op))
    result = lowerAttention(at);
  else if (auto s = dyn_cast<tfm::SiluOp>(op))
    result = unary(s.getInput(), silu);
  else if (auto g = dyn_cast<tfm::GeluOp>(op)) {
    bool tanhApprox = g.getApproximate() == tfm::GeluApproximation::tanh;
    result = unary(g.getInput(), [&](OpBuilder &nb, Location l,
                                     Value x) -> Value {
      Value half = arith::MulFOp::create(nb, l, x, f32Const(nb, l, 0.5));
      Value inner;
      if (tanhApprox) {
        // 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))
        Value x3 = arith::MulFOp::create(
            nb, l, x, arith::MulFOp::create(nb, l, x, x));
        Value poly = arith::AddFOp::create(
            nb, l, x, arith::MulFOp::create(nb, l, x3, f32Const(nb, l, 0.044715)));
        inner = math::TanhOp::create(
            nb, l,
            arith::MulFOp::create(nb, l, poly,
                                  f32Const(nb, l, std::sqrt(2.0 / M_PI))));
      } else {
        // 0.5x(1 + erf(x / sqrt(2)))
        inner = math::ErfOp::create(
            nb, l, arith::MulFOp::create(nb, l, x, f32Const(nb, l, M_SQRT1_2)));
      }
      return arith::MulFOp::create(
          nb, l, half, arith::AddFOp::create(nb, l, f32Const(nb, l, 1.0), inner));
    });
  } else if (auto s = dyn_cast<tfm::SwigluOp>(op))
    result = elementwise(b, loc, {s.getGate(), s.getUp()},
                         [&](OpBuilder &nb, Location l, ValueRange a) {
                           return arith::MulFOp::create(nb, l,
                                                        silu(nb, l, a[0]), a[1])
                               .getResult();
                         });
  else if (auto ad = dyn_cast<tfm::AddOp>(op))
    result = elementwise(b, loc, {ad.getLhs(), ad.getRhs()},
                         [](OpBuilder &nb, Location l, ValueRange a) {
                           return arith::AddFOp::create(nb, l, a[0], a[1])
                               .getResult();
                         });
  else if (auto m = dyn_cast<tfm::MulOp>(op))
    result = elementwise(b, loc, {m.getLhs(), m.getRhs()},
                         [](OpBuilder &nb, Location l, ValueRange a) {
                           return arith::MulFOp::create(nb, l, a[0], a[1])
                               .getResult();
                         });
  else if (auto s = dyn_cast<tfm::SoftmaxOp>(op))
    result = lowerSoftmax(loc, s.getInput());
  else if (auto am = dyn_cast<tfm::ArgmaxOp>(op))
    result = lowerArgmax(am);
  else if (isa<tfm::SampleOp>(op))
    return op->emitOpError()
           << "has no CPU lowering: the launcher samples on the host";
  else
    return success(); // not a tfm op
  if (!result)
    return failure();
  op->getResult(0).replaceAllUsesWith(result);
  op->erase();
  return success();
}

LogicalResult StepLowering::rewriteSignature() {
  // Before: (tokens: tensor<Txi32>, pos: index, [n_valid: index])
  //           -> tensor<1xVxf32>
  // After:  (weights, kv, arena, tokens: memref, pos, [n_valid],
  //          logits: memref) -> ()
  FunctionType type = fn.getFunctionType();
  if (type.getNumResults() != 1 || type.getNumInputs() < 2)
    return fn.emitOpError() << "is not a tfm step function (tokens, position"
                               "[, n_valid]) -> logits";
  auto tokensType = dyn_cast<RankedTensorType>(type.getInput(0));
  auto logitsType = dyn_cast<RankedTensorType>(type.getResult(0));
  if (!tokensType || !logitsType)
    return fn.emitOpError() << "step functions take token ids and return "
                               "logits as ranked tensors";
  MLIRContext *ctx = fn.getContext();
  Block &entry = fn.getBody().front();
  Location loc = fn.getLoc();
  auto bytes = [&](int64_t n) {
    return MemRefType::get({n}, IntegerType::get(ctx, 8));
  };
  weights = entry.insertArgument(0u, bytes(weightsBytes), loc);
  kv = entry.insertArgument(1u, bytes(kvBytes), loc);
  entry.insertArgument(2u, bytes(ShapedType::kDynamic), loc);
  auto tokensMemref = MemRefType::get(tokensType.getShape(),
                                      tokensType.getElementType());
  auto logitsMemref = MemRefType::get(logitsType.getShape(),
                                      logitsType.getElementType());
  BlockArgument tokens = entry.getArgument(3);
  tokens.setType(tokensMemref);
  BlockArgument logits = entry.addArgument(logitsMemref, loc);

  b.setInsertionPointToStart(&entry);
  Value tokensTensor =
      bufferization::ToTensorOp::create(b, loc, tokensType, tokens, true);
  tokens.replaceAllUsesExcept(tokensTensor, tokensTensor.getDefiningOp());

  auto ret = cast<func::ReturnOp>(entry.getTerminator());
  b.setInsertionPoint(ret);
  bufferization::MaterializeInDestinationOp::create(
      b, loc, TypeRange{}, ret.getOperand(0), logits, true, true);
  func::ReturnOp::create(b, loc);
  ret.erase();

  SmallVector<Type> inputs(entry.getArgumentTypes());
  fn.setFunctionType(FunctionType::get(ctx, inputs, {}));
  // The contract's device buffers (no I/O buffer: the CPU steps take
  // tokens, position and logits as arguments of their own).
  using contract::AbiBuffer;
  StringRef abi[] = {contract::abiBufferName(AbiBuffer::Weights),
                     contract::abiBufferName(AbiBuffer::Kv),
                     contract::abiBufferName(AbiBuffer::Arena), "tokens",
                     "position"};
  for (unsigned i = 0; i < 5; ++i)
    fn.setArgAttr(i, "tfm.abi", b.getStringAttr(abi[i]));
  if (inputs.size() == 7)
    fn.setArgAttr(5, "tfm.abi", b.getStringAttr("n_valid"));
  fn.setArgAttr(inputs.size() - 1, "tfm.abi", b.getStringAttr("logits"));
  return success();
}

LogicalResult StepLowering::run() {
  // The CPU kernels compute in f32; f16/bf16 compute is the CUDA target's.
  WalkResult typed = fn.walk([&](Operation *op) {
    if (op->getDialect() && isa<tfm::TfmDialect>(op->getDialect()))
      for (Type t : op->getResultTypes())
        if (auto rt = dyn_cast<RankedTensorType>(t))
          if (!rt.getElementType().isF32() && !rt.getElementType().isInteger(32)) {
            op->emitOpError() << "computes in " << rt.getElementType()
                              << "; tfm-lower-to-linalg supports f32 "
                                 "(compile with --dtype f32)";
            return WalkResult::interrupt();
          }
    return WalkResult::advance();
  });
  if (typed.wasInterrupted())
    return failure();
  if (failed(rewriteSignature()))
    return failure();
  SmallVector<Operation *> ops;
  fn.walk([&](Operation *op) {
    if (isa<tfm::TfmDialect>(op->getDialect()))
      ops.push_back(op);
  });
  for (Operation *op : ops)
    if (failed(lower(op)))
      return failure();
  // Quantized params: every reader now holds their planes.
  for (Operation &op : llvm::make_early_inc_range(
           fn.getBody().front().getOperations()))
    if (auto p = dyn_cast<tfm::ParamOp>(&op)) {
      if (!p->use_empty())
        return p.emitOpError() << "is still read after lowering";
      p->erase();
    }
  return success();
}

struct TfmLowerToLinalgPass
    : public monocard::impl::TfmLowerToLinalgBase<TfmLowerToLinalgPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto weights = module->getAttrOfType<DictionaryAttr>("tfm.weights");
    if (!weights || !weights.getAs<IntegerAttr>("bytes") ||
        !weights.getAs<ArrayAttr>("recipe")) {
      module.emitError() << "module has no 'tfm.weights' layout; run "
                            "tfm-layout-weights first";
      return signalPassFailure();
    }
    StepBuffers buffers = readStepBuffers(module, weights);
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (!isStepFunction(fn))
        continue;
      StepLowering lowering(fn, buffers);
      if (failed(lowering.run()))
        return signalPassFailure();
    }
  }
};

} // namespace
