//===- GemmKernels.cpp - the prefill GEMM of a LinearSpec -----------------===//
//
// z = x' . W^T for m > 1 rows, with the prologue and epilogues of a
// LinearSpec (KernelLibrary.h) fused in. A block of 256 threads owns a
// bm x bn tile of z and walks k in steps of bk:
//
//   - pipeline: x and W tiles have two shared-memory buffers each; tile i
//     is multiplied from one while tile i + 1 is stored to the other and
//     tile i + 2 is loaded into registers: one barrier per tile.
//   - staging: each thread loads chunks of 8 consecutive k elements of one
//     row of x or W (one 16-byte load for 16-bit floats, 8 or 4 bytes of
//     codes for int8/int4), turns them into f32 (x * normW for the RMSNorm
//     prologue; dequantization (q - zero) * scale for W) and stores them to
//     shared memory. Loads run a tile ahead, so their latency hides behind
//     the arithmetic; full-precision weights never exist in global memory.
//   - RMSNorm: the row factor r = rsqrt(mean(x^2) + eps) is a scalar per
//     row, so it comes out of the dot product: z = r * ((x * normW) . W).
//     The threads staging a row's chunks also sum their squares on the way
//     (no extra pass over x), meet through shuffles after the loop, and the
//     epilogue scales the accumulators by r.
//   - multiply, on one of two paths:
//       mma:  16-bit activations (f16, bf16). Tiles are stored in shared
//             memory in that type, k-contiguous ([row][bk + 8] halves, the
//             padding keeps fragment loads free of bank conflicts), and the
//             eight warps (2 along m, 4 along n) multiply them with
//             mma.sync.m16n8k16 (f32 accumulators). Dequantized weights and
//             x * normW are rounded to the activation type (r stays f32).
//       simt: f32 activations. Tiles are stored as f32, k-major, and each
//             thread of a 16 x 16 grid accumulates a tm x tn patch with f32
//             FMAs (rows ty*tm .. +tm, columns in groups of four).
//   - epilogue: each thread owns its output columns in adjacent pairs
//     (2i, 2i + 1), which is what SwiGLU (gate, up) and RoPE (rotate-half
//     partners in pair order) need: bias, then residual, SwiGLU or the qkv
//     scatter (RoPE of q and k at position pos + r with RowKernels' angle
//     math, q to y in rotate-half layout, k and v into the caches).
//
// Extents need not be multiples of the tiles: rows, columns and k beyond the
// edges are zero-filled in staging (addresses are clamped, so nothing out of
// bounds is read) and skipped in the epilogue.
//
//===----------------------------------------------------------------------===//

#include "LinearSignature.h"
#include "monocard/Target/Cuda/Kernels/KernelConfig.h"
#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

namespace {

constexpr int64_t kThreads = 256;
constexpr int64_t kChunk = 8; // k elements per staging load

/// One block's share of the output and how its threads split it, as
/// KernelConfig chose it.
using Tiling = GemmConfig;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Builds the body of one GEMM kernel.
class GemmBuilder {
public:
  GemmBuilder(KernelEmitter &e, const LinearSpec &s, const Tiling &t,
              StringRef freqTable)
      : e(e), b(e.builder()), s(s), t(t), freqTable(freqTable),
        vecK(s.k % kChunk == 0), f32(b.getF32Type()) {}

  void build(ValueRange args, ValueRange wg);

private:
  // Staging: raw loads of one chunk (kept in registers across the
  // multiply), then conversion to vector<8xf32> and the shared store.
  SmallVector<Value> loadX(Value row, Value kc);
  /// x * normW as vector<8xf32>, and x (for the sum of squares).
  std::pair<Value, Value> convertX(ValueRange raw, Value row, Value kc);
  SmallVector<Value> loadW(Value nrow, Value kc);
  Value convertW(ValueRange raw, Value nrow, Value kc);
  SmallVector<Value> loadFloat(Value mem, Value row, int64_t rows, Value kc);
  Value widenFloat(ValueRange raw, Value row, int64_t rows, Value kc);
  Value maskTail(Value v, Value kc);
  /// Loads of the whole next tile: per x chunk, then per W chunk.
  SmallVector<Value> loadTile(Value k0);
  /// Converts and stores a tile loaded by loadTile; with the norm, returns
  /// each x pass's running sum of squares (`squares` in).
  SmallVector<Value> storeTile(ValueRange raw, Value k0, ValueRange squares,
                               Value buffer);
  /// The chunk (row, k offset) of staging pass p of this thread.
  std::pair<Value, Value> chunkOf(int64_t p, int64_t chunks);
  void storeChunk(Value shared, Value offset, int64_t tileRows,
                  Value rowLocal, Value kcLocal, Value v);
  Value rawIsMmaType(ValueRange raw, Value ok);

