//===- Quantize.cpp - tfm-quantize: weight-only int8 / int4 ---------------===//
//
// Quantization here is a change of type, nothing more: a param becomes a
// `!tfm.qweight` and the packer turns the checkpoint's values into codes and
// scales when it packs. The IR never holds a weight value, so a 70B model
// quantizes without 70B of RAM, and one binary's recipe says exactly how its
// weights were made.
//
//===----------------------------------------------------------------------===//

#include "monocard/Dialect/Tfm/IR/TfmOps.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"

#include "llvm/ADT/MapVector.h"

namespace monocard::tfm {
#define GEN_PASS_DEF_TFMQUANTIZE
#include "monocard/Dialect/Tfm/Transforms/Passes.h.inc"
} // namespace monocard::tfm

using namespace mlir;
using namespace monocard::tfm;

namespace {

/// Operand 1 of every linear-like op is its weight.
bool isWeightUse(OpOperand &use) {
  Operation *user = use.getOwner();
  return isa<LinearOp, FusedLinearOp, FusedQkvOp>(user) &&
         use.getOperandNumber() == 1;
}

/// The output projection: its result is what the step returns.
bool isOutputProjection(OpOperand &use) {
  for (Operation *u : use.getOwner()->getUsers())
    if (isa<func::ReturnOp>(u))
      return true;
  return false;
}

struct QuantizePass
    : public monocard::tfm::impl::TfmQuantizeBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (bits != 4 && bits != 8) {
      module.emitError() << "tfm-quantize: bits must be 4 or 8, got "
                         << int64_t(bits);
      return signalPassFailure();
    }
    if (group <= 0) {
      module.emitError() << "tfm-quantize: group must be positive, got "
                         << int64_t(group);
      return signalPassFailure();
    }
    // Params of one name are one packed tensor: quantize all or none.
    llvm::MapVector<StringAttr, SmallVector<ParamOp>> byName;
    module.walk([&](ParamOp op) {
      byName[op.getNameAttr().getAttr()].push_back(op);
    });
    MLIRContext *ctx = &getContext();
    for (auto &[name, ops] : byName) {
      auto type = dyn_cast<RankedTensorType>(ops.front().getType());
      if (!type || type.getRank() != 2)
        continue;
      bool eligible = true;
      for (ParamOp op : ops)
        for (OpOperand &use : op->getUses())
          if (!isWeightUse(use) || (!lmHead && isOutputProjection(use)))
            eligible = false;
      if (!eligible || ops.front()->use_empty())
        continue;
      int64_t k = type.getDimSize(1);
      // Scales in the weights' own precision; bf16's 8-bit mantissa is too
      // coarse for a scale, f16's range is ample for one.
      FloatType scale = type.getElementType().isF32() ? FloatType(Float32Type::get(ctx))
                                                      : FloatType(Float16Type::get(ctx));
      auto q = QWeightType::get(ctx, type.getShape(),
                                IntegerType::get(ctx, bits),
                                bits == 8 ? k : std::min<int64_t>(group, k),
                                scale);
      for (ParamOp op : ops)
        op.getResult().setType(q);
    }
  }
};

} // namespace
