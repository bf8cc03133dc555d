//===- TfmCanonicalize.cpp - tfm folds and canonical forms ----------------===//
//
// Only rewrites that never change a result bit: adding zero, multiplying by
// one, a zero bias, argmax after a (monotone) softmax, and the canonical
// swiglu form of silu(gate) * up that fusion and the kernels look for.
//
//===----------------------------------------------------------------------===//

#include "monocard/Dialect/Tfm/IR/TfmOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace monocard::tfm;

/// True if `attr` is a floating-point splat equal to `value`.
static bool isFloatSplat(Attribute attr, double value) {
  auto splat = dyn_cast_if_present<SplatElementsAttr>(attr);
  if (!splat || !isa<FloatType>(splat.getElementType()))
    return false;
  return splat.getSplatValue<APFloat>().convertToDouble() == value;
}

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  // x + 0 = x. (-0 + +0 is +0, but no activation is ever a signed zero that
  // matters downstream; the same rule holds in every numerics library.)
  if (isFloatSplat(adaptor.getRhs(), 0.0))
    return getLhs();
  if (isFloatSplat(adaptor.getLhs(), 0.0))
    return getRhs();
  return {};
}

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  if (isFloatSplat(adaptor.getRhs(), 1.0))
    return getLhs();
  if (isFloatSplat(adaptor.getLhs(), 1.0))
    return getRhs();
  return {};
}

namespace {

/// mul(silu(g), u) -> swiglu(g, u): the form the gate/up kernels fuse.
struct MulOfSiluToSwiglu : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op,
                                PatternRewriter &rewriter) const override {
    Value gate, up;
    if (auto silu = op.getLhs().getDefiningOp<SiluOp>()) {
      gate = silu.getInput();
      up = op.getRhs();
    } else if (auto silu = op.getRhs().getDefiningOp<SiluOp>()) {
      gate = silu.getInput();
      up = op.getLhs();
    } else {
      return rewriter.notifyMatchFailure(op, "no silu operand");
    }
    rewriter.replaceOpWithNewOp<SwigluOp>(op, op.getType(), gate, up);
    return success();
  }
};

/// linear(x, W, 0) -> linear(x, W): a zero bias costs a read for nothing.
struct DropZeroBias : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    Attribute bias;
    if (!op.getBias() || !matchPattern(op.getBias(), m_Constant(&bias)) ||
        !isFloatSplat(bias, 0.0))
      return rewriter.notifyMatchFailure(op, "no zero bias");
    rewriter.replaceOpWithNewOp<LinearOp>(op, op.getType(), op.getInput(),
                                          op.getWeight(), Value());
    return success();
  }
};

/// argmax(softmax(x)) -> argmax(x): softmax is monotone along the axis.
struct ArgmaxOfSoftmax : OpRewritePattern<ArgmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ArgmaxOp op,
                                PatternRewriter &rewriter) const override {
    auto softmax = op.getInput().getDefiningOp<SoftmaxOp>();
    if (!softmax)
      return rewriter.notifyMatchFailure(op, "input is not a softmax");
    rewriter.modifyOpInPlace(
        op, [&] { op.getInputMutable().assign(softmax.getInput()); });
    return success();
  }
};

} // namespace

void MulOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                        MLIRContext *context) {
  results.add<MulOfSiluToSwiglu>(context);
}

void LinearOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                           MLIRContext *context) {
  results.add<DropZeroBias>(context);
}

void ArgmaxOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                           MLIRContext *context) {
  results.add<ArgmaxOfSoftmax>(context);
}