  /// Combines the sums of squares into r per tile row (shared memory).
  void normFactors(ValueRange squares);
  int64_t xPasses() const { return ceilDiv(t.bm * t.bk / kChunk, kThreads); }
  SmallVector<Value> multiplySimt(ValueRange acc, Value buffer);
  SmallVector<Value> multiplyMma(ValueRange acc, Value buffer);
  /// Elements of one x or W tile buffer in shared memory (two of each).
  int64_t xTileSize() const { return t.mma ? t.bm * t.ldw() : t.bk * t.bm; }
  int64_t wTileSize() const { return t.mma ? t.bn * t.ldw() : t.bk * t.bn; }
  void epilogueSimt(ValueRange acc);
  /// z * r of the tile row with the norm prologue, else z.
  Value scaleRow(Value z, Value rowLocal);
  void epilogueMma(ValueRange acc);
  /// Output columns col, col + 1 (col even) of row `row`.
  void emitPair(Value row, Value col, Value z0, Value z1);
  void emitColumn(Value row, Value col, Value z);

  VectorType vecType(int64_t n, Type elt) { return VectorType::get({n}, elt); }
  Value splat(Value v, int64_t n) {
    return vector::BroadcastOp::create(b, vecType(n, v.getType()), v);
  }
  Value extract(Value v, int64_t i) {
    return vector::ExtractOp::create(b, v, ArrayRef<int64_t>{i});
  }
  Value rawLoad(Value mem, Value i) {
    return memref::LoadOp::create(b, mem, ValueRange{i});
  }
  Value rawVector(Value mem, Value i, int64_t n) {
    Type elt = cast<MemRefType>(mem.getType()).getElementType();
    int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
    return vector::LoadOp::create(b, vecType(n, elt), mem, ValueRange{i},
                                  /*nontemporal=*/false,
                                  llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
  }
  Value toF32(Value v) {
    Type elt = getElementTypeOrSelf(v.getType());
    if (elt.isF32())
      return v;
    Type to = f32;
    if (auto vt = dyn_cast<VectorType>(v.getType()))
      to = vecType(vt.getNumElements(), f32);
    return arith::ExtFOp::create(b, to, v);
  }

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  const LinearSpec &s;
  Tiling t;
  StringRef freqTable;
  bool vecK;
  Type f32;

  Value x, w, codes, params, bias, normW, residual, y, kCache, vCache,
      scalars;
  Value invRows, xs, ws;
  Value tid, m0, n0;
  Value freqs, pos; // qkv: the RoPE table and the chunk's first position
  // The number of raw values of one x chunk and one W chunk.
  size_t xRaw = 0, wRaw = 0;
};

} // namespace

//===----------------------------------------------------------------------===//
// Staging
//===----------------------------------------------------------------------===//

SmallVector<Value> GemmBuilder::loadFloat(Value mem, Value row, int64_t rows,
                                          Value kc) {
  if (vecK) {
    // Whole chunks are in or out of k; out-of-range chunks read element 0.
    Value ok = e.land(e.lt(row, e.idx(rows)), e.lt(kc, e.idx(s.k)));
    Value i = e.select(ok, e.add(e.mul(row, e.idx(s.k)), kc), e.idx(0));
    return {rawVector(mem, i, kChunk)};
  }
  SmallVector<Value> out;
  Value base = e.mul(e.min(row, e.idx(rows - 1)), e.idx(s.k));
  for (int64_t j = 0; j < kChunk; ++j)
    out.push_back(rawLoad(
        mem, e.add(base, e.min(e.add(kc, e.idx(j)), e.idx(s.k - 1)))));
  return out;
}

Value GemmBuilder::widenFloat(ValueRange raw, Value row, int64_t rows,
                              Value kc) {
  Value rowOk = e.lt(row, e.idx(rows));
  if (vecK) {
    Value ok = e.land(rowOk, e.lt(kc, e.idx(s.k)));
    return e.select(ok, toF32(raw[0]), e.zeroVector(kChunk));
  }
  SmallVector<Value> vals;
  for (int64_t j = 0; j < kChunk; ++j) {
    Value ok = e.land(rowOk, e.lt(e.add(kc, e.idx(j)), e.idx(s.k)));
    vals.push_back(e.select(ok, toF32(raw[j]), e.f32(0)));
  }
  return vector::FromElementsOp::create(b, vecType(kChunk, f32), vals);
}

Value GemmBuilder::maskTail(Value v, Value kc) {
  if (vecK)
    return v;
  SmallVector<Value> vals;
  for (int64_t j = 0; j < kChunk; ++j)
    vals.push_back(e.select(e.lt(e.add(kc, e.idx(j)), e.idx(s.k)),
                            extract(v, j), e.f32(0)));
  return vector::FromElementsOp::create(b, vecType(kChunk, f32), vals);
}

SmallVector<Value> GemmBuilder::loadX(Value row, Value kc) {
  SmallVector<Value> raw = loadFloat(x, row, s.m, kc);
  if (s.normT) {
    // The norm weight's chunk rides along with the chunk of x.
    if (vecK) {
      raw.push_back(rawVector(
          normW, e.select(e.lt(kc, e.idx(s.k)), kc, e.idx(0)), kChunk));
    } else {
      for (int64_t j = 0; j < kChunk; ++j)
        raw.push_back(
            rawLoad(normW, e.min(e.add(kc, e.idx(j)), e.idx(s.k - 1))));
    }
  }
  return raw;
}

std::pair<Value, Value> GemmBuilder::convertX(ValueRange raw, Value row,
                                              Value kc) {
  size_t own = vecK ? 1 : kChunk;
  Value v = widenFloat(raw.take_front(own), row, s.m, kc);
  if (!s.normT)
    return {v, Value()};
  Value nw;
  if (vecK) {
    nw = toF32(raw[own]);
  } else {
    SmallVector<Value> vals;
    for (int64_t j = 0; j < kChunk; ++j)
      vals.push_back(toF32(raw[own + j]));
    nw = vector::FromElementsOp::create(b, vecType(kChunk, f32), vals);
  }
  return {e.fmul(v, nw), v};
}

SmallVector<Value> GemmBuilder::loadW(Value nrow, Value kc) {
  if (!s.quant)
    return loadFloat(w, nrow, s.n, kc);
  const QuantLayout &q = s.quant;
  int64_t groups = q.groups(s.k);
  Value ok = e.land(e.lt(nrow, e.idx(s.n)), e.lt(kc, e.idx(s.k)));
  // Codes: 8 bytes (int8) or 4 (int4) at the chunk, inside the row (rows
  // are padded to 16 bytes, so a chunk that starts before k ends in it).
  int64_t bytes = kChunk * q.bits / 8;
  Value byteOff = q.bits == 8 ? kc : e.div(kc, e.idx(2));
  Value ci = e.select(ok, e.add(e.mul(nrow, e.idx(q.rowBytes)), byteOff),
                      e.idx(0));
  SmallVector<Value> raw{rawVector(codes, ci, bytes)};
  Value rowBase = e.mul(e.min(nrow, e.idx(s.n - 1)), e.idx(groups));
  auto pairAt = [&](Value kk) {
    Value g = e.min(e.div(kk, e.idx(q.group)), e.idx(groups - 1));
    Value pi = e.mul(e.add(rowBase, g), e.idx(2));
    raw.push_back(rawLoad(params, pi));
    raw.push_back(rawLoad(params, e.add(pi, e.idx(1))));
  };
  if (q.group % kChunk == 0 || groups == 1) {
    pairAt(kc);
  } else {
    for (int64_t j = 0; j < kChunk; ++j)
      pairAt(e.add(kc, e.idx(j)));
  }
  return raw;
}

Value GemmBuilder::convertW(ValueRange raw, Value nrow, Value kc) {
  if (!s.quant)
    return widenFloat(raw, nrow, s.n, kc);
  const QuantLayout &q = s.quant;
  auto v8 = vecType(kChunk, f32);
  // Codes to floats without int-to-float conversions (a quarter-rate
  // instruction): an unsigned code u below 2^23 or'ed into the bits of 2^23
  // is the float 2^23 + u, so subtracting 2^23 + (offset + zero) gives
  // q - zero exactly. int8 codes become unsigned by flipping the sign bit
  // (u = q + 128).
  Type i32 = b.getI32Type();
  Value codesV = raw[0];
  Value bits;
  double bias = 8388608.0; // 2^23
  if (q.bits == 8) {
    Type i8 = b.getI8Type();
    Value flip = splat(arith::ConstantIntOp::create(b, i8, -128), kChunk);
    Value u = arith::ExtUIOp::create(
        b, vecType(kChunk, i32), arith::XOrIOp::create(b, codesV, flip));
    bits = arith::OrIOp::create(b, u, splat(e.i32(0x4B000000), kChunk));
    bias += 128;
  } else {
    // Byte j holds elements 2j (low nibble) and 2j + 1 (high nibble).
    Value wide = arith::ExtUIOp::create(b, vecType(4, i32), codesV);
    Value magic = splat(e.i32(0x4B000000), 4);
    Value lo = arith::OrIOp::create(
        b, arith::AndIOp::create(b, wide, splat(e.i32(15), 4)), magic);
    Value hi = arith::OrIOp::create(
        b, arith::ShRUIOp::create(b, wide, splat(e.i32(4), 4)), magic);
    bits = vector::ShuffleOp::create(b, lo, hi,
                                     ArrayRef<int64_t>{0, 4, 1, 5, 2, 6, 3, 7});
  }
  Value qv = vector::BitCastOp::create(b, v8, bits);
  Value scale, zero;
  if (raw.size() == 3) {
    scale = splat(toF32(raw[1]), kChunk);
    zero = splat(toF32(raw[2]), kChunk);
  } else {
    SmallVector<Value> sc, ze;
    for (int64_t j = 0; j < kChunk; ++j) {
      sc.push_back(toF32(raw[1 + 2 * j]));
      ze.push_back(toF32(raw[2 + 2 * j]));
    }
    scale = vector::FromElementsOp::create(b, v8, sc);
    zero = vector::FromElementsOp::create(b, v8, ze);
  }
  Value v = e.fmul(e.fsub(qv, e.fadd(zero, splat(e.f32(bias), kChunk))),
                  scale);
  Value ok = e.land(e.lt(nrow, e.idx(s.n)), e.lt(kc, e.idx(s.k)));
  return maskTail(e.select(ok, v, e.zeroVector(kChunk)), kc);
}

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
// Prologue and multiply
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

SmallVector<Value> GemmBuilder::multiplySimt(ValueRange acc, Value buffer) {
  // Thread (ty, tx) of the 16 x 16 grid: rows ty * tm + i, columns
  // j * 64 + tx * 4 + q (groups of four, so pairs stay together).
  Value tx = e.rem(tid, e.idx(16)), ty = e.div(tid, e.idx(16));
  Value rowOff = e.add(e.mul(buffer, e.idx(xTileSize())),
                       e.mul(ty, e.idx(t.tm)));
  Value colOff = e.add(e.mul(buffer, e.idx(wTileSize())),
                       e.mul(tx, e.idx(4)));
  SmallVector<Value> sums(acc.begin(), acc.end());
  for (int64_t kk = 0; kk < t.bk; ++kk) {
    SmallVector<Value> av, bv;
    for (int64_t i = 0; i < t.tm; i += 4) {
      Value v = e.loadVector(
          xs, e.add(e.idx(kk * t.bm + i), rowOff), 4);
      for (int64_t q = 0; q < 4; ++q)
        av.push_back(extract(v, q));
    }
    for (int64_t j = 0; j < t.tn / 4; ++j) {
      Value v = e.loadVector(
          ws, e.add(e.idx(kk * t.bn + j * 64), colOff), 4);
      for (int64_t q = 0; q < 4; ++q)
        bv.push_back(extract(v, q));
    }
    for (int64_t i = 0; i < t.tm; ++i)
      for (int64_t j = 0; j < t.tn; ++j)
        sums[i * t.tn + j] = e.fma(av[i], bv[j], sums[i * t.tn + j]);
  }
  return sums;
}

SmallVector<Value> GemmBuilder::multiplyMma(ValueRange acc, Value buffer) {
  MLIRContext *ctx = b.getContext();
  Value lane = e.rem(tid, e.idx(32)), warp = e.div(tid, e.idx(32));
  Value g = e.div(lane, e.idx(4)), tig = e.rem(lane, e.idx(4));
  Value wm0 = e.mul(e.div(warp, e.idx(t.wn)), e.idx(t.bm / t.wm));
  Value wn0 = e.mul(e.rem(warp, e.idx(t.wn)), e.idx(t.bn / t.wn));
  int64_t ld = t.ldw();
  auto f32x4 = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  bool bf16 = s.xT.isBF16();
  auto operand = [&](Value word) -> Value {
    if (bf16)
      return word;
    return LLVM::BitcastOp::create(b, vecType(2, b.getF16Type()), word);
  };
  Value xOff = e.add(e.mul(buffer, e.idx(xTileSize())), tig);
  Value wOff = e.add(e.mul(buffer, e.idx(wTileSize())), tig);
  auto word = [&](Value shared, Value row, int64_t col) {
    Value off = shared == xs ? xOff : wOff;
    return operand(memref::LoadOp::create(
        b, shared,
        ValueRange{e.add(e.mul(row, e.idx(ld)), e.add(off, e.idx(col)))}));
  };
  SmallVector<Value> sums(acc.begin(), acc.end());
  NVVM::MMATypes ptxType = bf16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  for (int64_t ks = 0; ks < t.bk / 16; ++ks) {
    // A fragments (m16 x k16, row): rows g and g + 8, word columns tig and
    // tig + 4 of the k16 step.
    SmallVector<SmallVector<Value, 4>> af;
    for (int64_t i = 0; i < t.mi(); ++i) {
      Value r = e.add(wm0, e.add(g, e.idx(i * 16)));
      Value r8 = e.add(r, e.idx(8));
      af.push_back({word(xs, r, ks * 8), word(xs, r8, ks * 8),
                    word(xs, r, ks * 8 + 4), word(xs, r8, ks * 8 + 4)});
    }
    // B fragments (k16 x n8, col): column g, k words tig and tig + 4.
    SmallVector<SmallVector<Value, 2>> bfr;
    for (int64_t j = 0; j < t.ni(); ++j) {
      Value c = e.add(wn0, e.add(g, e.idx(j * 8)));
      bfr.push_back({word(ws, c, ks * 8), word(ws, c, ks * 8 + 4)});
    }
    for (int64_t i = 0; i < t.mi(); ++i)
      for (int64_t j = 0; j < t.ni(); ++j) {
        int64_t at = (i * t.ni() + j) * 4;
        SmallVector<Value> c(sums.begin() + at, sums.begin() + at + 4);
        Value d = NVVM::MmaOp::create(
            b, f32x4, af[i], bfr[j], c, ArrayRef<int64_t>{16, 8, 16},
            std::nullopt, std::nullopt,
            std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
            std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                           NVVM::MMALayout::col});
        for (int64_t q = 0; q < 4; ++q)
          sums[at + q] =
              LLVM::ExtractValueOp::create(b, d, ArrayRef<int64_t>{q});
      }
  }
  return sums;
}

