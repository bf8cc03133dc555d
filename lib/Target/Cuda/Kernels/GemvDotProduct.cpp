//===- GemvDotProduct.cpp - the decode GEMV's arithmetic ------------------===//
//
// One iteration's products of x and the loaded weight chunks, with
// quantized weights dequantized on the way.
//
// Quantized codes are dequantized in f32 without conversions: a PRMT puts a
// code byte (int8, sign bit flipped) or a masked nibble (int4) under the
// exponent of 2^23, so the float is 2^23 + q exactly; subtracting
// 2^23 + zero gives q - zero. A chunk lies in one group, so its 16 or 32
// products are summed and multiplied by the group's scale once. For int4
// with 16-bit activations the PRMT puts the nibble under 0.5's exponent
// instead (d = 0.5 + q/256, exact) and the subtraction moves out of the
// loop: sum x (q - zero) = 256 sum x d - (128 + zero) sum x, with each
// chunk's sum of x computed once per block while x is staged.
// Per weight element and row: int4 1 PRMT + 1 FFMA + 3/8 LOP/SHF (f32
// activations: + 1 FADD); int8 1 PRMT + 1 FADD + 1 FFMA + 1/4 LOP;
// f16/bf16 1 CVT + 1 FFMA; x costs one 16-byte shared load per 4 elements,
// shared by the two rows.
//
//===----------------------------------------------------------------------===//

#include "GemvBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemv;

Value GemvBuilder::zeroBias(Value zero) {
  // 2^23 (+ 128: int8 codes have their sign bit flipped) + zero.
  return e.fadd(zero, e.f32(s.quant.bits == 8 ? 8388736.0 : 8388608.0));
}

void GemvBuilder::dotQuantized(ArrayRef<Value> xs, Value xsum, Value raw,
                               Value scale, Value zero, Value *racc) {
  SmallVector<Value> part(4, e.f32(0));
  if (l.cheapInt4) {
    // PRMT puts a masked nibble byte under 0.5's exponent: d = 0.5 + q / 256
    // exactly, so with P = sum x d and S = sum x:
    // sum x (q - zero) = 256 P - (128 + zero) S. No subtraction per element;
    // the error stays near f32 rounding of the chunk's sum of |x| / 2.
    for (int64_t wi = 0; wi < 4; ++wi) {
      Value word = extract(b, raw, wi);
      Value lo = arith::AndIOp::create(b, word, nibbles);
      Value hi = arith::AndIOp::create(
          b, arith::ShRUIOp::create(b, word, i32Const(b, 4)), nibbles);
      for (int64_t byte = 0; byte < 4; ++byte) {
        Value sel = i32Const(b, 0x7044 | (byte << 8));
        int64_t j = wi * 8 + byte * 2;
        Value dl = arith::BitcastOp::create(b, f32, prmt(b, lo, halfBits, sel));
        Value dh = arith::BitcastOp::create(b, f32, prmt(b, hi, halfBits, sel));
        part[j % 4] = e.fma(xs[j], dl, part[j % 4]);
        part[(j + 1) % 4] = e.fma(xs[j + 1], dh, part[(j + 1) % 4]);
      }
    }
    Value p = e.fadd(e.fadd(part[0], part[1]), e.fadd(part[2], part[3]));
    Value dot =
        e.fma(e.f32(256.0), p,
              e.fmul(e.fsub(e.f32(0), e.fadd(zero, e.f32(128.0))), xsum));
    racc[0] = e.fma(scale, dot, racc[0]);
    return;
  }
  Value zb = zeroBias(zero);
  auto dequant = [&](Value src, int64_t byte) {
    Value bits = prmt(b, src, magic, i32Const(b, 0x7440 | byte));
    return e.fsub(arith::BitcastOp::create(b, f32, bits), zb);
  };
  for (int64_t wi = 0; wi < 4; ++wi) {
    Value word = extract(b, raw, wi);
    if (s.quant.bits == 8) {
      // Signed bytes, sign bit flipped: q + 128 in [0, 255].
      Value flipped =
          arith::XOrIOp::create(b, word, i32Const(b, int32_t(0x80808080u)));
      for (int64_t byte = 0; byte < 4; ++byte) {
        int64_t j = wi * 4 + byte;
        part[j % 4] = e.fma(xs[j], dequant(flipped, byte), part[j % 4]);
      }
      continue;
    }
    // Element 8 wi + 2 byte in the low nibble of a byte, 8 wi + 2 byte + 1
    // in the high one.
    Value lo = arith::AndIOp::create(b, word, nibbles);
    Value hi = arith::AndIOp::create(
        b, arith::ShRUIOp::create(b, word, i32Const(b, 4)), nibbles);
    for (int64_t byte = 0; byte < 4; ++byte) {
      int64_t j = wi * 8 + byte * 2;
      part[j % 4] = e.fma(xs[j], dequant(lo, byte), part[j % 4]);
      part[(j + 1) % 4] =
          e.fma(xs[j + 1], dequant(hi, byte), part[(j + 1) % 4]);
    }
  }
  for (int j = 0; j < 4; ++j)
    racc[j] = e.fma(scale, part[j], racc[j]);
}

// One iteration's arithmetic: acc holds 4 independent chains per row, then
// sum(x^2) without staging.
SmallVector<Value>
GemvBuilder::computeIter(Value step, ValueRange loaded, ValueRange accIn,
                         const std::function<void(int64_t)> &afterSlot) {
  SmallVector<Value> acc(accIn.begin(), accIn.end());
  Value ss = l.norm && !l.shared ? acc.back() : Value();
  unsigned li = 0;
  Value rowScale[2], rowZero[2];
  if (l.hoistParams)
    for (int r = 0; r < 2; ++r) {
      Value sz = toF32(b, loaded[li++]);
      rowScale[r] = extract(b, sz, 0);
      rowZero[r] = extract(b, sz, 1);
    }
  for (int64_t u = 0; u < l.unroll; ++u) {
    Value c = chunkOf(step, u);
    SmallVector<Value> xs = xChunk(c, ss);
    Value xsum;
    if (l.cheapInt4)
      xsum = memref::LoadOp::create(
          b, wg[l.sumsIndex],
          ValueRange{ix(l.partial ? e.min(c, I(l.chunks)) : c)});
    for (int r = 0; r < 2; ++r) {
      Value raw = loaded[li++];
      Value *racc = &acc[r * 4];
      if (!l.quant) {
        Value wv = toF32(b, raw);
        for (int64_t j = 0; j < l.epv; ++j)
          racc[j % 4] = e.fma(xs[j], extract(b, wv, j), racc[j % 4]);
        continue;
      }
      Value scale = rowScale[r], zero = rowZero[r];
      if (!l.hoistParams) {
        Value sz = toF32(b, loaded[li++]);
        scale = extract(b, sz, 0);
        zero = extract(b, sz, 1);
      }
      dotQuantized(xs, xsum, raw, scale, zero, racc);
    }
    afterSlot(u);
  }
  if (ss)
    acc.back() = ss;
  return acc;
}
