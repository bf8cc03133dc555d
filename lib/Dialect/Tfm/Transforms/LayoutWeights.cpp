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
    llvm::MapVector<StringAttr, RankedTensorType> params;
    WalkResult walk = module.walk([&](ParamOp op) {
      StringAttr name = op.getNameAttr().getAttr();
      auto [it, inserted] = params.insert({name, op.getType()});
      if (!inserted && it->second != op.getType()) {
        op.emitOpError() << "param '" << name.getValue() << "' has type "
                         << op.getType() << " here but " << it->second
                         << " elsewhere";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    Builder b(module.getContext());
    SmallVector<Attribute> recipe;
    int64_t offset = 0;
    for (auto &[name, type] : params) {
      int64_t bytes =
          type.getNumElements() * (type.getElementTypeBitWidth() / 8);
      NamedAttrList entry;
      entry.append("param", name);
      entry.append("offset", b.getI64IntegerAttr(offset));
      entry.append("dtype", b.getStringAttr(dtypeName(type.getElementType())));
      entry.append("shape", b.getI64ArrayAttr(type.getShape()));
      entry.append("sources", b.getArrayAttr({name}));
      entry.append("transform", b.getStringAttr("convert"));
      recipe.push_back(entry.getDictionary(b.getContext()));
      offset = llvm::alignTo(offset + bytes, alignment);
    }
    NamedAttrList weights;
    weights.append("bytes", b.getI64IntegerAttr(offset));
    weights.append("recipe", b.getArrayAttr(recipe));
    module->setAttr("tfm.weights", weights.getDictionary(b.getContext()));
  }
};

} // namespace