//===----------------------------------------------------------------------===//
// Epilogue
//===----------------------------------------------------------------------===//

static Value silu(KernelEmitter &e, Value v) {
  // As the elementwise kernel: v / (1 + e^-v).
  return e.fdiv(v, e.fadd(e.f32(1.0), e.exp(e.fsub(e.f32(0), v))));
}

void GemmBuilder::emitColumn(Value row, Value col, Value z) {
  // Plain: y[row, col] = z (+ bias) (+ residual).
  e.ifThen(e.land(e.lt(row, e.idx(s.m)), e.lt(col, e.idx(s.n))), [&] {
    Value v = z;
    if (bias)
      v = e.fadd(v, e.load(bias, col));
    Value i = e.add(e.mul(row, e.idx(s.n)), col);
    if (residual)
      v = e.fadd(v, e.load(residual, i));
    e.store(y, i, v);
  });
}

void GemmBuilder::emitPair(Value row, Value col, Value z0, Value z1) {
  if (!s.swiglu && !s.qkv) {
    emitColumn(row, col, z0);
    emitColumn(row, e.add(col, e.idx(1)), z1);
    return;
  }
  // n is even here: the pair is in or out as a whole.
  e.ifThen(e.land(e.lt(row, e.idx(s.m)), e.lt(col, e.idx(s.n))), [&] {
    Value col1 = e.add(col, e.idx(1));
    if (bias) {
      z0 = e.fadd(z0, e.load(bias, col));
      z1 = e.fadd(z1, e.load(bias, col1));
    }
    if (s.swiglu) {
      int64_t width = s.n / 2;
      Value i = e.add(e.mul(row, e.idx(width)), e.div(col, e.idx(2)));
      Value v = e.fmul(silu(e, z0), z1);
      if (residual)
        v = e.fadd(v, e.load(residual, i));
      e.store(y, i, v);
      return;
    }
    // qkv: head hc of the [q | k | v] columns; d = col % headDim is even.
    int64_t dim = s.headDim, half = dim / 2;
    Value hc = e.div(col, e.idx(dim)), d = e.rem(col, e.idx(dim));
    Value p = e.add(pos, row);
    e.ifThenElse(
        e.lt(hc, e.idx(s.heads + s.kvHeads)),
        [&] {
          // RoPE as RowKernels' rope: pair (i, i + half) at position p.
          Value i = e.div(d, e.idx(2));
          Value angle = e.fmul(e.indexToF32(p),
                               memref::LoadOp::create(b, freqs, ValueRange{i}));
          std::pair<Value, Value> sc = e.sinCos(angle);
          Value sin = sc.first, cos = sc.second;
          Value o1 = e.fsub(e.fmul(z0, cos), e.fmul(z1, sin));
          Value o2 = e.fadd(e.fmul(z1, cos), e.fmul(z0, sin));
          e.ifThenElse(
              e.lt(hc, e.idx(s.heads)),
              [&] {
                Value base = e.mul(
                    e.add(e.mul(row, e.idx(s.heads)), hc), e.idx(dim));
                Value i1 = e.add(base, i);
                e.store(y, i1, o1);
                e.store(y, e.add(i1, e.idx(half)), o2);
              },
              [&] {
                e.ifThen(e.lt(p, e.idx(s.capacity)), [&] {
                  Value h = e.sub(hc, e.idx(s.heads));
                  Value base = e.mul(
                      e.add(e.mul(h, e.idx(s.capacity)), p), e.idx(dim));
                  Value i1 = e.add(base, i);
                  e.store(kCache, i1, o1);
                  e.store(kCache, e.add(i1, e.idx(half)), o2);
                });
              });
        },
        [&] {
          e.ifThen(e.lt(p, e.idx(s.capacity)), [&] {
            Value h = e.sub(hc, e.idx(s.heads + s.kvHeads));
            Value i1 = e.add(
                e.mul(e.add(e.mul(h, e.idx(s.capacity)), p), e.idx(dim)), d);
            e.store(vCache, i1, z0);
            e.store(vCache, e.add(i1, e.idx(1)), z1);
          });
        });
  });
}

