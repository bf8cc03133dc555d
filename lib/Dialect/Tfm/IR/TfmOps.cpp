//===- TfmOps.cpp - tfm op verifiers --------------------------------------===//
//
// Each verifier names the operand and the dimension that disagree, so that an
// importer bug or a hand-written test reads as a sentence, not a puzzle.
//
//===----------------------------------------------------------------------===//

#include "monocard/Dialect/Tfm/IR/TfmOps.h"
#include "monocard/Frontend/CheckedSize.h"

#include "mlir/IR/Builders.h"
#include <cmath>
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace monocard::tfm;

namespace {

/// Checks that `value` has rank `rank`; names it `what` otherwise.
LogicalResult checkRank(Operation *op, StringRef what, Value value,
                        int64_t rank) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != rank)
    return op->emitOpError() << what << " must have rank " << rank << ", got "
                             << type;
  return success();
}

LogicalResult checkStatic(Operation *op, StringRef what, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (!type.hasStaticShape())
    return op->emitOpError() << what << " must have a static shape, got "
                             << type;
  return success();
}

/// Checks that a static tensor's bytes fit int64: params and KV caches are
/// laid out by byte offsets, and a shape near 2^62 must not wrap there.
LogicalResult checkBytes(Operation *op, StringRef what, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t eltBytes = (type.getElementTypeBitWidth() + 7) / 8;
  std::optional<int64_t> n = monocard::checkedProduct(type.getShape());
  if (!n || !monocard::checkedProduct({*n, eltBytes}))
    return op->emitOpError()
           << what << " " << type << " overflows 64-bit sizes";
  return success();
}

/// Checks that `a` and `b` have the same element type.
LogicalResult checkSameElementType(Operation *op, StringRef whatA, Value a,
                                   StringRef whatB, Value b) {
  Type ea = cast<ShapedType>(a.getType()).getElementType();
  Type eb = cast<ShapedType>(b.getType()).getElementType();
  if (ea != eb)
    return op->emitOpError() << whatA << " element type " << ea
                             << " does not match " << whatB
                             << " element type " << eb;
  return success();
}

/// Checks dimension `da` of `a` equals dimension `db` of `b`.
LogicalResult checkDim(Operation *op, StringRef whatA, Value a, int64_t da,
                       StringRef whatB, Value b, int64_t db) {
  int64_t sa = cast<ShapedType>(a.getType()).getDimSize(da);
  int64_t sb = cast<ShapedType>(b.getType()).getDimSize(db);
  if (sa != sb)
    return op->emitOpError() << whatA << " dim " << da << " (" << sa
                             << ") does not match " << whatB << " dim " << db
                             << " (" << sb << ")";
  return success();
}

int64_t lastDim(Value v) {
  auto type = cast<ShapedType>(v.getType());
  return type.getDimSize(type.getRank() - 1);
}

/// Shape of `v` without its last axis.
ArrayRef<int64_t> leadingShape(Value v) {
  return cast<ShapedType>(v.getType()).getShape().drop_back();
}

// Lowerings build a table of head_dim / 2 RoPE frequencies at compile time;
// real head dims are at most 256.
constexpr int64_t kMaxRopeHeadDim = 1 << 16;

/// RoPE's base: the inverse frequencies are theta^(-2i/d), meaningless for
/// theta <= 0 and all 0 (no rotation) for an infinite one.
LogicalResult checkTheta(Operation *op, APFloat theta) {
  double t = theta.convertToDouble();
  if (!(t > 0))
    return op->emitOpError() << "theta must be > 0";
  if (!std::isfinite(t))
    return op->emitOpError() << "theta must be finite";
  return success();
}

} // namespace

