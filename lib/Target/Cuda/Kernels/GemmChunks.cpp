//===- GemmChunks.cpp - the prefill GEMM's chunks of x and W --------------===//
//
// One staging chunk (GemmStaging.cpp): 8 consecutive k elements of a row of
// x or W, loaded a tile ahead into registers (one 16-byte load for 16-bit
// floats, 8 or 4 bytes of codes for int8/int4, clamped addresses) and then
// turned into f32: x * normW for the RMSNorm prologue, (q - zero) * scale
// for quantized W, zeros past the edges. Full-precision weights never exist
// in global memory.
//
//===----------------------------------------------------------------------===//

#include "GemmBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemm;

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