Value GemmBuilder::scaleRow(Value z, Value rowLocal) {
  if (!s.normT)
    return z;
  return e.fmul(z, memref::LoadOp::create(b, invRows, ValueRange{rowLocal}));
}

void GemmBuilder::epilogueSimt(ValueRange acc) {
  Value tx = e.rem(tid, e.idx(16)), ty = e.div(tid, e.idx(16));
  for (int64_t i = 0; i < t.tm; ++i) {
    Value rl = e.add(e.mul(ty, e.idx(t.tm)), e.idx(i));
    Value row = e.add(m0, rl);
    for (int64_t j = 0; j < t.tn / 4; ++j)
      for (int64_t q = 0; q < 4; q += 2) {
        Value col = e.add(n0, e.add(e.mul(tx, e.idx(4)),
                                    e.idx(j * 64 + q)));
        emitPair(row, col, scaleRow(acc[i * t.tn + j * 4 + q], rl),
                 scaleRow(acc[i * t.tn + j * 4 + q + 1], rl));
      }
  }
}

void GemmBuilder::epilogueMma(ValueRange acc) {
  // Accumulator fragment: c0, c1 at row g, columns 2 tig, 2 tig + 1; c2,
  // c3 at row g + 8.
  Value lane = e.rem(tid, e.idx(32)), warp = e.div(tid, e.idx(32));
  Value g = e.div(lane, e.idx(4)), tig = e.rem(lane, e.idx(4));
  Value wm0 = e.mul(e.div(warp, e.idx(t.wn)), e.idx(t.bm / t.wm));
  Value wn0 = e.mul(e.rem(warp, e.idx(t.wn)), e.idx(t.bn / t.wn));
  for (int64_t i = 0; i < t.mi(); ++i)
    for (int64_t j = 0; j < t.ni(); ++j) {
      int64_t at = (i * t.ni() + j) * 4;
      Value rl = e.add(wm0, e.add(g, e.idx(i * 16)));
      Value rl8 = e.add(rl, e.idx(8));
      Value col = e.add(n0, e.add(wn0, e.add(e.mul(tig, e.idx(2)),
                                             e.idx(j * 8))));
      emitPair(e.add(m0, rl), col, scaleRow(acc[at], rl),
               scaleRow(acc[at + 1], rl));
      emitPair(e.add(m0, rl8), col, scaleRow(acc[at + 2], rl8),
               scaleRow(acc[at + 3], rl8));
    }
}

