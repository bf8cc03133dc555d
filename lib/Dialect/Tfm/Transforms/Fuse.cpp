//===- Fuse.cpp - tfm-fuse: a transformer layer as five kernels -----------===//
//
// A decoder layer imported op by op is 17 kernels; these patterns make it
// five (fused_qkv, attention, o-proj + residual, gate/up + swiglu,
// down-proj + residual). Each pattern checks that nothing else reads the
// intermediates it removes: fusion must never change what a step computes.
//
//===----------------------------------------------------------------------===//

#include "monocard/Dialect/Tfm/IR/TfmOps.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace monocard::tfm {
#define GEN_PASS_DEF_TFMFUSE
#include "monocard/Dialect/Tfm/Transforms/Passes.h.inc"
} // namespace monocard::tfm

using namespace mlir;
using namespace monocard::tfm;

namespace {

/// A checkpoint tensor as it is: a param with no sources of its own and a
/// full-precision type. Only these are merged.
ParamOp plainParam(Value v) {
  auto p = v.getDefiningOp<ParamOp>();
  if (!p || p.getSourcesAttr() || p.getPairRowsAttr() ||
      !isa<RankedTensorType>(p.getType()))
    return {};
  return p;
}

/// A new param concatenating `parts` along axis 0, reordered by `pairRows`.
Value mergeParams(PatternRewriter &rewriter, Location loc,
                  ArrayRef<ParamOp> parts, ArrayRef<int64_t> pairRows) {
  SmallVector<Attribute> sources;
  std::string name;
  int64_t rows = 0;
  ParamOp front = parts.front();
  auto first = cast<RankedTensorType>(front.getType());
  for (ParamOp p : parts) {
    sources.push_back(rewriter.getStringAttr(p.getName()));
    name += (name.empty() ? "" : "+") + p.getName().str();
    rows += cast<RankedTensorType>(p.getType()).getDimSize(0);
  }
  SmallVector<int64_t> shape(first.getShape());
  shape[0] = rows;
  auto type = RankedTensorType::get(shape, first.getElementType());
  return ParamOp::create(
      rewriter, loc, type, FlatSymbolRefAttr::get(rewriter.getContext(), name),
      rewriter.getArrayAttr(sources),
      pairRows.empty() ? DenseI64ArrayAttr()
                       : rewriter.getDenseI64ArrayAttr(pairRows));
}

/// Params of the same shape family: all `[*, K]` (or all 1-D) of one type.
bool sameTrailing(ArrayRef<ParamOp> parts) {
  ParamOp front = parts.front();
  auto first = cast<RankedTensorType>(front.getType());
  for (ParamOp p : parts) {
    auto t = cast<RankedTensorType>(p.getType());
    if (t.getRank() != first.getRank() ||
        t.getElementType() != first.getElementType() ||
        t.getShape().drop_front() != first.getShape().drop_front())
      return false;
  }
  return true;
}

/// `x` is an rms_norm whose every user is in `users`: it can become their
/// prologue.
RmsNormOp normOnlyFeeding(Value x, ArrayRef<Operation *> users) {
  auto norm = x.getDefiningOp<RmsNormOp>();
  if (!norm || cast<RankedTensorType>(x.getType()).getRank() != 2)
    return {};
  llvm::SmallPtrSet<Operation *, 4> allowed(users.begin(), users.end());
  for (Operation *u : x.getUsers())
    if (!allowed.contains(u))
      return {};
  return norm;
}

/// `v` = expand_shape(linear result) splitting the last axis into heads.
LinearOp linearOfHeads(Value v) {
  auto expand = v.getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand || !expand->hasOneUse() || expand.getSrcType().getRank() != 2 ||
      expand.getResultType().getRank() != 3)
    return {};
  auto linear = expand.getSrc().getDefiningOp<LinearOp>();
  if (!linear || !linear->hasOneUse())
    return {};
  return linear;
}

bool sameCache(KvCacheOp a, KvCacheOp b) {
  return a && b && a.getLayer() == b.getLayer();
}

