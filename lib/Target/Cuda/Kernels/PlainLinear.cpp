//===- PlainLinear.cpp - x * W^T with nothing fused: the GEMV and GEMM ---===//
//
// The kernels of a plain tfm.linear on float weights (quantized and fused
// linears take FusedGemv.cpp and GemmKernels.cpp).
//
// Decode is bandwidth bound: every weight byte is read once per token, so
// the GEMV is built to keep the memory system busy. A warp owns one output
// row; each lane reads 16 bytes of the row per load (8 halves or 4 floats),
// the warp covers 512 contiguous bytes per step, four steps are in flight
// per loop iteration, and the lanes' partial sums meet through butterfly
// shuffles. Eight warps (eight rows) per block.
//
// Prefill is compute bound: the GEMM tiles the output 64x64 per block of
// 256 threads, stages 64x16 tiles of x and W through shared memory as f32,
// and each thread accumulates a 4x4 patch in registers.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

KernelLaunch KernelLibrary::gemv(int64_t n, int64_t k, Type xT, Type wT,
                                 Type biasT, Type yT) {
  constexpr int64_t warps = 8, block = warps * 32, unroll = 4;
  // x and W are read with the same element offsets, so one width for both.
  int64_t vw = std::min(vectorWidth(wT, k), vectorWidth(xT, k));
  int64_t step = 32 * vw;
  int64_t mainEnd = k / (step * unroll) * (step * unroll);
  std::string name = llvm::formatv(
      "gemv_n{0}_k{1}_{2}_{3}{4}_{5}", n, k, typeName(xT), typeName(wT),
      biasT ? "_bias_" + typeName(biasT) : "", typeName(yT));
  SmallVector<Type> args{flat(k, xT), flat(n * k, wT)};
  if (biasT)
    args.push_back(flat(n, biasT));
  args.push_back(flat(n, yT));
  auto fn = getOrBuild(
      name, args, {}, block, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        Value x = a[0], w = a[1], y = a.back();
        Value tid = e.threadId();
        Value lane = e.rem(tid, e.idx(32));
        Value row =
            e.add(e.mul(e.blockId(), e.idx(warps)), e.div(tid, e.idx(32)));
        // The whole warp agrees on `row`, so the shuffles stay convergent.
        e.ifThen(e.lt(row, e.idx(n)), [&] {
          Value rowBase = e.mul(row, e.idx(k));
          Value laneOff = e.mul(lane, e.idx(vw));
          Value acc = e.zeroVector(vw);
          if (mainEnd > 0)
            acc = e.forRange(
                e.idx(0), e.idx(mainEnd), e.idx(step * unroll), {acc},
                [&](Value i, ValueRange it) -> SmallVector<Value> {
                  Value base = e.add(i, laneOff);
                  SmallVector<Value> ws, xs;
                  // All loads first: four 16-byte requests in flight.
                  for (int64_t u = 0; u < unroll; ++u) {
                    Value col = e.add(base, e.idx(u * step));
                    ws.push_back(e.loadVector(w, e.add(rowBase, col), vw));
                    xs.push_back(e.loadVector(x, col, vw));
                  }
                  Value s = it[0];
                  for (int64_t u = 0; u < unroll; ++u)
                    s = e.vfma(ws[u], xs[u], s);
                  return {s};
                })[0];
          if (mainEnd < k)
            acc = e.forRange(
                e.add(e.idx(mainEnd), laneOff), e.idx(k), e.idx(step), {acc},
                [&](Value col, ValueRange it) -> SmallVector<Value> {
                  return {e.vfma(e.loadVector(w, e.add(rowBase, col), vw),
                                 e.loadVector(x, col, vw), it[0])};
                })[0];
          Value sum = e.warpSum(e.vectorSum(acc));
          e.ifThen(e.eq(lane, e.idx(0)), [&] {
            Value out = biasT ? e.fadd(sum, e.load(a[2], row)) : sum;
            e.store(y, row, out);
          });
        });
      });
  return {fn, {(n + warps - 1) / warps, 1, 1}, {block, 1, 1}};
}

