//===- SampleKernel.cpp - choose the next token on the device -------------===//
//
// One block of 1024 threads scans the logits. With temperature 0 it is an
// argmax that keeps the lowest index on ties (as the host sampler and
// torch.argmax do). Otherwise it draws from softmax(logits / T) by the
// Gumbel-max trick: argmax(logits / T + G) with G = -ln(-ln U) is an exact
// sample of that distribution, and needs no sort and no second pass. U
// comes from a counter-based hash of (seed, counter, index), so a replayed
// graph draws fresh numbers once the host bumps the counter.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/FormatVariadic.h"

#include <limits>

using namespace mlir;
using namespace monocard::gpu_kernels;

/// murmur3's 32-bit finalizer over a mix of the three inputs.
static Value hash32(KernelEmitter &e, Value seed, Value counter, Value index) {
  auto &b = e.builder();
  auto mulc = [&](Value v, uint32_t c) {
    return arith::MulIOp::create(b, v, e.i32(int32_t(c)));
  };
  auto xorv = [&](Value x, Value y) { return arith::XOrIOp::create(b, x, y); };
  auto shr = [&](Value v, int s) {
    return arith::ShRUIOp::create(b, v, e.i32(s));
  };
  Value x = xorv(mulc(index, 0x9E3779B1u), seed);
  x = xorv(x, mulc(counter, 0x85EBCA77u));
  x = xorv(x, shr(x, 16));
  x = mulc(x, 0x85EBCA6Bu);
  x = xorv(x, shr(x, 13));
  x = mulc(x, 0xC2B2AE35u);
  return xorv(x, shr(x, 16));
}

KernelLaunch KernelLibrary::sample(int64_t vocab) {
  constexpr int64_t block = 1024, warps = block / 32;
  Type i32 = IntegerType::get(module.getContext(), 32);
  std::string name = llvm::formatv("sample_v{0}", vocab);
  auto fn = getOrBuild(
      name, {flat(vocab, Float32Type::get(module.getContext())), scalarsType()},
      {warps}, block,
      [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        auto &b = e.builder();
        Value logits = a[0], scalars = a[1];
        Value bestVals = wg[0], bestIdx = wg[1];
        auto scalar = [&](int64_t slot) {
          return memref::LoadOp::create(b, scalars, ValueRange{e.idx(slot)})
              .getResult();
        };
        Value temperature =
            arith::BitcastOp::create(b, b.getF32Type(), scalar(kTemperature));
        Value seed = scalar(kSeed), counter = scalar(kCounter);
        Value sampling = e.fgt(temperature, e.f32(0));
        Value invT = e.fdiv(e.f32(1.0), temperature);
        Value tid = e.threadId();
        Value lane = e.rem(tid, e.idx(32)), warp = e.div(tid, e.idx(32));
        Value ninf = e.f32(-std::numeric_limits<float>::infinity());
        Value none = e.i32(vocab);
        // (a, ia) beats (c, ic) if larger, or equal with a lower index.
        auto better = [&](Value av, Value ai, Value cv, Value ci) {
          Value gt = e.fgt(av, cv);
          Value tie = e.land(e.feq(av, cv),
                             arith::CmpIOp::create(
                                 b, arith::CmpIPredicate::slt, ai, ci));
          return arith::OrIOp::create(b, gt, tie).getResult();
        };
        SmallVector<Value> best = e.forRange(
            tid, e.idx(vocab), e.idx(block), {ninf, none},
            [&](Value i, ValueRange it) -> SmallVector<Value> {
              Value v = e.load(logits, i);
              Value ii = arith::IndexCastOp::create(b, i32, i);
              Value bits = hash32(e, seed, counter, ii);
              // U in (0, 1): 24 random bits, centred in their interval.
              Value u = e.fmul(
                  e.fadd(arith::UIToFPOp::create(
                             b, b.getF32Type(),
                             arith::ShRUIOp::create(b, bits, e.i32(8))),
                         e.f32(0.5)),
                  e.f32(1.0 / 16777216.0));
              Value gumbel = e.fsub(e.f32(0), e.log(e.fsub(e.f32(0), e.log(u))));
              Value score =
                  e.select(sampling, e.fadd(e.fmul(v, invT), gumbel), v);
              Value take = better(score, ii, it[0], it[1]);
              return {e.select(take, score, it[0]), e.select(take, ii, it[1])};
            });
        auto warpArgmax = [&](Value v, Value i) -> std::pair<Value, Value> {
          Value width = e.i32(32);
          for (int off = 16; off >= 1; off /= 2) {
            Value o = e.i32(off);
            Value ov = gpu::ShuffleOp::create(b, v, o, width,
                                              gpu::ShuffleMode::XOR)
                           .getShuffleResult();
            Value oi = gpu::ShuffleOp::create(b, i, o, width,
                                              gpu::ShuffleMode::XOR)
                           .getShuffleResult();
            Value take = better(ov, oi, v, i);
            v = e.select(take, ov, v);
            i = e.select(take, oi, i);
          }
          return {v, i};
        };
        std::pair<Value, Value> warpBest = warpArgmax(best[0], best[1]);
        Value wv = warpBest.first, wi = warpBest.second;
        e.ifThen(e.eq(lane, e.idx(0)), [&] {
          memref::StoreOp::create(b, wv, bestVals, ValueRange{warp});
          memref::StoreOp::create(b, wi, bestIdx, ValueRange{warp});
        });
        e.barrier();
        e.ifThen(e.eq(warp, e.idx(0)), [&] {
          Value v = memref::LoadOp::create(b, bestVals, ValueRange{lane});
          Value i = memref::LoadOp::create(b, bestIdx, ValueRange{lane});
          Value fi = warpArgmax(v, i).second;
          e.ifThen(e.eq(lane, e.idx(0)), [&] {
            // No finite logit at all (NaNs): fall back to token 0.
            Value token = e.select(
                arith::CmpIOp::create(b, arith::CmpIPredicate::slt, fi, none),
                fi, e.i32(0));
            memref::StoreOp::create(b, token, scalars,
                                    ValueRange{e.idx(kNextToken)});
          });
        });
      },
      {MemRefType::get({warps}, i32)});
  return {fn, {1, 1, 1}, {block, 1, 1}};
}