LogicalResult ParamOp::verify() {
  auto tensor = dyn_cast<RankedTensorType>(getType());
  if (tensor && (failed(checkStatic(*this, "result", getResult())) ||
                 failed(checkBytes(*this, "result", getResult()))))
    return failure();
  if (getSourcesAttr() && getSourcesAttr().empty())
    return emitOpError() << "sources must name at least one tensor";
  auto pairs = getPairRowsAttr();
  if (!pairs)
    return success();
  auto shape = cast<ShapedType>(getType()).getShape();
  ArrayRef<int64_t> p = pairs.asArrayRef();
  if (p.size() % 3 != 0)
    return emitOpError() << "pair_rows must hold (start, count, block) "
                            "triples, got "
                         << p.size() << " numbers";
  for (size_t i = 0; i < p.size(); i += 3) {
    int64_t start = p[i], count = p[i + 1], block = p[i + 2];
    if (block <= 0 || block % 2 != 0)
      return emitOpError() << "pair_rows block must be even and positive, got "
                           << block;
    if (start < 0 || count <= 0 || count % block != 0)
      return emitOpError() << "pair_rows count " << count
                           << " must be a positive multiple of block " << block;
    // Written so that a start near 2^63 cannot wrap past the check.
    if (count > shape[0] || start > shape[0] - count)
      return emitOpError() << "pair_rows range [" << start << ", "
                           << uint64_t(start) + uint64_t(count)
                           << ") is outside the " << shape[0] << " rows";
  }
  return success();
}

SmallVector<StringRef> ParamOp::getSourceNames() {
  SmallVector<StringRef> names;
  if (ArrayAttr sources = getSourcesAttr())
    for (Attribute a : sources)
      names.push_back(cast<StringAttr>(a).getValue());
  else
    names.push_back(getName());
  return names;
}

LogicalResult KvCacheOp::verify() {
  if (failed(checkRank(*this, "cache", getResult(), 3)) ||
      failed(checkStatic(*this, "cache", getResult())) ||
      failed(checkBytes(*this, "cache", getResult())))
    return failure();
  return success();
}

LogicalResult KvAppendOp::verify() {
  if (failed(checkRank(*this, "cache", getCache(), 3)) ||
      failed(checkRank(*this, "new rows", getRows(), 3)) ||
      failed(checkSameElementType(*this, "new rows", getRows(), "cache",
                                  getCache())) ||
      failed(checkDim(*this, "new rows", getRows(), 1, "cache", getCache(),
                      0)) ||
      failed(checkDim(*this, "new rows", getRows(), 2, "cache", getCache(), 2)))
    return failure();
  int64_t rows = getRows().getType().getDimSize(0);
  int64_t capacity = getCache().getType().getDimSize(1);
  if (rows > capacity)
    return emitOpError() << "appends " << rows
                         << " rows to a cache of only " << capacity
                         << " positions";
  return success();
}

LogicalResult EmbeddingOp::verify() {
  if (failed(checkRank(*this, "table", getTable(), 2)) ||
      failed(checkRank(*this, "ids", getIds(), 1)) ||
      failed(checkRank(*this, "result", getResult(), 2)) ||
      failed(checkSameElementType(*this, "result", getResult(), "table",
                                  getTable())) ||
      failed(checkDim(*this, "result", getResult(), 0, "ids", getIds(), 0)) ||
      failed(checkDim(*this, "result", getResult(), 1, "table", getTable(), 1)))
    return failure();
  return success();
}

LogicalResult RmsNormOp::verify() {
  if (failed(checkRank(*this, "weight", getWeight(), 1)) ||
      failed(checkSameElementType(*this, "weight", getWeight(), "input",
                                  getInput())))
    return failure();
  int64_t rank = getInput().getType().getRank();
  if (rank < 1)
    return emitOpError() << "input must have rank >= 1";
  if (!(getEps().convertToDouble() > 0))
    return emitOpError() << "eps must be > 0";
  return checkDim(*this, "weight", getWeight(), 0, "input", getInput(),
                  rank - 1);
}