//===----------------------------------------------------------------------===//
// fuse-qkv
//===----------------------------------------------------------------------===//

/// rope(q) ; append(rope(k)) ; append(v) over three linears of one input
///   -> fused_qkv
struct FuseQkv : OpRewritePattern<KvAppendOp> {
  FuseQkv(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/3) {}

  LogicalResult matchAndRewrite(KvAppendOp kAppend,
                                PatternRewriter &rewriter) const override {
    auto kCache = kAppend.getCache().getDefiningOp<KvCacheOp>();
    if (!kCache || kCache.getKind() != KvKind::key)
      return rewriter.notifyMatchFailure(kAppend, "not a key-cache append");
    auto kRope = kAppend.getRows().getDefiningOp<RopeOp>();
    if (!kRope || !kRope->hasOneUse())
      return rewriter.notifyMatchFailure(kAppend, "keys are not roped once");
    LinearOp kLinear = linearOfHeads(kRope.getInput());
    if (!kLinear)
      return rewriter.notifyMatchFailure(kAppend, "keys are not a projection");
    Value x = kLinear.getInput();
    Value pos = kAppend.getPosition();
    if (kRope.getPosition() != pos)
      return rewriter.notifyMatchFailure(kAppend, "rope at another position");

    // The q and v projections: other linears of the same input.
    RopeOp qRope;
    LinearOp qLinear, vLinear;
    KvAppendOp vAppend;
    for (Operation *user : x.getUsers()) {
      auto linear = dyn_cast<LinearOp>(user);
      if (!linear || linear == kLinear || !linear->hasOneUse())
        continue;
      Operation *heads = *linear->user_begin();
      if (!isa<tensor::ExpandShapeOp>(heads) || !heads->hasOneUse())
        continue;
      Operation *next = *heads->user_begin();
      if (auto rope = dyn_cast<RopeOp>(next)) {
        if (rope.getPosition() == pos && rope.getTheta() == kRope.getTheta() &&
            rope.getScalingAttr() == kRope.getScalingAttr() &&
            rope.getInput() == heads->getResult(0) && !qRope) {
          qRope = rope;
          qLinear = linear;
        }
      } else if (auto append = dyn_cast<KvAppendOp>(next)) {
        auto cache = append.getCache().getDefiningOp<KvCacheOp>();
        if (cache && cache.getKind() == KvKind::value &&
            sameCache(cache, kCache) && append.getPosition() == pos &&
            append.getRows() == heads->getResult(0) && !vAppend) {
          vAppend = append;
          vLinear = linear;
        }
      }
    }
    if (!qRope || !vAppend)
      return rewriter.notifyMatchFailure(kAppend,
                                         "no matching q and v projections");

    // Weights (and biases) must be checkpoint tensors to be merged.
    ParamOp wq = plainParam(qLinear.getWeight()),
            wk = plainParam(kLinear.getWeight()),
            wv = plainParam(vLinear.getWeight());
    if (!wq || !wk || !wv || !sameTrailing({wq, wk, wv}))
      return rewriter.notifyMatchFailure(kAppend, "weights are not params");
    bool hasBias = qLinear.getBias() != nullptr;
    if (bool(kLinear.getBias()) != hasBias ||
        bool(vLinear.getBias()) != hasBias)
      return rewriter.notifyMatchFailure(kAppend, "bias on some projections");
    ParamOp bq, bk, bv;
    if (hasBias) {
      bq = plainParam(qLinear.getBias());
      bk = plainParam(kLinear.getBias());
      bv = plainParam(vLinear.getBias());
      if (!bq || !bk || !bv || !sameTrailing({bq, bk, bv}))
        return rewriter.notifyMatchFailure(kAppend, "biases are not params");
    }

    auto qType = cast<RankedTensorType>(qRope.getType());
    auto cacheType = cast<RankedTensorType>(kAppend.getType());
    int64_t heads = qType.getDimSize(1), kvHeads = cacheType.getDimSize(0),
            dh = qType.getDimSize(2);
    if (cacheType.getDimSize(2) != dh ||
        cast<RankedTensorType>(kRope.getType()).getDimSize(1) != kvHeads ||
        vAppend.getType() != cacheType)
      return rewriter.notifyMatchFailure(kAppend, "head shapes disagree");

    // One point after the three ops it replaces, before all their uses.
    Operation *last = kAppend;
    for (Operation *op : {qRope.getOperation(), vAppend.getOperation()})
      if (last->isBeforeInBlock(op))
        last = op;
    for (Operation *op : {qRope.getOperation(), kAppend.getOperation(),
                          vAppend.getOperation()}) {
      if (op->getBlock() != last->getBlock())
        return rewriter.notifyMatchFailure(kAppend, "ops in other blocks");
      for (Operation *u : op->getUsers())
        if (u->getBlock() != last->getBlock() || u->isBeforeInBlock(last))
          return rewriter.notifyMatchFailure(kAppend,
                                             "a result is used in between");
    }

    Value input = x, normWeight;
    FloatAttr eps;
    if (RmsNormOp norm = normOnlyFeeding(
            x, {qLinear.getOperation(), kLinear.getOperation(),
                vLinear.getOperation()})) {
      input = norm.getInput();
      normWeight = norm.getWeight();
      eps = norm.getEpsAttr();
    }

    rewriter.setInsertionPointAfter(last);
    Location loc = kAppend.getLoc();
    SmallVector<int64_t> pairs{0, (heads + kvHeads) * dh, dh};
    Value weight = mergeParams(rewriter, loc, {wq, wk, wv}, pairs);
    Value bias;
    if (hasBias)
      bias = mergeParams(rewriter, loc, {bq, bk, bv}, pairs);
    auto fused = FusedQkvOp::create(
        rewriter, loc, qType, cacheType, cacheType, input, weight, bias,
        normWeight, kAppend.getCache(), vAppend.getCache(), pos, eps,
        kRope.getThetaAttr(), kRope.getScalingAttr());
    rewriter.replaceOp(qRope, fused.getQuery());
    rewriter.replaceOp(kAppend, fused.getNewKeyCache());
    rewriter.replaceOp(vAppend, fused.getNewValueCache());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// fuse-gate-up
//===----------------------------------------------------------------------===//

/// swiglu(linear(x, Wg), linear(x, Wu)) -> fused_linear {swiglu}
struct FuseGateUp : OpRewritePattern<SwigluOp> {
  FuseGateUp(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(SwigluOp op,
                                PatternRewriter &rewriter) const override {
    auto gate = op.getGate().getDefiningOp<LinearOp>();
    auto up = op.getUp().getDefiningOp<LinearOp>();
    if (!gate || !up || gate == up || !gate->hasOneUse() || !up->hasOneUse())
      return rewriter.notifyMatchFailure(op, "operands are not own linears");
    if (gate.getInput() != up.getInput())
      return rewriter.notifyMatchFailure(op, "gate and up read other inputs");
    ParamOp wg = plainParam(gate.getWeight()), wu = plainParam(up.getWeight());
    if (!wg || !wu || !sameTrailing({wg, wu}))
      return rewriter.notifyMatchFailure(op, "weights are not params");
    if (bool(gate.getBias()) != bool(up.getBias()))
      return rewriter.notifyMatchFailure(op, "bias on one projection only");
    ParamOp bg, bu;
    if (gate.getBias()) {
      bg = plainParam(gate.getBias());
      bu = plainParam(up.getBias());
      if (!bg || !bu || !sameTrailing({bg, bu}))
        return rewriter.notifyMatchFailure(op, "biases are not params");
    }
    Value x = gate.getInput(), input = x, normWeight;
    FloatAttr eps;
    if (RmsNormOp norm =
            normOnlyFeeding(x, {gate.getOperation(), up.getOperation()})) {
      input = norm.getInput();
      normWeight = norm.getWeight();
      eps = norm.getEpsAttr();
    }
    int64_t width = cast<RankedTensorType>(op.getType()).getDimSize(1);
    SmallVector<int64_t> pairs{0, 2 * width, 2 * width};
    Location loc = op.getLoc();
    Value weight = mergeParams(rewriter, loc, {wg, wu}, pairs);
    Value bias;
    if (bg)
      bias = mergeParams(rewriter, loc, {bg, bu}, pairs);
    rewriter.replaceOpWithNewOp<FusedLinearOp>(
        op, op.getType(), input, weight, bias, normWeight, /*residual=*/Value(),
        eps, rewriter.getUnitAttr());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// fuse-residual and fuse-norm
//===----------------------------------------------------------------------===//

/// The parts of a linear layer, plain or already fused, to rebuild it with
/// one more part.
struct LinearParts {
  Value input, weight, bias, normWeight, residual;
  FloatAttr eps;
  bool swiglu = false;

  static std::optional<LinearParts> of(Operation *op) {
    if (auto l = dyn_cast_if_present<LinearOp>(op))
      return LinearParts{l.getInput(), l.getWeight(), l.getBias(), {}, {}, {}};
    if (auto f = dyn_cast_if_present<FusedLinearOp>(op))
      return LinearParts{f.getInput(),      f.getWeight(),   f.getBias(),
                         f.getNormWeight(), f.getResidual(), f.getEpsAttr(),
                         f.getSwiglu()};
    return std::nullopt;
  }

  /// Builds the fused op at the rewriter's insertion point.
  Value build(PatternRewriter &rewriter, Location loc, Type type) const {
    return FusedLinearOp::create(rewriter, loc, type, input, weight, bias,
                                 normWeight, residual, eps,
                                 swiglu ? rewriter.getUnitAttr() : UnitAttr());
  }
};

/// add(r, linear(x, W)) -> fused_linear(x, W) residual(r)
struct FuseResidual : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp op,
                                PatternRewriter &rewriter) const override {
    if (cast<RankedTensorType>(op.getType()).getRank() != 2)
      return rewriter.notifyMatchFailure(op, "not a [T, D] residual stream");
    for (auto [mine, other] :
         {std::pair(op.getRhs(), op.getLhs()), std::pair(op.getLhs(),
                                                         op.getRhs())}) {
      Operation *producer = mine.getDefiningOp();
      std::optional<LinearParts> parts = LinearParts::of(producer);
      if (!parts || parts->residual || !producer->hasOneUse() ||
          mine == other)
        continue;
      parts->residual = other;
      // At the add, where both operands are defined.
      rewriter.setInsertionPoint(op);
      rewriter.replaceOp(op, parts->build(rewriter, op.getLoc(), op.getType()));
      rewriter.eraseOp(producer);
      return success();
    }
    return rewriter.notifyMatchFailure(op, "no linear used only here");
  }
};

/// linear(rms_norm(x, g), W) -> fused_linear(x, W) norm(g)
template <typename LinearLike>
struct FuseNorm : OpRewritePattern<LinearLike> {
  using OpRewritePattern<LinearLike>::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearLike op,
                                PatternRewriter &rewriter) const override {
    std::optional<LinearParts> parts = LinearParts::of(op);
    if (parts->normWeight)
      return rewriter.notifyMatchFailure(op, "already has a prologue");
    RmsNormOp norm = normOnlyFeeding(parts->input, {op.getOperation()});
    if (!norm)
      return rewriter.notifyMatchFailure(op, "input is not a norm used once");
    parts->input = norm.getInput();
    parts->normWeight = norm.getWeight();
    parts->eps = norm.getEpsAttr();
    rewriter.setInsertionPoint(op);
    rewriter.replaceOp(op, parts->build(rewriter, op.getLoc(), op.getType()));
    return success();
  }
};

struct FusePass : public monocard::tfm::impl::TfmFuseBase<FusePass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseQkv, FuseGateUp, FuseResidual, FuseNorm<LinearOp>,
                 FuseNorm<FusedLinearOp>>(&getContext());
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      getOperation().emitError("tfm-fuse did not converge");
    if (remarks)
      getOperation().walk([](Operation *op) {
        if (isa<LinearOp, RopeOp, KvAppendOp>(op))
          op->emitRemark() << op->getName() << " left unfused";
      });
  }
};

} // namespace
