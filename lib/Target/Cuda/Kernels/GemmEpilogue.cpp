//===- GemmEpilogue.cpp - the prefill GEMM's epilogues --------------------===//
//
// From the accumulators to the outputs: each thread owns its output columns
// in adjacent pairs (2i, 2i + 1), which is what SwiGLU (gate, up) and RoPE
// (rotate-half partners in pair order) need: the norm factor r, bias, then
// the residual, SwiGLU or the qkv scatter (RoPE of q and k at position
// pos + r with RowKernels' angle math, q to y in rotate-half layout, k and v
// into the caches). Rows and columns past the edges are skipped.
//
//===----------------------------------------------------------------------===//

#include "GemmBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemm;

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