LogicalResult LayerNormOp::verify() {
  if (failed(checkRank(*this, "weight", getWeight(), 1)) ||
      failed(checkRank(*this, "bias", getBias(), 1)) ||
      failed(checkSameElementType(*this, "weight", getWeight(), "input",
                                  getInput())) ||
      failed(checkSameElementType(*this, "bias", getBias(), "input",
                                  getInput())))
    return failure();
  int64_t rank = getInput().getType().getRank();
  if (rank < 1)
    return emitOpError() << "input must have rank >= 1";
  if (!(getEps().convertToDouble() > 0))
    return emitOpError() << "eps must be > 0";
  if (failed(checkDim(*this, "weight", getWeight(), 0, "input", getInput(),
                      rank - 1)))
    return failure();
  return checkDim(*this, "bias", getBias(), 0, "input", getInput(), rank - 1);
}

/// A weight is `[N, K]`; a full-precision one has the input's element type.
static LogicalResult checkWeight(Operation *op, Value weight, Value input) {
  if (isa<QWeightType>(weight.getType()))
    return success(); // rank 2 by construction; scales are their own type
  if (failed(checkRank(op, "weight", weight, 2)) ||
      failed(checkSameElementType(op, "weight", weight, "input", input)))
    return failure();
  return success();
}

/// What every linear layer (plain or fused) requires: x `[T, K]`, W
/// `[N, K]`, a bias of N, and `[T, *]` results of x's element type.
static LogicalResult checkLinearOperands(Operation *op, Value input,
                                         Value weight, Value bias,
                                         Value result) {
  if (failed(checkRank(op, "input", input, 2)) ||
      failed(checkWeight(op, weight, input)) ||
      failed(checkDim(op, "weight", weight, 1, "input", input, 1)) ||
      failed(checkSameElementType(op, "result", result, "input", input)) ||
      failed(checkDim(op, "result", result, 0, "input", input, 0)))
    return failure();
  if (bias && (failed(checkRank(op, "bias", bias, 1)) ||
               failed(checkSameElementType(op, "bias", bias, "input",
                                           input)) ||
               failed(checkDim(op, "bias", bias, 0, "weight", weight, 0))))
    return failure();
  return success();
}

LogicalResult LinearOp::verify() {
  if (failed(checkRank(*this, "result", getResult(), 2)) ||
      failed(checkLinearOperands(*this, getInput(), getWeight(), getBias(),
                                 getResult())) ||
      failed(checkDim(*this, "result", getResult(), 1, "weight", getWeight(),
                      0)))
    return failure();
  return success();
}
LogicalResult RopeOp::verify() {
  if (failed(checkRank(*this, "input", getInput(), 3)))
    return failure();
  int64_t headDim = getInput().getType().getDimSize(2);
  if (ShapedType::isDynamic(headDim) || headDim % 2 != 0)
    return emitOpError() << "head dim must be even, got " << headDim;
  if (headDim > kMaxRopeHeadDim)
    return emitOpError() << "head dim " << headDim
                         << " exceeds 2^16, beyond any real model";
  return checkTheta(*this, getTheta());
}

LogicalResult AttentionOp::verify() {
  if (failed(checkRank(*this, "query", getQuery(), 3)) ||
      failed(checkRank(*this, "key cache", getKeyCache(), 3)) ||
      failed(checkRank(*this, "value cache", getValueCache(), 3)))
    return failure();
  if (getKeyCache().getType() != getValueCache().getType())
    return emitOpError() << "key cache " << getKeyCache().getType()
                         << " and value cache " << getValueCache().getType()
                         << " must have the same type";
  if (getResult().getType() != getQuery().getType())
    return emitOpError() << "result " << getResult().getType()
                         << " must have the query's type "
                         << getQuery().getType();
  if (failed(checkSameElementType(*this, "query", getQuery(), "key cache",
                                  getKeyCache())) ||
      failed(checkDim(*this, "query", getQuery(), 2, "key cache",
                      getKeyCache(), 2)))
    return failure();
  // Lowerings divide by both head counts (the GQA group size): a zero or
  // dynamic one must stop here.
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads();
  if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
    return emitOpError() << "number of query heads (" << heads
                         << ") must be a multiple of the number of KV heads ("
                         << kvHeads << ")";
  int64_t rows = getQuery().getType().getDimSize(0);
  int64_t capacity = getKeyCache().getType().getDimSize(1);
  if (rows > capacity)
    return emitOpError() << rows << " query rows exceed the cache's "
                         << capacity << " positions";
  if (!(getScale().convertToDouble() > 0))
    return emitOpError() << "scale must be > 0";
  return success();
}

