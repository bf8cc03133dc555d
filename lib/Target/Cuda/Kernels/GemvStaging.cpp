//===- GemvStaging.cpp - the decode GEMV's x ------------------------------===//
//
// The x of the dot products: staged by the block (stageX) and read per chunk
// slot (xChunk), or read by the lanes from global memory.
//
// x is staged once per block in shared memory as f32: normalized by normW
// when there is a norm prologue (sum(x^2) reduced across the block in the
// same pass; the 1/rms factor, a per-row scalar, multiplies the dot products
// at the end), zero-filled past K and for one extra "zero chunk" that the
// clamped chunks of a partial last step read, and XOR-swizzled by 16-byte
// slot (slot L lives at L ^ ((L >> 3) & 7)) so that the lanes' 16-byte
// reads of consecutive chunks hit distinct banks. When x does not fit the
// 48 KiB of static shared memory (K above ~11k), lanes read x from global
// memory directly, each warp accumulating sum(x^2) for the norm itself.
//
//===----------------------------------------------------------------------===//

#include "GemvBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemv;

Value GemvBuilder::rsqrtMean(Value sumSquares) {
  Value mean = e.fdiv(sumSquares, e.f32(double(s.k)));
  return e.fdiv(e.f32(1.0), e.sqrt(e.fadd(mean, e.f32(s.eps))));
}

// Every thread runs the same number of rounds: the chunk sums use
// shuffles.
void GemvBuilder::stageX() {
  if (!l.shared)
    return;
  int64_t rounds = (l.slots + kGemvBlock - 1) / kGemvBlock;
  Value ss = e.forRange(
      e.idx(0), e.idx(rounds), e.idx(1), {e.f32(0)},
      [&](Value round, ValueRange it) { return stageRound(round, it[0]); })[0];
  // The reduction's barriers also publish the staged x.
  if (l.norm)
    inv = rsqrtMean(e.blockSum(ss, wg[l.scratchIndex], kGemvWarps));
  else
    e.barrier();
}

/// One 16-byte slot of x per thread: loaded, normalized, summed per chunk
/// (cheap int4) and stored swizzled (slot L at L ^ ((L >> 3) & 7)).
SmallVector<Value> GemvBuilder::stageRound(Value round, Value sumSquares) {
  const int64_t k = s.k;
  Value slot = e.add(e.mul(round, e.idx(kGemvBlock)), tid);
  Value e0 = e.mul(slot, e.idx(4));
  SmallVector<Value> xv(4), gv(4);
  if (k % 4 == 0) {
    Value at = e.min(e0, e.idx(k - 4));
    Value valid = e.lt(e0, e.idx(k));
    Value xl = toF32(b, loadRaw(b, x, at, 4));
    Value gl = l.norm ? toF32(b, loadRaw(b, normW, at, 4)) : Value();
    for (int j = 0; j < 4; ++j) {
      xv[j] = e.select(valid, extract(b, xl, j), e.f32(0));
      if (l.norm)
        gv[j] = extract(b, gl, j);
    }
  } else {
    for (int j = 0; j < 4; ++j) {
      Value ej = e.add(e0, e.idx(j));
      Value at = e.min(ej, e.idx(k - 1));
      xv[j] = e.select(e.lt(ej, e.idx(k)), e.load(x, at), e.f32(0));
      if (l.norm)
        gv[j] = e.load(normW, at);
    }
  }
  Value acc = sumSquares;
  for (int j = 0; j < 4; ++j) {
    if (l.norm) {
      acc = e.fma(xv[j], xv[j], acc);
      xv[j] = e.fmul(xv[j], gv[j]);
    }
  }
  Value inRange = e.lt(slot, e.idx(l.slots));
  if (l.cheapInt4) {
    // The chunk's sum: its slots are adjacent lanes.
    Value sum = e.fadd(e.fadd(xv[0], xv[1]), e.fadd(xv[2], xv[3]));
    Value width = e.i32(32);
    for (int64_t off = 1; off < l.slotsPerChunk; off *= 2)
      sum = e.fadd(sum, gpu::ShuffleOp::create(b, sum, e.i32(off), width,
                                               gpu::ShuffleMode::XOR)
                            .getShuffleResult());
    e.ifThen(
        e.land(inRange, e.eq(e.rem(slot, e.idx(l.slotsPerChunk)), e.idx(0))),
        [&] {
          memref::StoreOp::create(
              b, sum, wg[l.sumsIndex],
              ValueRange{e.div(slot, e.idx(l.slotsPerChunk))});
        });
  }
  e.ifThen(inRange, [&] {
    Value vec =
        vector::FromElementsOp::create(b, VectorType::get({4}, f32), xv);
    vector::StoreOp::create(b, vec, wg[l.xsIndex],
                            ValueRange{e.mul(swizzle(slot), e.idx(4))},
                            /*nontemporal=*/false, llvm::MaybeAlign(16));
  });
  return {acc};
}

// x of chunk `c` as epv f32 values (normalized, with shared staging).
// Without staging, lanes read x themselves: `ss` accumulates sum(x^2) for
// the norm, and with a partial step or a short chunk every element past K
// is masked.
SmallVector<Value> GemvBuilder::xChunk(Value c, Value &ss) {
  SmallVector<Value> xs;
  if (l.shared) {
    if (l.partial)
      c = e.min(c, I(l.chunks)); // the zero chunk
    for (int64_t q = 0; q < l.slotsPerChunk; ++q) {
      Value slot = e.add(e.mul(c, I(l.slotsPerChunk)), I(q));
      Value hi =
          arith::AndIOp::create(b, arith::ShRUIOp::create(b, slot, I(3)), I(7));
      Value sw = arith::XOrIOp::create(b, slot, hi);
      Value v =
          vector::LoadOp::create(b, VectorType::get({4}, f32), wg[l.xsIndex],
                                 ValueRange{ix(e.mul(sw, I(4)))},
                                 /*nontemporal=*/false, llvm::MaybeAlign(16));
      for (int j = 0; j < 4; ++j)
        xs.push_back(extract(b, v, j));
    }
    return xs;
  }
  const int64_t k = s.k, xw = l.xw;
  bool globalMask = l.partial || l.tail;
  Value c0 = e.mul(ix(c), e.idx(l.epv));
  for (int64_t q = 0; q < l.epv; q += xw) {
    Value e0 = e.add(c0, e.idx(q));
    Value at = globalMask ? e.min(e0, e.idx(k - xw)) : e0;
    Value xv = toF32(b, loadRaw(b, x, at, xw));
    Value gv = l.norm ? toF32(b, loadRaw(b, normW, at, xw)) : Value();
    for (int64_t j = 0; j < xw; ++j) {
      Value v = extract(b, xv, j);
      if (globalMask)
        v = e.select(e.lt(e.add(e0, e.idx(j)), e.idx(k)), v, e.f32(0));
      if (l.norm) {
        ss = e.fma(v, v, ss);
        v = e.fmul(v, extract(b, gv, j));
      }
      xs.push_back(v);
    }
  }
  return xs;
}
