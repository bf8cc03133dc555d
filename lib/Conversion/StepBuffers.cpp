//===- StepBuffers.cpp - what both lowerings read of the ABI buffers -----===//

#include "StepBuffers.h"

using namespace mlir;
using namespace monocard;

static int64_t cacheBytes(tfm::KvCacheOp op) {
  auto t = op.getType();
  return t.getNumElements() * t.getElementTypeBitWidth() / 8;
}

int64_t monocard::kvCacheOffset(tfm::KvCacheOp op) {
  int64_t index = 2 * int64_t(op.getLayer()) +
                  (op.getKind() == tfm::KvKind::value ? 1 : 0);
  return index * cacheBytes(op);
}

StepBuffers monocard::readStepBuffers(ModuleOp module,
                                      DictionaryAttr weights) {
  StepBuffers s;
  NamedAttrList offsets, scaleOffsets;
  for (Attribute entry : weights.getAs<ArrayAttr>("recipe")) {
    auto dict = cast<DictionaryAttr>(entry);
    StringRef name = dict.getAs<StringAttr>("param").getValue();
    offsets.append(name, dict.get("offset"));
    if (auto quant = dict.getAs<DictionaryAttr>("quant"))
      scaleOffsets.append(name, quant.get("scales_offset"));
  }
  s.offsets = offsets.getDictionary(module.getContext());
  s.scaleOffsets = scaleOffsets.getDictionary(module.getContext());
  s.weightsBytes =
      std::max<int64_t>(1, weights.getAs<IntegerAttr>("bytes").getInt());
  module.walk([&](tfm::KvCacheOp op) {
    // The end of the layer's V slot, whichever kind this op is.
    s.kvBytes = std::max(s.kvBytes,
                         (2 * int64_t(op.getLayer()) + 2) * cacheBytes(op));
  });
  return s;
}

bool monocard::isStepFunction(func::FuncOp fn) {
  WalkResult r = fn.walk([](Operation *op) {
    return isa<tfm::TfmDialect>(op->getDialect()) ? WalkResult::interrupt()
                                                  : WalkResult::advance();
  });
  return r.wasInterrupted();
}