LogicalResult ArgmaxOp::verify() {
  auto input = getInput().getType();
  if (input.getRank() < 1)
    return emitOpError() << "input must have rank >= 1";
  if (getResult().getType().getShape() != leadingShape(getInput()))
    return emitOpError() << "result " << getResult().getType()
                         << " must have the input's shape without its last "
                            "axis";
  return success();
}

LogicalResult SampleOp::verify() {
  auto logits = getLogits().getType();
  if (logits.getRank() < 1)
    return emitOpError() << "logits must have rank >= 1";
  ArrayRef<int64_t> rows = leadingShape(getLogits());
  if (getResult().getType().getShape() != rows)
    return emitOpError() << "result " << getResult().getType()
                         << " must have the logits' shape without its last "
                            "axis";
  if (getUniform().getType().getShape() != rows ||
      !getUniform().getType().getElementType().isF32())
    return emitOpError() << "uniform " << getUniform().getType()
                         << " must be f32 with one value per logits row";
  if (lastDim(getLogits()) < 1)
    return emitOpError() << "logits must have at least one column";
  return success();
}

/// Inverse RoPE frequencies θ^(-2i/d), with Llama 3's adjustment if present
/// (transformers' _compute_llama3_parameters), rounded to f32 as HF does.
SmallVector<float> monocard::tfm::ropeInverseFrequencies(
    int64_t dim, double theta, Llama3RopeScalingAttr scaling) {
  SmallVector<float> freqs;
  for (int64_t i = 0; i < dim / 2; ++i) {
    // HF computes base ** (arange(0, dim, 2) / dim) in f32, then 1/x.
    float exponent = float(2 * i) / float(dim);
    float inv = 1.0f / std::pow(float(theta), exponent);
    if (auto s = scaling) {
      double factor = s.getFactor().convertToDouble();
      double low = s.getLowFreqFactor().convertToDouble();
      double high = s.getHighFreqFactor().convertToDouble();
      double old = double(s.getOriginalMaxPositionEmbeddings());
      double lowWavelen = old / low, highWavelen = old / high;
      double wavelen = 2 * M_PI / inv;
      if (wavelen > lowWavelen) {
        inv = float(inv / factor);
      } else if (wavelen >= highWavelen) {
        double smooth = (old / wavelen - low) / (high - low);
        inv = float((1 - smooth) * inv / factor + smooth * inv);
      }
    }
    freqs.push_back(inv);
  }
  return freqs;
}

SmallVector<float> RopeOp::getInverseFrequencies() {
  return ropeInverseFrequencies(getInput().getType().getDimSize(2),
                                getTheta().convertToDouble(), getScalingAttr());
}

//===----------------------------------------------------------------------===//
// Fused ops
//===----------------------------------------------------------------------===//

/// The optional RMSNorm prologue: a weight of the input's width, and eps.
static LogicalResult checkNormPrologue(Operation *op, Value input, Value norm,
                                       FloatAttr eps) {
  if (!norm) {
    if (eps)
      return op->emitOpError() << "has eps but no norm weight";
    return success();
  }
  if (!eps)
    return op->emitOpError() << "has a norm weight but no eps";
  if (failed(checkRank(op, "norm weight", norm, 1)) ||
      failed(checkDim(op, "norm weight", norm, 0, "input", input, 1)))
    return failure();
  return success();
}

