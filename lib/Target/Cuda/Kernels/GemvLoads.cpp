//===- GemvLoads.cpp - the decode GEMV's work and weight loads ------------===//
//
// Which row pairs and chunks a lane handles (a warp's pairs gw,
// gw + warps, ...; per pair `steps` iterations of `unroll` chunk slots), and
// the weight loads of an iteration, which the main loop (FusedGemv.cpp)
// issues one iteration ahead.
//
//===----------------------------------------------------------------------===//

#include "GemvBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemv;

void GemvBuilder::assignWork() {
  tid = e.threadId();
  tid32 = toI32(tid);
  lane = e.rem(tid32, I(32));
  warp = e.div(tid32, I(32));
  gw = e.add(e.mul(toI32(e.blockId()), I(kGemvWarps)), warp);
  const int64_t pairs = l.pairs;
  if (l.totalWarps) {
    myPairs = e.select(
        e.lt(gw, I(pairs)),
        e.div(e.sub(I(pairs + l.totalWarps - 1), gw), I(l.totalWarps)), I(0));
  } else {
    // The launcher sizes the grid from the device's SM count: its warps,
    // once per kernel.
    Value blocks = toI32(gpu::GridDimOp::create(b, gpu::Dimension::x));
    runtimeWarps = e.mul(blocks, I(kGemvWarps));
    myPairs = e.select(
        e.lt(gw, I(pairs)),
        e.div(e.sub(e.add(runtimeWarps, I(pairs - 1)), gw), runtimeWarps),
        I(0));
  }
  total = e.mul(myPairs, I(l.steps));
}

Value GemvBuilder::pairOf(Value it) {
  Value p = l.steps == 1 ? it : e.div(it, I(l.steps));
  return e.add(gw, e.mul(p, warpsI32()));
}

// With one step per pair, the step (0) comes from an opaque PRMT of `it`
// that picks only zero bytes: a constant chunk would let LLVM hoist the
// shared-memory x loads of every slot out of the loop, which keeps all of
// them in registers (spilling at unroll 4).
Value GemvBuilder::stepOf(Value it) {
  if (l.steps != 1)
    return e.rem(it, I(l.steps));
  return prmt(b, it, I(0), I(0x4444));
}

// Rows past n (an odd n) compute row n - 1 again and store nothing.
std::array<Value, 2> GemvBuilder::rowsOf32(Value pair) {
  Value r0 = e.mul(pair, I(2));
  return {e.min(r0, I(s.n - 1)), e.min(e.add(r0, I(1)), I(s.n - 1))};
}

std::array<Value, 2> GemvBuilder::rowsOf(Value pair) {
  Value r0 = e.mul(pair, e.idx(2));
  return {e.min(r0, e.idx(s.n - 1)),
          e.min(e.add(r0, e.idx(1)), e.idx(s.n - 1))};
}

Value GemvBuilder::chunkOf(Value step, int64_t u) {
  return e.add(e.add(e.mul(step, I(l.stepChunks)), I(u * 32)), lane);
}

// The loads of iteration `it`: per chunk slot u and row r, the chunk's
// weights (raw) and, with several groups, its (scale, zero); with one
// group, the row's (scale, zero) once per iteration.
SmallVector<Value> GemvBuilder::loadHoisted(Value it) {
  SmallVector<Value> out;
  auto rows = rowsOf32(pairOf(it));
  if (l.hoistParams)
    for (int r = 0; r < 2; ++r)
      out.push_back(loadRaw(b, params, ix(e.mul(rows[r], I(2))), 2));
  return out;
}

SmallVector<Value> GemvBuilder::loadSlot(Value it, int64_t u) {
  SmallVector<Value> out;
  auto rows = rowsOf32(pairOf(it));
  Value step = stepOf(it);
  Value c = chunkOf(step, u);
  if (l.partial)
    c = e.min(c, I(l.chunks - 1));
  for (int r = 0; r < 2; ++r) {
    if (!l.quant) {
      out.push_back(loadRaw(
          b, w, ix(e.add(e.mul(rows[r], I(s.k)), e.mul(c, I(l.epv)))), l.epv));
      continue;
    }
    Value at = e.add(e.mul(rows[r], I(l.rowBytes)), e.mul(c, I(16)));
    Value bytes = loadRaw(b, w, ix(at), 16);
    out.push_back(
        vector::BitCastOp::create(b, VectorType::get({4}, i32), bytes));
    if (!l.hoistParams) {
      Value g = e.div(c, I(l.chunksPerGroup));
      Value pi = e.mul(e.add(e.mul(rows[r], I(l.groups)), g), I(2));
      out.push_back(loadRaw(b, params, ix(pi), 2));
    }
  }
  return out;
}

SmallVector<Value> GemvBuilder::loadIter(Value it) {
  SmallVector<Value> out = loadHoisted(it);
  for (int64_t u = 0; u < l.unroll; ++u)
    llvm::append_range(out, loadSlot(it, u));
  return out;
}
