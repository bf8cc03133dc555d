//===- GemvEpilogue.cpp - the decode GEMV's epilogues ---------------------===//
//
// After the main loop, a lane per finished pair of its warp: the pair's two
// dot products come out of shared memory and get the bias, then the qkv
// scatter (RoPE of q to y, of k into the key cache; v into the value cache),
// SwiGLU or the plain stores, with the residual.
//
//===----------------------------------------------------------------------===//

#include "GemvBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemv;

// The pair is (partner i, partner i + dh/2) of head `h`.
void GemvBuilder::ropePair(Value pos, Value rel, Value z[2], Value &h, Value &i,
                           Value &lo, Value &hi) {
  int64_t dh = s.headDim;
  h = e.div(rel, e.idx(dh));
  i = e.div(e.rem(rel, e.idx(dh)), e.idx(2));
  Value freqs =
      memref::GetGlobalOp::create(b, KernelLibrary::flat(dh / 2, f32), table);
  // As RowKernels' rope: the f32 position times the frequency, sine and
  // cosine in f64.
  Value angle = e.fmul(e.indexToF32(pos),
                       memref::LoadOp::create(b, freqs, ValueRange{i}));
  auto [sin, cos] = e.sinCos(angle);
  lo = e.fsub(e.fmul(z[0], cos), e.fmul(z[1], sin));
  hi = e.fadd(e.fmul(z[1], cos), e.fmul(z[0], sin));
}

// q is roped to y; k roped and v as is go to the caches at pos.
void GemvBuilder::epilogueQkv(Value row0, Value z[2]) {
  int64_t dh = s.headDim, half = dh / 2;
  int64_t qRows = s.heads * dh, kRows = s.kvHeads * dh;
  Value pos =
      e.i32ToIndex(memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
  Value inCache = e.lt(pos, e.idx(s.capacity));
  auto cacheBase = [&](Value h) {
    return e.mul(e.add(e.mul(h, e.idx(s.capacity)), pos), e.idx(dh));
  };
  auto storeValue = [&] {
    e.ifThen(inCache, [&] {
      Value rel = e.sub(row0, e.idx(qRows + kRows));
      Value at = e.add(cacheBase(e.div(rel, e.idx(dh))), e.rem(rel, e.idx(dh)));
      e.store(valueCache, at, z[0]);
      e.store(valueCache, e.add(at, e.idx(1)), z[1]);
    });
  };
  auto storeKey = [&] {
    e.ifThen(inCache, [&] {
      Value h, i, lo, hi;
      ropePair(pos, e.sub(row0, e.idx(qRows)), z, h, i, lo, hi);
      Value at = e.add(cacheBase(h), i);
      e.store(keyCache, at, lo);
      e.store(keyCache, e.add(at, e.idx(half)), hi);
    });
  };
  e.ifThenElse(
      e.lt(row0, e.idx(qRows)),
      [&] {
        Value h, i, lo, hi;
        ropePair(pos, row0, z, h, i, lo, hi);
        Value at = e.add(e.mul(h, e.idx(dh)), i);
        e.store(y, at, lo);
        e.store(y, e.add(at, e.idx(half)), hi);
      },
      [&] {
        e.ifThenElse(e.lt(row0, e.idx(qRows + kRows)), storeKey, storeValue);
      });
}

// The epilogue of one pair (after the loop, a lane per pair): bias, then
// the qkv scatter, SwiGLU or the plain stores, with the residual.
void GemvBuilder::epilogue(Value pair, Value local) {
  Value row0 = e.mul(pair, e.idx(2));
  auto rows = rowsOf(pair);
  Value z[2];
  for (int r = 0; r < 2; ++r)
    z[r] = memref::LoadOp::create(b, wg[l.zIndex],
                                  ValueRange{zSlot(toI32(local), r)});
  if (bias)
    for (int r = 0; r < 2; ++r)
      z[r] = e.fadd(z[r], e.load(bias, rows[r]));
  if (s.qkv)
    return epilogueQkv(row0, z);
  if (s.swiglu) {
    // silu(g) = g / (1 + e^-g), as the elementwise kernel.
    Value g = z[0];
    Value silu = e.fdiv(g, e.fadd(e.f32(1.0), e.exp(e.fsub(e.f32(0), g))));
    Value v = e.fmul(silu, z[1]);
    Value at = pair;
    if (residual)
      v = e.fadd(v, e.load(residual, at));
    e.store(y, at, v);
    return;
  }
  for (int r = 0; r < 2; ++r) {
    Value row = e.add(row0, e.idx(r));
    auto store = [&] {
      Value v = z[r];
      if (residual)
        v = e.fadd(v, e.load(residual, row));
      e.store(y, row, v);
    };
    if (r == 1 && s.n % 2)
      e.ifThen(e.lt(row, e.idx(s.n)), store);
    else
      store();
  }
}

void GemvBuilder::epilogues() {
  e.barrier();
  e.forRange(ix(lane), ix(myPairs), e.idx(32), [&](Value local) {
    epilogue(e.add(ix(gw), e.mul(local, warpsIndex())), local);
  });
}
