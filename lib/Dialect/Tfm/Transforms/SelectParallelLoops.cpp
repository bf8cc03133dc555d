//===- SelectParallelLoops.cpp - parallel loops only where they pay -------===//

#include "monocard/Dialect/Tfm/Transforms/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/Support/MathExtras.h"

namespace monocard::tfm {
#define GEN_PASS_DEF_TFMSELECTPARALLELLOOPS
#include "monocard/Dialect/Tfm/Transforms/Passes.h.inc"
} // namespace monocard::tfm

using namespace mlir;

namespace {

constexpr int64_t kLarge = int64_t(1) << 40;

/// Static trip count of [lb, ub) step s, or kLarge when not constant.
int64_t tripCount(Value lb, Value ub, Value step) {
  std::optional<int64_t> l = getConstantIntValue(lb);
  std::optional<int64_t> u = getConstantIntValue(ub);
  std::optional<int64_t> s = getConstantIntValue(step);
  if (!l || !u || !s || *s <= 0)
    return kLarge;
  // Bounds from hand-written IR can be near INT64_MIN/MAX: a span that does
  // not fit is as good as unknown, not undefined behaviour.
  int64_t span;
  if (llvm::SubOverflow(*u, *l, span) ||
      llvm::AddOverflow(span, *s - 1, span))
    return kLarge;
  return std::max<int64_t>(0, span / *s);
}

int64_t saturatingMul(int64_t a, int64_t b) {
  if (a == 0 || b == 0)
    return 0;
  return a > kLarge / b ? kLarge : a * b;
}

/// Iterations of the deepest loop nest inside `op`'s regions (1 if none).
int64_t nestedWork(Operation *op) {
  int64_t best = 1;
  for (Region &region : op->getRegions())
    for (Operation &inner : region.getOps()) {
      int64_t trips = 1;
      if (auto f = dyn_cast<scf::ForOp>(inner))
        trips = tripCount(f.getLowerBound(), f.getUpperBound(), f.getStep());
      else if (auto p = dyn_cast<scf::ParallelOp>(inner))
        for (auto [l, u, s] : llvm::zip(p.getLowerBound(), p.getUpperBound(),
                                        p.getStep()))
          trips = saturatingMul(trips, tripCount(l, u, s));
      best = std::max(best, saturatingMul(trips, nestedWork(&inner)));
    }
  return best;
}

/// scf.parallel (no reductions) -> nested scf.for with the same body.
void serialize(scf::ParallelOp loop) {
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  IRMapping map;
  for (auto [iv, l, u, s] :
       llvm::zip(loop.getInductionVars(), loop.getLowerBound(),
                 loop.getUpperBound(), loop.getStep())) {
    auto f = scf::ForOp::create(b, loc, l, u, s);
    map.map(iv, f.getInductionVar());
    b.setInsertionPoint(f.getBody()->getTerminator());
  }
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, map);
  loop.erase();
}

struct SelectParallelLoopsPass
    : public monocard::tfm::impl::TfmSelectParallelLoopsBase<
          SelectParallelLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (minWork <= 0) {
      getOperation().emitError() << "min-work must be > 0, got " << int64_t(minWork);
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> small;
    getOperation().walk([&](scf::ParallelOp loop) {
      // Only outermost loops are candidates; inner ones run inside them.
      if (loop->getParentOfType<scf::ParallelOp>())
        return;
      int64_t work = 1;
      for (auto [l, u, s] : llvm::zip(loop.getLowerBound(),
                                      loop.getUpperBound(), loop.getStep()))
        work = saturatingMul(work, tripCount(l, u, s));
      work = saturatingMul(work, nestedWork(loop));
      if (loop.getNumReductions() == 0 && work < minWork)
        small.push_back(loop);
    });
    for (scf::ParallelOp loop : small)
      serialize(loop);
  }
};

} // namespace