LogicalResult FusedLinearOp::verify() {
  if (failed(checkRank(*this, "result", getResult(), 2)) ||
      failed(checkLinearOperands(*this, getInput(), getWeight(), getBias(),
                                 getResult())) ||
      failed(checkNormPrologue(*this, getInput(), getNormWeight(),
                               getEpsAttr())))
    return failure();
  int64_t n = cast<ShapedType>(getWeight().getType()).getDimSize(0);
  int64_t width = getResult().getType().getDimSize(1);
  if (getSwiglu()) {
    if (n % 2 != 0)
      return emitOpError() << "swiglu needs an even number of weight rows "
                              "(gate/up pairs), got "
                           << n;
    if (width != n / 2)
      return emitOpError() << "result width " << width
                           << " must be half the " << n
                           << " weight rows with swiglu";
  } else if (width != n) {
    return emitOpError() << "result width " << width
                         << " does not match the " << n << " weight rows";
  }
  if (Value residual = getResidual())
    if (residual.getType() != getResult().getType())
      return emitOpError() << "residual type " << residual.getType()
                           << " does not match result type "
                           << getResult().getType();
  return success();
}

LogicalResult FusedQkvOp::verify() {
  if (failed(checkRank(*this, "query", getQuery(), 3)) ||
      failed(checkLinearOperands(*this, getInput(), getWeight(), getBias(),
                                 getQuery())) ||
      failed(checkRank(*this, "key cache", getKeyCache(), 3)) ||
      failed(checkStatic(*this, "key cache", getKeyCache())) ||
      failed(checkSameElementType(*this, "key cache", getKeyCache(), "input",
                                  getInput())) ||
      failed(checkDim(*this, "query", getQuery(), 2, "key cache",
                      getKeyCache(), 2)) ||
      failed(checkNormPrologue(*this, getInput(), getNormWeight(),
                               getEpsAttr())))
    return failure();
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads(),
          dh = getHeadDim();
  if (dh <= 0 || dh % 2 != 0)
    return emitOpError() << "head dim must be even and positive, got " << dh;
  if (dh > kMaxRopeHeadDim)
    return emitOpError() << "head dim " << dh
                         << " exceeds 2^16, beyond any real model";
  // The cache is static, so kvHeads >= 0; zero would divide by zero here
  // and in the lowering's GQA group size.
  if (heads <= 0 || kvHeads <= 0)
    return emitOpError() << "needs at least one query and one KV head, got "
                         << heads << " and " << kvHeads;
  if (heads % kvHeads != 0)
    return emitOpError() << heads << " query heads are not a multiple of "
                         << kvHeads << " KV heads";
  // Static dims near 2^62 must not wrap into a row count that matches.
  std::optional<int64_t> rows = checkedProduct({heads, dh});
  std::optional<int64_t> kvRows = checkedProduct({2, kvHeads, dh});
  if (rows && kvRows && llvm::AddOverflow(*rows, *kvRows, *rows))
    rows.reset();
  if (!rows || !kvRows)
    return emitOpError() << heads << " query and 2x" << kvHeads
                         << " KV heads of " << dh << " overflow 64-bit sizes";
  int64_t n = cast<ShapedType>(getWeight().getType()).getDimSize(0);
  if (n != *rows)
    return emitOpError() << "weight has " << n << " rows, but " << heads
                         << " query and 2x" << kvHeads << " KV heads of " << dh
                         << " need " << *rows;
  int64_t t = getQuery().getType().getDimSize(0);
  int64_t capacity = getKeyCache().getType().getDimSize(1);
  if (t > capacity)
    return emitOpError() << "appends " << t << " rows to a cache of only "
                         << capacity << " positions";
  return checkTheta(*this, getTheta());
}

#define GET_OP_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmOps.cpp.inc"
