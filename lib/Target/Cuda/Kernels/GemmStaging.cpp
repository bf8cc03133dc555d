//===- GemmStaging.cpp - the prefill GEMM's x and W tiles -----------------===//
//
// Staging (GemmKernels.cpp describes the whole kernel): each thread loads
// its chunks of the next x and W tiles a tile ahead (GemmChunks.cpp), turns
// them into f32 (summing the squares of x for the RMSNorm on the way) and
// stores them to one of the two shared-memory buffers, in the layout the
// multiply reads (GemmMultiply.cpp). After the loop the sums of squares
// become each row's norm factor r.
//
//===----------------------------------------------------------------------===//

#include "GemmBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemm;

std::pair<Value, Value> GemmBuilder::chunkOf(int64_t p, int64_t chunks) {
  int64_t perRow = t.bk / kChunk;
  Value c = e.add(tid, e.idx(p * kThreads));
  // A partial last pass repeats the last chunk: the duplicates store equal
  // values to the same place.
  if (chunks % kThreads)
    c = e.min(c, e.idx(chunks - 1));
  return {e.div(c, e.idx(perRow)),
          e.mul(e.rem(c, e.idx(perRow)), e.idx(kChunk))};
}

SmallVector<Value> GemmBuilder::loadTile(Value k0) {
  SmallVector<Value> raw;
  int64_t xChunks = t.bm * t.bk / kChunk, wChunks = t.bn * t.bk / kChunk;
  for (int64_t p = 0; p < ceilDiv(xChunks, kThreads); ++p) {
    auto [rl, kl] = chunkOf(p, xChunks);
    SmallVector<Value> r = loadX(e.add(m0, rl), e.add(k0, kl));
    xRaw = r.size();
    raw.append(r);
  }
  for (int64_t p = 0; p < ceilDiv(wChunks, kThreads); ++p) {
    auto [rl, kl] = chunkOf(p, wChunks);
    SmallVector<Value> r = loadW(e.add(n0, rl), e.add(k0, kl));
    wRaw = r.size();
    raw.append(r);
  }
  return raw;
}

void GemmBuilder::storeChunk(Value shared, Value offset, int64_t tileRows,
                             Value rowLocal, Value kcLocal, Value v) {
  if (!t.mma) {
    // k-major f32: element (row, kk) at kk * tileRows + row.
    Value base = e.add(offset, rowLocal);
    for (int64_t j = 0; j < kChunk; ++j)
      memref::StoreOp::create(
          b, extract(v, j), shared,
          ValueRange{e.add(e.mul(e.add(kcLocal, e.idx(j)), e.idx(tileRows)),
                           base)});
    return;
  }
  // Row-major pairs of halves: one 16-byte store.
  auto vt = cast<VectorType>(v.getType());
  if (vt.getElementType().isF32())
    v = arith::TruncFOp::create(b, vecType(kChunk, s.xT), v);
  Value packed =
      vector::BitCastOp::create(b, vecType(kChunk / 2, b.getI32Type()), v);
  Value word = e.add(offset, e.add(e.mul(rowLocal, e.idx(t.ldw())),
                                   e.div(kcLocal, e.idx(2))));
  vector::StoreOp::create(b, packed, shared, ValueRange{word},
                          /*nontemporal=*/false, llvm::MaybeAlign(16));
}

/// A raw 16-bit chunk of the mma type, selected against zero: no
/// conversion needed.
Value GemmBuilder::rawIsMmaType(ValueRange raw, Value ok) {
  Value zero = arith::ConstantOp::create(
      b, DenseElementsAttr::get(vecType(kChunk, s.xT),
                                FloatAttr::get(s.xT, 0.0)));
  return e.select(ok, raw[0], zero);
}

SmallVector<Value> GemmBuilder::storeTile(ValueRange raw, Value k0,
                                          ValueRange squares, Value buffer) {
  int64_t xChunks = t.bm * t.bk / kChunk, wChunks = t.bn * t.bk / kChunk;
  Value xOff = e.mul(buffer, e.idx(xTileSize()));
  Value wOff = e.mul(buffer, e.idx(wTileSize()));
  SmallVector<Value> sums;
  size_t at = 0;
  for (int64_t p = 0; p < ceilDiv(xChunks, kThreads); ++p) {
    auto [rl, kl] = chunkOf(p, xChunks);
    Value row = e.add(m0, rl), kc = e.add(k0, kl);
    ValueRange r = raw.slice(at, xRaw);
    at += xRaw;
    Value v;
    if (t.mma && vecK && !s.normT)
      v = rawIsMmaType(r, e.land(e.lt(row, e.idx(s.m)),
                                 e.lt(kc, e.idx(s.k))));
    else {
      auto [xv, raw] = convertX(r, row, kc);
      v = xv;
      if (raw) {
        // Masked elements are zero and add nothing.
        Value sq = squares[p];
        for (int64_t j = 0; j < kChunk; ++j) {
          Value xj = extract(raw, j);
          sq = e.fma(xj, xj, sq);
        }
        sums.push_back(sq);
      }
    }
    storeChunk(xs, xOff, t.bm, rl, kl, v);
  }
  for (int64_t p = 0; p < ceilDiv(wChunks, kThreads); ++p) {
    auto [rl, kl] = chunkOf(p, wChunks);
    Value nrow = e.add(n0, rl), kc = e.add(k0, kl);
    ValueRange r = raw.slice(at, wRaw);
    at += wRaw;
    Value v;
    if (t.mma && vecK && !s.quant && s.wT == s.xT)
      v = rawIsMmaType(r, e.land(e.lt(nrow, e.idx(s.n)),
                                 e.lt(kc, e.idx(s.k))));
    else
      v = convertW(r, nrow, kc);
    storeChunk(ws, wOff, t.bn, rl, kl, v);
  }
  return sums;
}

//===----------------------------------------------------------------------===//
// The RMSNorm prologue's row factors
//===----------------------------------------------------------------------===//

void GemmBuilder::normFactors(ValueRange squares) {
  // The bk / 8 chunks of a row in one tile are staged by consecutive lanes
  // (chunkOf), which hold the row's partial sums over the whole of k.
  int64_t perRow = t.bk / kChunk, xChunks = t.bm * t.bk / kChunk;
  Value width = e.i32(32);
  for (int64_t p = 0; p < xPasses(); ++p) {
    Value total = squares[p];
    for (int64_t off = 1; off < perRow; off *= 2) {
      Value other = gpu::ShuffleOp::create(b, total, e.i32(off), width,
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      total = e.fadd(total, other);
    }
    Value c = e.add(tid, e.idx(p * kThreads));
    // One lane per row; lanes past the last chunk repeat it (chunkOf).
    Value leader = e.land(e.lt(c, e.idx(xChunks)),
                          e.eq(e.rem(c, e.idx(perRow)), e.idx(0)));
    e.ifThen(leader, [&] {
      // As rmsNorm: 1 / sqrt(mean + eps).
      Value mean = e.fdiv(total, e.f32(double(s.k)));
      Value inv = e.fdiv(e.f32(1.0), e.sqrt(e.fadd(mean, e.f32(s.eps))));
      memref::StoreOp::create(b, inv, invRows,
                              ValueRange{e.div(c, e.idx(perRow))});
    });
  }
  e.barrier();
}
