//===- LayoutWeights.cpp - the packed-weights layout and its recipe -------===//
//
// The packing recipe is the one place that says how checkpoint tensors turn
// into the bytes kernels read. It lives in the IR (and later in the
// executable) so that a binary compiled without the weights can pack them
// where it runs.
//
//===----------------------------------------------------------------------===//

#include "monocard/Dialect/Tfm/IR/TfmOps.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"
#include "monocard/Frontend/CheckedSize.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

namespace monocard::tfm {
#define GEN_PASS_DEF_TFMLAYOUTWEIGHTS
#include "monocard/Dialect/Tfm/Transforms/Passes.h.inc"
} // namespace monocard::tfm

using namespace mlir;
using namespace monocard::tfm;

namespace {

StringRef dtypeName(Type t) {
  if (t.isF32())
    return "f32";
  if (t.isF16())
    return "f16";
  if (t.isBF16())
    return "bf16";
  return "";
}

/// An upper bound on the bytes a param takes in the packed layout, or
/// nullopt if it does not fit int64. The exact sizes below (and
/// QWeightType's row/data/scales helpers) multiply unchecked, so params from
/// hand-written IR with shapes near 2^62 are stopped here first.
std::optional<int64_t> boundBytes(Type type) {
  using monocard::checkedProduct;
  if (auto q = dyn_cast<QWeightType>(type)) {
    int64_t rows = q.getNumRows(), cols = q.getNumCols();
    // cols * 8 fitting keeps cols * bits and cols + group - 1 in range.
    if (!checkedProduct({cols, 8}))
      return std::nullopt;
    // Codes: a row is at most cols bytes plus padding to 16; scales: at
    // most cols groups of two 4-byte values.
    std::optional<int64_t> data = checkedProduct({rows, cols + 16});
    std::optional<int64_t> scales = checkedProduct({rows, cols, 8});
    int64_t sum;
    if (!data || !scales || llvm::AddOverflow(*data, *scales, sum))
      return std::nullopt;
    return sum;
  }
  auto t = cast<RankedTensorType>(type);
  std::optional<int64_t> numel = checkedProduct(t.getShape());
  if (!numel)
    return std::nullopt;
  return checkedProduct({*numel, (t.getElementTypeBitWidth() + 7) / 8});
}

struct LayoutWeightsPass
    : public monocard::tfm::impl::TfmLayoutWeightsBase<LayoutWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (alignment <= 0 || (alignment & (alignment - 1))) {
      module.emitError() << "alignment must be a power of two, got "
                         << int64_t(alignment);
      return signalPassFailure();
    }
    llvm::MapVector<StringAttr, ParamOp> params;
    WalkResult walk = module.walk([&](ParamOp op) {
      StringAttr name = op.getNameAttr().getAttr();
      auto [it, inserted] = params.insert({name, op});
      if (!inserted && (it->second.getType() != op.getType() ||
                        it->second.getSourcesAttr() != op.getSourcesAttr() ||
                        it->second.getPairRowsAttr() != op.getPairRowsAttr())) {
        op.emitOpError() << "param '" << name.getValue() << "' has type "
                         << op.getType() << " here but "
                         << it->second.getType()
                         << " elsewhere (or other sources)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    Builder b(module.getContext());
    SmallVector<Attribute> recipe;
    int64_t offset = 0;
    for (auto &[name, op] : params) {
      // The offset grows by the param's bytes plus up to two alignments.
      std::optional<int64_t> bound = boundBytes(op.getType());
      int64_t end;
      if (!bound || llvm::AddOverflow(offset, *bound, end) ||
          llvm::AddOverflow(end, alignment.getValue(), end) ||
          llvm::AddOverflow(end, alignment.getValue(), end)) {
        op.emitOpError() << "param '" << name.getValue() << "' of type "
                         << op.getType()
                         << " takes the weights past 64-bit sizes";
        return signalPassFailure();
      }
      NamedAttrList entry;
      entry.append("param", name);
      entry.append("offset", b.getI64IntegerAttr(offset));
      auto shaped = cast<ShapedType>(op.getType());
      entry.append("shape", b.getI64ArrayAttr(shaped.getShape()));
      SmallVector<Attribute> sources;
      for (StringRef source : op.getSourceNames())
        sources.push_back(b.getStringAttr(source));
      entry.append("sources", b.getArrayAttr(sources));
      if (DenseI64ArrayAttr pairs = op.getPairRowsAttr())
        entry.append("pair_rows", b.getI64ArrayAttr(pairs.asArrayRef()));
      bool reordered = sources.size() > 1 || op.getPairRowsAttr();
      if (auto q = dyn_cast<QWeightType>(op.getType())) {
        // Two planes: the codes, then the (scale, zero) pairs.
        entry.append("dtype", b.getStringAttr(q.getBits() == 4 ? "i4" : "i8"));
        entry.append("transform", b.getStringAttr("quantize"));
        int64_t scalesOffset = llvm::alignTo(offset + q.getDataBytes(),
                                             alignment);
        NamedAttrList quant;
        quant.append("bits", b.getI64IntegerAttr(q.getBits()));
        quant.append("group", b.getI64IntegerAttr(q.getGroupSize()));
        quant.append("scale_dtype",
                     b.getStringAttr(dtypeName(q.getScaleType())));
        quant.append("scales_offset", b.getI64IntegerAttr(scalesOffset));
        quant.append("row_bytes", b.getI64IntegerAttr(q.getRowBytes()));
        entry.append("quant", quant.getDictionary(b.getContext()));
        offset = llvm::alignTo(scalesOffset + q.getScalesBytes(), alignment);
      } else {
        auto type = cast<RankedTensorType>(op.getType());
        int64_t bytes =
            type.getNumElements() * (type.getElementTypeBitWidth() / 8);
        entry.append("dtype",
                     b.getStringAttr(dtypeName(type.getElementType())));
        entry.append("transform",
                     b.getStringAttr(reordered ? "concat" : "convert"));
        offset = llvm::alignTo(offset + bytes, alignment);
      }
      recipe.push_back(entry.getDictionary(b.getContext()));
    }
    NamedAttrList weights;
    weights.append("bytes", b.getI64IntegerAttr(offset));
    weights.append("recipe", b.getArrayAttr(recipe));
    module->setAttr("tfm.weights", weights.getDictionary(b.getContext()));
  }
};

} // namespace