//===----------------------------------------------------------------------===//
// The kernel
//===----------------------------------------------------------------------===//

void GemmBuilder::build(ValueRange a, ValueRange wg) {
  size_t next = 0;
  x = a[next++];
  if (s.quant) {
    codes = a[next++];
    params = a[next++];
  } else {
    w = a[next++];
  }
  if (s.biasT)
    bias = a[next++];
  if (s.normT)
    normW = a[next++];
  if (s.residualT)
    residual = a[next++];
  y = a[next++];
  if (s.qkv) {
    kCache = a[next++];
    vCache = a[next++];
    scalars = a[next++];
  }
  size_t at = 0;
  if (s.normT)
    invRows = wg[at++];
  xs = wg[at++];
  ws = wg[at++];

  tid = e.threadId();
  n0 = e.mul(e.blockId(gpu::Dimension::x), e.idx(t.bn));
  m0 = e.mul(e.blockId(gpu::Dimension::y), e.idx(t.bm));
  if (s.qkv) {
    freqs = memref::GetGlobalOp::create(
        b, KernelLibrary::flat(s.headDim / 2, f32), freqTable);
    pos = e.i32ToIndex(
        memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
  }

  // Two buffers per operand: tile i is multiplied from buffer i % 2 while
  // tile i + 1 is stored to the other and tile i + 2 is loaded into
  // registers, one barrier per tile. Loop-carried: the accumulators, the
  // norm's sums of squares (one per x staging pass), the raw loads of the
  // tile after next.
  int64_t accs = t.mma ? t.mi() * t.ni() * 4 : t.tm * t.tn;
  int64_t squares = s.normT ? xPasses() : 0;
  SmallVector<Value> zeros(squares, e.f32(0));
  SmallVector<Value> init(accs, e.f32(0));
  init.append(storeTile(loadTile(e.idx(0)), e.idx(0), zeros, e.idx(0)));
  init.append(loadTile(e.idx(t.bk)));
  e.barrier();
  int64_t kTiles = ceilDiv(s.k, t.bk);
  SmallVector<Value> result = e.forRange(
      e.idx(0), e.idx(kTiles * t.bk), e.idx(t.bk), init,
      [&](Value k0, ValueRange it) -> SmallVector<Value> {
        Value buffer = e.rem(e.div(k0, e.idx(t.bk)), e.idx(2));
        SmallVector<Value> next =
            t.mma ? multiplyMma(it.take_front(accs), buffer)
                  : multiplySimt(it.take_front(accs), buffer);
        // Past the end of k the tile is zeros (and adds nothing).
        SmallVector<Value> sq =
            storeTile(it.drop_front(accs + squares), e.add(k0, e.idx(t.bk)),
                      it.slice(accs, squares), e.sub(e.idx(1), buffer));
        SmallVector<Value> raw = loadTile(e.add(k0, e.idx(2 * t.bk)));
        e.barrier();
        next.append(sq);
        next.append(raw);
        return next;
      });
  ValueRange acc = ValueRange(result).take_front(accs);
  if (s.normT)
    normFactors(ValueRange(result).slice(accs, squares));
  if (t.mma)
    epilogueMma(acc);
  else
    epilogueSimt(acc);
}

KernelLaunch KernelLibrary::fusedGemm(const LinearSpec &spec,
                                      const GemmConfig &t) {
  const LinearSpec &s = spec;
  assert(s.m >= 1 && s.n >= 1 && s.k >= 1 && "empty GEMM");
  assert((!s.swiglu || s.n % 2 == 0) && "swiglu needs column pairs");
  assert((!s.qkv || (s.n == (s.heads + 2 * s.kvHeads) * s.headDim &&
                     s.headDim % 2 == 0 &&
                     int64_t(s.invFreqs.size()) == s.headDim / 2 &&
                     !s.residualT && !s.swiglu)) &&
         "qkv: n is (heads + 2 kvHeads) headDim");
  assert((!s.quant || s.quant.bits == 8 || s.quant.bits == 4) &&
         "int8 or int4 codes");
  MLIRContext *ctx = module.getContext();
  Type i32 = IntegerType::get(ctx, 32);

  std::string table;
  if (s.qkv)
    table = constantTable("rope_inv_freq", s.invFreqs);

  // The plain GEMM keeps the name of LinearKernels' gemm.
  std::string wName =
      s.quant ? llvm::formatv("q{0}g{1}{2}", s.quant.bits, s.quant.group,
                              typeName(s.quant.scaleT))
                    .str()
              : typeName(s.wT);
  std::string name = llvm::formatv("gemm_m{0}_n{1}_k{2}_{3}_{4}", s.m, s.n,
                                   s.k, typeName(s.xT), wName);
  if (s.biasT)
    name += "_bias_" + typeName(s.biasT);
  if (s.normT)
    name += "_norm_" + typeName(s.normT) + "_eps" + floatName(s.eps);
  if (s.swiglu)
    name += "_swiglu";
  if (s.qkv)
    name += llvm::formatv("_qkv_h{0}_kv{1}_d{2}_s{3}_{4}_{5}", s.heads,
                          s.kvHeads, s.headDim, s.capacity,
                          table.substr(table.rfind('_') + 1),
                          typeName(s.cacheT))
                .str();
  if (s.residualT)
    name += "_res_" + typeName(s.residualT);
  name += "_" + typeName(s.yT);
  if (t.forced)
    name += llvm::formatv("_tile{0}x{1}", t.bm, t.bn).str();

  SmallVector<Type> args = linearArgTypes(ctx, s, scalarsType());

  SmallVector<int64_t> wgF32;
  SmallVector<Type> wgOther;
  if (s.normT)
    wgF32.push_back(t.bm);
  // Two buffers each of the x and W tiles.
  if (t.mma) {
    wgOther.push_back(flat(2 * t.bm * t.ldw(), i32));
    wgOther.push_back(flat(2 * t.bn * t.ldw(), i32));
  } else {
    wgF32.push_back(2 * t.bk * t.bm);
    wgF32.push_back(2 * t.bk * t.bn);
  }

  auto fn = getOrBuild(name, args, wgF32, kThreads,
                       [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
                         GemmBuilder(e, s, t, table).build(a, wg);
                       },
                       wgOther);
  // Two blocks per SM: registers capped at 128 a thread (the 128 x 128
  // tiles need about that many).
  fn->setAttr("nvvm.minctasm", IntegerAttr::get(i32, 2));
  fn->setAttr(KernelConfig::kAttrName, config.attr(ctx, t));
  // Tiles are read with 16-byte vector loads.
  for (unsigned i = 0, e = fn.getNumWorkgroupAttributions(); i < e; ++i)
    fn.setWorkgroupAttributionAttr(i, "llvm.align",
                                   IntegerAttr::get(IntegerType::get(ctx, 64),
                                                    16));
  return {fn,
          {ceilDiv(s.n, t.bn), ceilDiv(s.m, t.bm), 1},
          {kThreads, 1, 1}};
}