KernelLaunch KernelLibrary::gemm(int64_t m, int64_t n, int64_t k, Type xT,
                                 Type wT, Type biasT, Type yT) {
  constexpr int64_t tm = 64, tn = 64, tk = 16, block = 256, per = 4;
  std::string name = llvm::formatv(
      "gemm_m{0}_n{1}_k{2}_{3}_{4}{5}_{6}", m, n, k, typeName(xT), typeName(wT),
      biasT ? "_bias_" + typeName(biasT) : "", typeName(yT));
  SmallVector<Type> args{flat(m * k, xT), flat(n * k, wT)};
  if (biasT)
    args.push_back(flat(n, biasT));
  args.push_back(flat(m * n, yT));
  auto fn = getOrBuild(
      name, args, {tk * tm, tk * tn}, block,
      [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        Value x = a[0], w = a[1], y = a.back();
        Value xs = wg[0], ws = wg[1];
        Value tid = e.threadId();
        Value tx = e.rem(tid, e.idx(16)), ty = e.div(tid, e.idx(16));
        Value n0 = e.mul(e.blockId(gpu::Dimension::x), e.idx(tn));
        Value m0 = e.mul(e.blockId(gpu::Dimension::y), e.idx(tm));
        // Tile loads: thread t brings row t/4, columns (t%4)*4 .. +3.
        Value lr = e.div(tid, e.idx(4));
        Value lc = e.mul(e.rem(tid, e.idx(4)), e.idx(4));
        auto stage = [&](Value src, Value shared, Value r0, int64_t rowsTotal,
                         int64_t tileRows, Value k0) {
          Value r = e.add(r0, lr);
          Value inRows = e.lt(r, e.idx(rowsTotal));
          Value safeRow = e.min(r, e.idx(rowsTotal - 1));
          for (int64_t q = 0; q < 4; ++q) {
            Value kk = e.add(lc, e.idx(q));
            Value col = e.add(k0, kk);
            Value ok = e.land(inRows, e.lt(col, e.idx(k)));
            Value safeCol = e.min(col, e.idx(k - 1));
            Value v = e.load(src, e.add(e.mul(safeRow, e.idx(k)), safeCol));
            v = e.select(ok, v, e.f32(0));
            memref::StoreOp::create(
                e.builder(), v, shared,
                ValueRange{e.add(e.mul(kk, e.idx(tileRows)), lr)});
          }
        };
        SmallVector<Value> init(per * per, e.f32(0));
        SmallVector<Value> acc = e.forRange(
            e.idx(0), e.idx(k), e.idx(tk), init,
            [&](Value k0, ValueRange it) -> SmallVector<Value> {
              stage(x, xs, m0, m, tm, k0);
              stage(w, ws, n0, n, tn, k0);
              e.barrier();
              SmallVector<Value> sums(it.begin(), it.end());
              for (int64_t kk = 0; kk < tk; ++kk) {
                SmallVector<Value> av, bv;
                for (int64_t i = 0; i < per; ++i)
                  av.push_back(memref::LoadOp::create(
                      e.builder(), xs,
                      ValueRange{e.add(e.idx(kk * tm + i * 16), ty)}));
                for (int64_t j = 0; j < per; ++j)
                  bv.push_back(memref::LoadOp::create(
                      e.builder(), ws,
                      ValueRange{e.add(e.idx(kk * tn + j * 16), tx)}));
                for (int64_t i = 0; i < per; ++i)
                  for (int64_t j = 0; j < per; ++j)
                    sums[i * per + j] = e.fma(av[i], bv[j], sums[i * per + j]);
              }
              e.barrier();
              return sums;
            });
        for (int64_t i = 0; i < per; ++i) {
          Value row = e.add(m0, e.add(ty, e.idx(i * 16)));
          for (int64_t j = 0; j < per; ++j) {
            Value col = e.add(n0, e.add(tx, e.idx(j * 16)));
            e.ifThen(e.land(e.lt(row, e.idx(m)), e.lt(col, e.idx(n))), [&] {
              Value v = acc[i * per + j];
              if (biasT)
                v = e.fadd(v, e.load(a[2], col));
              e.store(y, e.add(e.mul(row, e.idx(n)), col), v);
            });
          }
        }
      });
  return {fn, {(n + tn - 1) / tn, (m + tm - 1) / tm, 1}, {block, 1, 1}};
}
