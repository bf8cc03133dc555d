//===- FusedGemv.cpp - the fused decode GEMV of a LinearSpec --------------===//
//
// Decode is bandwidth bound: every weight byte is read once per token. The
// layout of the work and its instruction budget are described below.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstdlib>

using namespace mlir;
using namespace monocard::gpu_kernels;

// A warp owns a PAIR of adjacent weight rows (2i, 2i + 1): SwiGLU's gate
// and up rows and RoPE's rotate-half partners are neighbours after the
// packer's pair_rows, so the epilogue finds both in one warp, and every x
// element a lane reads serves two rows. Eight warps per block.
//
// Weights are read in 16-byte "chunks" (8 halves, 4 floats, 16 int8 or 32
// int4 codes); lane l of a warp takes chunks l, l + 32, ... of its rows, so
// a warp reads 512 contiguous bytes of a row per chunk slot, and a step of
// U slots (U = 4) has 2 x U loads per lane in flight. The loop's index
// arithmetic is 32-bit (every extent is a constant below 2^31).
//
// The grid is persistent (blocksPerSM blocks per SM, 132 SMs): each warp
// loops over row pairs gw, gw + warps, ... and over their steps as ONE
// software pipeline: the loads of iteration it + 1 (the next step, or the
// next pair's first) are issued before iteration it's arithmetic, and the
// very first ones before x is staged. A finished pair's two dot products
// wait in shared memory; the epilogues (bias, SwiGLU, RoPE and the cache
// writes, residual, stores) run after the loop, a lane per pair, so none of
// their registers are live while loads are in flight.
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

namespace {

constexpr int64_t kGemvWarps = 8; // a row pair per warp
constexpr int64_t kGemvBlock = kGemvWarps * 32;
constexpr int64_t kStaticSharedBytes = 48 * 1024;

std::string floatName(double v) {
  std::string s = llvm::formatv("{0:e}", v).str();
  for (char &c : s)
    if (c == '.')
      c = 'd';
    else if (c == '+')
      c = 'p';
    else if (c == '-')
      c = 'm';
  return s;
}

/// Weight elements per 16-byte chunk of a row.
int64_t chunkElements(const LinearSpec &s) {
  if (s.quant)
    return 128 / s.quant.bits;
  return vectorWidth(s.wT, s.k);
}

/// `prefix`_n.._k.._x_w[_bias_T][_norm_T_epsE][_swiglu][_res_T][_qkv_..]_y.
std::string linearName(StringRef prefix, const LinearSpec &s,
                       StringRef tableHash) {
  std::string name = prefix.str();
  if (s.m != 1)
    name += llvm::formatv("_m{0}", s.m).str();
  name += llvm::formatv("_n{0}_k{1}_{2}_", s.n, s.k, typeName(s.xT)).str();
  if (s.quant)
    name += llvm::formatv("i{0}g{1}{2}", s.quant.bits, s.quant.group,
                          typeName(s.quant.scaleT))
                .str();
  else
    name += typeName(s.wT);
  if (s.biasT)
    name += "_bias_" + typeName(s.biasT);
  if (s.normT)
    name += "_norm_" + typeName(s.normT) + "_eps" + floatName(s.eps);
  if (s.swiglu)
    name += "_swiglu";
  if (s.residualT)
    name += "_res_" + typeName(s.residualT);
  if (s.qkv)
    name += llvm::formatv("_qkv_h{0}_kv{1}_d{2}_s{3}_{4}_{5}", s.heads,
                          s.kvHeads, s.headDim, s.capacity, tableHash,
                          typeName(s.cacheT))
                .str();
  return name + "_" + typeName(s.yT);
}

Value i32Const(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIntOp::create(b, b.getI32Type(), int32_t(v));
}

/// PRMT: bytes of {hi, lo} picked by the selector's nibbles.
Value prmt(ImplicitLocOpBuilder &b, Value lo, Value hi, Value selector) {
  return LLVM::CallIntrinsicOp::create(b, b.getI32Type(),
                                       b.getStringAttr("llvm.nvvm.prmt"),
                                       ValueRange{lo, hi, selector})
      .getResult(0);
}

/// A 16-byte (or narrower) vector of `n` elements of `mem` as stored.
Value loadRaw(ImplicitLocOpBuilder &b, Value mem, Value i, int64_t n) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
  return vector::LoadOp::create(b, VectorType::get({n}, elt), mem,
                                ValueRange{i}, /*nontemporal=*/false,
                                llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
}

Value toF32(ImplicitLocOpBuilder &b, Value v) {
  auto vt = cast<VectorType>(v.getType());
  if (vt.getElementType().isF32())
    return v;
  return arith::ExtFOp::create(
      b, VectorType::get(vt.getShape(), b.getF32Type()), v);
}

Value extract(ImplicitLocOpBuilder &b, Value v, int64_t i) {
  return vector::ExtractOp::create(b, v, ArrayRef<int64_t>{i});
}

} // namespace

/// Launch shape and unrolling of the GEMV. The defaults are the fastest of
/// the variants timed on an H200 (python/monocard/gemv_check.py's bench
/// cases, Llama-2-7B shapes): 4 chunk slots per step, 2 blocks of 8 warps
/// per SM, persistent; int4 prefetches slot by slot (rolling), which keeps
/// its 4 slots within 128 registers (a whole iteration ahead, 4 spill), and
/// drops to 2 slots when 4 would leave each warp one iteration.
/// MONOCARD_GEMV_TUNE ("u=U,bps=B,persist=0|1,roll=0|1") overrides them
/// for tuning runs, and the kernel name then says so.
struct GemvTuning {
  int64_t unroll = 4;   // chunk slots per lane and row in one step
  int64_t blocksPerSM = 2;
  bool persistent = true;
  /// Rolling prefetch (slot by slot) instead of a whole iteration ahead.
  bool roll = false;
  std::string suffix;
};

static GemvTuning gemvTuning(const LinearSpec &s) {
  GemvTuning t;
  if (s.quant && s.quant.bits == 4) {
    t.roll = true;
    // Unless that leaves each warp a single iteration (nothing to overlap:
    // Llama-2-7B's o projection), as fusedGemv sizes the persistent grid.
    int64_t pairs = (s.n + 1) / 2, warps = 132 * t.blocksPerSM * 8;
    int64_t steps = ((s.k + 31) / 32 + 32 * t.unroll - 1) / (32 * t.unroll);
    if ((pairs + warps - 1) / warps * steps < 2)
      t.unroll = 2;
  }
  const char *env = std::getenv("MONOCARD_GEMV_TUNE");
  if (!env || !*env)
    return t;
  SmallVector<StringRef> items;
  StringRef(env).split(items, ',', -1, false);
  for (StringRef item : items) {
    auto [key, val] = item.split('=');
    int64_t v = 0;
    if (val.getAsInteger(10, v) || v < 0)
      continue;
    if (key == "u" && v >= 1 && v <= 8)
      t.unroll = v;
    else if (key == "bps" && v >= 1 && v <= 8)
      t.blocksPerSM = v;
    else if (key == "persist")
      t.persistent = v != 0;
    else if (key == "roll")
      t.roll = v != 0;
  }
  t.suffix = llvm::formatv("_tu{0}b{1}p{2}r{3}", t.unroll, t.blocksPerSM,
                           int(t.persistent), int(t.roll))
                 .str();
  return t;
}

KernelLaunch KernelLibrary::fusedGemv(const LinearSpec &s) {
  assert(s.m == 1 && "the GEMV computes one row");
  MLIRContext *ctx = module.getContext();
  const GemvTuning tune = gemvTuning(s);
  const int64_t n = s.n, k = s.k;
  const bool quant = bool(s.quant), norm = bool(s.normT);
  const int64_t epv = chunkElements(s);
  // Chunks per row; with a short last chunk (quantized rows are padded to
  // 16 bytes, so its load stays in the row).
  const int64_t chunks = (k + epv - 1) / epv;
  const bool tail = k % epv != 0;
  // x in shared memory: `slotsPerChunk` 16-byte slots of 4 f32 per chunk,
  // plus the zero chunk, rounded up to whole swizzle groups of 8 slots.
  const int64_t slotsPerChunk = epv / 4;
  const int64_t slots = (chunks + 1) * slotsPerChunk;
  const int64_t sharedFloats = (slots + 7) / 8 * 8 * 4;
  // Work: row pairs. A persistent grid of blocksPerSM blocks per SM (132
  // SMs: H100, H200) loops over them; each warp's (pair, step) iterations
  // form one software pipeline.
  constexpr int64_t kSMs = 132;
  const int64_t pairs = (n + 1) / 2;
  const int64_t pairBlocks = (pairs + kGemvWarps - 1) / kGemvWarps;
  const int64_t grid = tune.persistent
                           ? std::min(pairBlocks, kSMs * tune.blocksPerSM)
                           : pairBlocks;
  const int64_t totalWarps = grid * kGemvWarps;
  // Each warp's finished pairs wait in shared memory for the epilogues,
  // which run after the loop: no epilogue registers are live while loads
  // are in flight.
  const int64_t maxPairs = (pairs + totalWarps - 1) / totalWarps;
  // int4 with 16-bit activations: the cheap dequantization (below), which
  // needs each chunk's sum of x.
  const bool fastInt4 = quant && s.quant.bits == 4 && !s.xT.isF32();
  const int64_t sumFloats = fastInt4 ? (chunks + 1 + 7) / 8 * 8 : 0;
  const int64_t zFloats = kGemvWarps * maxPairs * 2;
  const bool shared =
      epv % 4 == 0 && (sharedFloats + sumFloats + kGemvWarps + zFloats) * 4 <=
                          kStaticSharedBytes;
  const bool cheapInt4 = fastInt4 && shared;
  // Without staging each lane also holds its x (and norm weight) chunks:
  // half the slots keep that within the registers.
  const int64_t unroll = std::clamp<int64_t>(
      (chunks + 31) / 32, 1,
      shared ? tune.unroll : std::max<int64_t>(1, tune.unroll / 2));
  const int64_t stepChunks = 32 * unroll;
  const int64_t steps = (chunks + stepChunks - 1) / stepChunks;
  // The last step of a row has chunk slots past it: their loads are
  // clamped into the row and their x is zero.
  const bool partial = chunks % stepChunks != 0;
  const int64_t groups = quant ? s.quant.groups(k) : 1;
  const int64_t rowBytes = quant ? s.quant.rowBytes : 0;
  const bool hoistParams = quant && groups == 1;
  const int64_t chunksPerGroup = quant && groups > 1 ? s.quant.group / epv : 1;
  // x vectors read from global memory (no shared staging): as wide as a
  // chunk allows, dividing K so that clamped loads stay aligned.
  auto globalWidth = [&](Type t) {
    int64_t w = std::min<int64_t>(vectorWidth(t, k), epv);
    while (w > 1 && (k % w || epv % w))
      w /= 2;
    return w;
  };
  const int64_t xw = norm ? std::min(globalWidth(s.xT), globalWidth(s.normT))
                          : globalWidth(s.xT);

  std::string table = s.qkv ? constantTable("rope_inv_freq", s.invFreqs) : "";
  std::string name =
      linearName("fgemv", s, s.qkv ? table.substr(table.rfind('_') + 1) : "") +
      tune.suffix;
  SmallVector<Type> args = linearArgTypes(ctx, s, scalarsType());
  SmallVector<int64_t> workgroup;
  int xsIndex = -1, scratchIndex = -1, sumsIndex = -1, zIndex;
  if (shared) {
    xsIndex = workgroup.size();
    workgroup.push_back(sharedFloats);
    scratchIndex = workgroup.size();
    workgroup.push_back(kGemvWarps);
    if (cheapInt4) {
      sumsIndex = workgroup.size();
      workgroup.push_back(sumFloats);
    }
  }
  zIndex = workgroup.size();
  workgroup.push_back(zFloats);

  auto fn = getOrBuild(
      name, args, workgroup, kGemvBlock,
      [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        ImplicitLocOpBuilder &b = e.builder();
        Type f32 = b.getF32Type(), i32 = b.getI32Type();
        // Parameters, in LinearSpec's order.
        unsigned next = 0;
        Value x = a[next++], w = a[next++], params;
        if (quant)
          params = a[next++];
        Value bias = s.biasT ? a[next++] : Value();
        Value normW = norm ? a[next++] : Value();
        Value residual = s.residualT ? a[next++] : Value();
        Value y = a[next++];
        Value keyCache, valueCache, scalars;
        if (s.qkv) {
          keyCache = a[next++];
          valueCache = a[next++];
          scalars = a[next++];
        }

        // The main loop's index arithmetic is 32-bit (`I` constants, `ix`
        // at each memory access): every extent is a compile-time constant
        // below 2^31, and 64-bit multiplies and divisions by constants
        // would otherwise be a large share of the loop's instructions.
        auto I = [&](int64_t v) { return e.i32(v); };
        auto ix = [&](Value v) -> Value {
          return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
        };
        auto toI32 = [&](Value v) -> Value {
          return arith::IndexCastUIOp::create(b, i32, v);
        };
        Value tid = e.threadId();
        Value tid32 = toI32(tid);
        Value lane = e.rem(tid32, I(32)), warp = e.div(tid32, I(32));
        Value gw = e.add(e.mul(toI32(e.blockId()), I(kGemvWarps)), warp);
        // This warp's pairs: gw, gw + totalWarps, ...
        Value myPairs = e.select(
            e.lt(gw, I(pairs)),
            e.div(e.sub(I(pairs + totalWarps - 1), gw), I(totalWarps)),
            I(0));
        Value total = e.mul(myPairs, I(steps));
        auto pairOf = [&](Value it) {
          Value p = steps == 1 ? it : e.div(it, I(steps));
          return e.add(gw, e.mul(p, I(totalWarps)));
        };
        // With one step per pair, the step (0) comes from an opaque
        // PRMT of `it` that picks only zero bytes: a constant chunk would
        // let LLVM hoist the shared-memory x loads of every slot out of the
        // loop, which keeps all of them in registers (spilling at unroll 4).
        auto stepOf = [&](Value it) -> Value {
          if (steps != 1)
            return e.rem(it, I(steps));
          return prmt(b, it, I(0), I(0x4444));
        };
        // Rows past n (an odd n) compute row n - 1 again and store nothing.
        auto rowsOf32 = [&](Value pair) {
          Value r0 = e.mul(pair, I(2));
          return std::array<Value, 2>{e.min(r0, I(n - 1)),
                                      e.min(e.add(r0, I(1)), I(n - 1))};
        };
        auto rowsOf = [&](Value pair) {
          Value r0 = e.mul(pair, e.idx(2));
          return std::array<Value, 2>{
              e.min(r0, e.idx(n - 1)),
              e.min(e.add(r0, e.idx(1)), e.idx(n - 1))};
        };
        auto zeroBias = [&](Value zero) {
          // 2^23 (+ 128: int8 codes have their sign bit flipped) + zero.
          return e.fadd(zero,
                        e.f32(s.quant.bits == 8 ? 8388736.0 : 8388608.0));
        };
        // The loads of iteration `it`: per chunk slot u and row r, the
        // chunk's weights (raw) and, with several groups, its (scale, zero);
        // with one group, the row's (scale, zero) once per iteration.
        auto chunkOf = [&](Value step, int64_t u) {
          return e.add(e.add(e.mul(step, I(stepChunks)), I(u * 32)), lane);
        };
        auto loadHoisted = [&](Value it) {
          SmallVector<Value> out;
          auto rows = rowsOf32(pairOf(it));
          if (hoistParams)
            for (int r = 0; r < 2; ++r)
              out.push_back(loadRaw(b, params, ix(e.mul(rows[r], I(2))), 2));
          return out;
        };
        auto loadSlot = [&](Value it, int64_t u) {
          SmallVector<Value> out;
          auto rows = rowsOf32(pairOf(it));
          Value step = stepOf(it);
          {
            Value c = chunkOf(step, u);
            if (partial)
              c = e.min(c, I(chunks - 1));
            for (int r = 0; r < 2; ++r) {
              if (quant) {
                Value at =
                    e.add(e.mul(rows[r], I(rowBytes)), e.mul(c, I(16)));
                Value bytes = loadRaw(b, w, ix(at), 16);
                out.push_back(vector::BitCastOp::create(
                    b, VectorType::get({4}, i32), bytes));
                if (!hoistParams) {
                  Value g = e.div(c, I(chunksPerGroup));
                  Value pi =
                      e.mul(e.add(e.mul(rows[r], I(groups)), g), I(2));
                  out.push_back(loadRaw(b, params, ix(pi), 2));
                }
              } else {
                out.push_back(loadRaw(
                    b, w, ix(e.add(e.mul(rows[r], I(k)), e.mul(c, I(epv)))),
                    epv));
              }
            }
          }
          return out;
        };
        auto loadIter = [&](Value it) {
          SmallVector<Value> out = loadHoisted(it);
          for (int64_t u = 0; u < unroll; ++u)
            llvm::append_range(out, loadSlot(it, u));
          return out;
        };
        // Values per chunk slot and before the slots (hoisted params).
        const int64_t perSlot = 2 * (quant && !hoistParams ? 2 : 1);
        const int64_t nHoisted = hoistParams ? 2 : 0;
        SmallVector<Value> first = loadIter(I(0));

        // Stage x (normalized) in shared memory. Every thread runs the
        // same number of iterations: the chunk sums use shuffles.
        Value inv; // 1 / rms, with a norm prologue
        auto swizzle = [&](Value slot) {
          Value hi = arith::AndIOp::create(
              b, arith::ShRUIOp::create(b, slot, e.idx(3)), e.idx(7));
          return arith::XOrIOp::create(b, slot, hi);
        };
        auto rsqrtMean = [&](Value sumSquares) {
          Value mean = e.fdiv(sumSquares, e.f32(double(k)));
          return e.fdiv(e.f32(1.0), e.sqrt(e.fadd(mean, e.f32(s.eps))));
        };
        if (shared) {
          Value xs = wg[xsIndex];
          int64_t rounds = (slots + kGemvBlock - 1) / kGemvBlock;
          Value ss = e.forRange(
              e.idx(0), e.idx(rounds), e.idx(1), {e.f32(0)},
              [&](Value round, ValueRange it) -> SmallVector<Value> {
                Value slot = e.add(e.mul(round, e.idx(kGemvBlock)), tid);
                Value e0 = e.mul(slot, e.idx(4));
                SmallVector<Value> xv(4), gv(4);
                if (k % 4 == 0) {
                  Value at = e.min(e0, e.idx(k - 4));
                  Value valid = e.lt(e0, e.idx(k));
                  Value xl = toF32(b, loadRaw(b, x, at, 4));
                  Value gl =
                      norm ? toF32(b, loadRaw(b, normW, at, 4)) : Value();
                  for (int j = 0; j < 4; ++j) {
                    xv[j] = e.select(valid, extract(b, xl, j), e.f32(0));
                    if (norm)
                      gv[j] = extract(b, gl, j);
                  }
                } else {
                  for (int j = 0; j < 4; ++j) {
                    Value ej = e.add(e0, e.idx(j));
                    Value at = e.min(ej, e.idx(k - 1));
                    xv[j] = e.select(e.lt(ej, e.idx(k)), e.load(x, at),
                                     e.f32(0));
                    if (norm)
                      gv[j] = e.load(normW, at);
                  }
                }
                Value acc = it[0];
                for (int j = 0; j < 4; ++j) {
                  if (norm) {
                    acc = e.fma(xv[j], xv[j], acc);
                    xv[j] = e.fmul(xv[j], gv[j]);
                  }
                }
                Value inRange = e.lt(slot, e.idx(slots));
                if (cheapInt4) {
                  // The chunk's sum: its slots are adjacent lanes.
                  Value sum = e.fadd(e.fadd(xv[0], xv[1]),
                                     e.fadd(xv[2], xv[3]));
                  Value width = e.i32(32);
                  for (int64_t off = 1; off < slotsPerChunk; off *= 2)
                    sum = e.fadd(sum, gpu::ShuffleOp::create(
                                          b, sum, e.i32(off), width,
                                          gpu::ShuffleMode::XOR)
                                          .getShuffleResult());
                  e.ifThen(
                      e.land(inRange, e.eq(e.rem(slot, e.idx(slotsPerChunk)),
                                           e.idx(0))),
                      [&] {
                        memref::StoreOp::create(
                            b, sum, wg[sumsIndex],
                            ValueRange{e.div(slot, e.idx(slotsPerChunk))});
                      });
                }
                e.ifThen(inRange, [&] {
                  Value vec = vector::FromElementsOp::create(
                      b, VectorType::get({4}, f32), xv);
                  vector::StoreOp::create(
                      b, vec, xs, ValueRange{e.mul(swizzle(slot), e.idx(4))},
                      /*nontemporal=*/false, llvm::MaybeAlign(16));
                });
                return {acc};
              })[0];
          // The reduction's barriers also publish the staged x.
          if (norm)
            inv = rsqrtMean(e.blockSum(ss, wg[scratchIndex], kGemvWarps));
          else
            e.barrier();
        }

        // x of chunk `c` as epv f32 values (normalized, with shared
        // staging). Without staging, lanes read x themselves: `ss`
        // accumulates sum(x^2) for the norm, and with a partial step or a
        // short chunk every element past K is masked.
        bool globalMask = !shared && (partial || tail);
        auto xChunk = [&](Value c, Value &ss) {
          SmallVector<Value> xs;
          if (shared) {
            if (partial)
              c = e.min(c, I(chunks)); // the zero chunk
            for (int64_t q = 0; q < slotsPerChunk; ++q) {
              Value slot = e.add(e.mul(c, I(slotsPerChunk)), I(q));
              Value hi = arith::AndIOp::create(
                  b, arith::ShRUIOp::create(b, slot, I(3)), I(7));
              Value sw = arith::XOrIOp::create(b, slot, hi);
              Value v = vector::LoadOp::create(
                  b, VectorType::get({4}, f32), wg[xsIndex],
                  ValueRange{ix(e.mul(sw, I(4)))},
                  /*nontemporal=*/false, llvm::MaybeAlign(16));
              for (int j = 0; j < 4; ++j)
                xs.push_back(extract(b, v, j));
            }
            return xs;
          }
          Value c0 = e.mul(ix(c), e.idx(epv));
          for (int64_t q = 0; q < epv; q += xw) {
            Value e0 = e.add(c0, e.idx(q));
            Value at = globalMask ? e.min(e0, e.idx(k - xw)) : e0;
            Value xv = toF32(b, loadRaw(b, x, at, xw));
            Value gv = norm ? toF32(b, loadRaw(b, normW, at, xw)) : Value();
            for (int64_t j = 0; j < xw; ++j) {
              Value v = extract(b, xv, j);
              if (globalMask)
                v = e.select(e.lt(e.add(e0, e.idx(j)), e.idx(k)), v,
                             e.f32(0));
              if (norm) {
                ss = e.fma(v, v, ss);
                v = e.fmul(v, extract(b, gv, j));
              }
              xs.push_back(v);
            }
          }
          return xs;
        };

        // One iteration's arithmetic: acc holds 4 independent chains per
        // row, then sum(x^2) without staging.
        Value magic = i32Const(b, 0x4B000000), half = i32Const(b, 0x3F000000);
        Value nibbles = i32Const(b, 0x0F0F0F0F);
        auto computeIter = [&](Value step, ValueRange loaded,
                               ValueRange accIn,
                               const std::function<void(int64_t)> &afterSlot) {
          SmallVector<Value> acc(accIn.begin(), accIn.end());
          Value ss = norm && !shared ? acc.back() : Value();
          unsigned li = 0;
          Value rowScale[2], rowZero[2];
          if (hoistParams)
            for (int r = 0; r < 2; ++r) {
              Value sz = toF32(b, loaded[li++]);
              rowScale[r] = extract(b, sz, 0);
              rowZero[r] = extract(b, sz, 1);
            }
          for (int64_t u = 0; u < unroll; ++u) {
            Value c = chunkOf(step, u);
            SmallVector<Value> xs = xChunk(c, ss);
            Value xsum;
            if (cheapInt4)
              xsum = memref::LoadOp::create(
                  b, wg[sumsIndex],
                  ValueRange{ix(partial ? e.min(c, I(chunks)) : c)});
            for (int r = 0; r < 2; ++r) {
              Value raw = loaded[li++];
              Value *racc = &acc[r * 4];
              if (!quant) {
                Value wv = toF32(b, raw);
                for (int64_t j = 0; j < epv; ++j)
                  racc[j % 4] = e.fma(xs[j], extract(b, wv, j), racc[j % 4]);
                continue;
              }
              Value scale = rowScale[r], zero = rowZero[r];
              if (!hoistParams) {
                Value sz = toF32(b, loaded[li++]);
                scale = extract(b, sz, 0);
                zero = extract(b, sz, 1);
              }
              SmallVector<Value> part(4, e.f32(0));
              if (cheapInt4) {
                // PRMT puts a masked nibble byte under 0.5's exponent:
                // d = 0.5 + q / 256 exactly, so with P = sum x d and
                // S = sum x: sum x (q - zero) = 256 P - (128 + zero) S.
                // No subtraction per element; the error stays near f32
                // rounding of the chunk's sum of |x| / 2.
                for (int64_t wi = 0; wi < 4; ++wi) {
                  Value word = extract(b, raw, wi);
                  Value lo = arith::AndIOp::create(b, word, nibbles);
                  Value hi = arith::AndIOp::create(
                      b, arith::ShRUIOp::create(b, word, i32Const(b, 4)),
                      nibbles);
                  for (int64_t byte = 0; byte < 4; ++byte) {
                    Value sel = i32Const(b, 0x7044 | (byte << 8));
                    int64_t j = wi * 8 + byte * 2;
                    Value dl = arith::BitcastOp::create(
                        b, f32, prmt(b, lo, half, sel));
                    Value dh = arith::BitcastOp::create(
                        b, f32, prmt(b, hi, half, sel));
                    part[j % 4] = e.fma(xs[j], dl, part[j % 4]);
                    part[(j + 1) % 4] = e.fma(xs[j + 1], dh, part[(j + 1) % 4]);
                  }
                }
                Value p = e.fadd(e.fadd(part[0], part[1]),
                                 e.fadd(part[2], part[3]));
                Value dot = e.fma(e.f32(256.0), p,
                                  e.fmul(e.fsub(e.f32(0),
                                                e.fadd(zero, e.f32(128.0))),
                                         xsum));
                racc[0] = e.fma(scale, dot, racc[0]);
                continue;
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
                  Value flipped = arith::XOrIOp::create(
                      b, word, i32Const(b, int32_t(0x80808080u)));
                  for (int64_t byte = 0; byte < 4; ++byte) {
                    int64_t j = wi * 4 + byte;
                    part[j % 4] =
                        e.fma(xs[j], dequant(flipped, byte), part[j % 4]);
                  }
                } else {
                  // Element 8 wi + 2 byte in the low nibble of a byte,
                  // 8 wi + 2 byte + 1 in the high one.
                  Value lo = arith::AndIOp::create(b, word, nibbles);
                  Value hi = arith::AndIOp::create(
                      b, arith::ShRUIOp::create(b, word, i32Const(b, 4)),
                      nibbles);
                  for (int64_t byte = 0; byte < 4; ++byte) {
                    int64_t j = wi * 8 + byte * 2;
                    part[j % 4] = e.fma(xs[j], dequant(lo, byte), part[j % 4]);
                    part[(j + 1) % 4] =
                        e.fma(xs[j + 1], dequant(hi, byte), part[(j + 1) % 4]);
                  }
                }
              }
              for (int j = 0; j < 4; ++j)
                racc[j] = e.fma(scale, part[j], racc[j]);
            }
            afterSlot(u);
          }
          if (ss)
            acc.back() = ss;
          return acc;
        };

        // The end of a pair (in the loop): reduce, scale by 1/rms, and
        // park the two dot products in shared memory.
        Value zs = wg[zIndex];
        auto zSlot = [&](Value local, int r) {
          return ix(e.add(
              e.mul(e.add(e.mul(warp, I(maxPairs)), local), I(2)), I(r)));
        };
        auto finishPair = [&](Value local, ValueRange acc) {
          Value z[2];
          for (int r = 0; r < 2; ++r)
            z[r] = e.warpSum(e.fadd(e.fadd(acc[r * 4], acc[r * 4 + 1]),
                                    e.fadd(acc[r * 4 + 2], acc[r * 4 + 3])));
          Value rowInv = inv;
          if (norm && !shared)
            rowInv = rsqrtMean(e.warpSum(acc.back()));
          if (norm)
            for (int r = 0; r < 2; ++r)
              z[r] = e.fmul(z[r], rowInv);
          e.ifThen(e.eq(lane, I(0)), [&] {
            for (int r = 0; r < 2; ++r)
              memref::StoreOp::create(b, z[r], zs,
                                      ValueRange{zSlot(local, r)});
          });
        };

        // The epilogue of one pair (after the loop, a lane per pair).
        auto epilogue = [&](Value pair, Value local) {
          Value row0 = e.mul(pair, e.idx(2));
          auto rows = rowsOf(pair);
          Value z[2];
          for (int r = 0; r < 2; ++r)
            z[r] = memref::LoadOp::create(b, zs,
                                          ValueRange{zSlot(toI32(local), r)});
          {
            if (bias)
              for (int r = 0; r < 2; ++r)
                z[r] = e.fadd(z[r], e.load(bias, rows[r]));
            if (s.qkv) {
              int64_t dh = s.headDim, half = dh / 2;
              int64_t qRows = s.heads * dh, kRows = s.kvHeads * dh;
              Value pos = e.i32ToIndex(memref::LoadOp::create(
                  b, scalars, ValueRange{e.idx(kPos)}));
              Value inCache = e.lt(pos, e.idx(s.capacity));
              // The pair is (partner i, partner i + dh/2) of head `h`.
              auto rope = [&](Value rel, Value &h, Value &i, Value &lo,
                              Value &hi) {
                h = e.div(rel, e.idx(dh));
                i = e.div(e.rem(rel, e.idx(dh)), e.idx(2));
                Value freqs = memref::GetGlobalOp::create(
                    b, flat(half, f32), table);
                // As RowKernels' rope: the f32 position times the
                // frequency, sine and cosine in f64.
                Value angle = e.fmul(
                    e.indexToF32(pos),
                    memref::LoadOp::create(b, freqs, ValueRange{i}));
                auto [sin, cos] = e.sinCos(angle);
                lo = e.fsub(e.fmul(z[0], cos), e.fmul(z[1], sin));
                hi = e.fadd(e.fmul(z[1], cos), e.fmul(z[0], sin));
              };
              auto cacheBase = [&](Value h) {
                return e.mul(e.add(e.mul(h, e.idx(s.capacity)), pos),
                             e.idx(dh));
              };
              e.ifThenElse(
                  e.lt(row0, e.idx(qRows)),
                  [&] {
                    Value h, i, lo, hi;
                    rope(row0, h, i, lo, hi);
                    Value at = e.add(e.mul(h, e.idx(dh)), i);
                    e.store(y, at, lo);
                    e.store(y, e.add(at, e.idx(half)), hi);
                  },
                  [&] {
                    e.ifThenElse(
                        e.lt(row0, e.idx(qRows + kRows)),
                        [&] {
                          e.ifThen(inCache, [&] {
                            Value h, i, lo, hi;
                            rope(e.sub(row0, e.idx(qRows)), h, i, lo, hi);
                            Value at = e.add(cacheBase(h), i);
                            e.store(keyCache, at, lo);
                            e.store(keyCache, e.add(at, e.idx(half)), hi);
                          });
                        },
                        [&] {
                          e.ifThen(inCache, [&] {
                            Value rel = e.sub(row0, e.idx(qRows + kRows));
                            Value at =
                                e.add(cacheBase(e.div(rel, e.idx(dh))),
                                      e.rem(rel, e.idx(dh)));
                            e.store(valueCache, at, z[0]);
                            e.store(valueCache, e.add(at, e.idx(1)), z[1]);
                          });
                        });
                  });
              return;
            }
            if (s.swiglu) {
              // silu(g) = g / (1 + e^-g), as the elementwise kernel.
              Value g = z[0];
              Value silu = e.fdiv(
                  g, e.fadd(e.f32(1.0), e.exp(e.fsub(e.f32(0), g))));
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
              if (r == 1 && n % 2)
                e.ifThen(e.lt(row, e.idx(n)), store);
              else
                store();
            }
          }
        };

        // The pipeline: iteration it + 1's loads are issued before
        // iteration it's arithmetic (and the first ones before staging).
        // Rolling (tune.roll): slot by slot instead, slot u of iteration
        // it + 1 as soon as slot u of iteration it has been consumed, so a
        // lane keeps about `unroll` slots in flight in one set of registers
        // rather than needing two sets for `unroll` slots.
        size_t nacc = norm && !shared ? 9 : 8;
        SmallVector<Value> init(nacc, e.f32(0));
        init.append(first.begin(), first.end());
        e.forRange(
            I(0), total, I(1), init,
            [&](Value it, ValueRange carried) -> SmallVector<Value> {
              ValueRange acc = carried.take_front(nacc);
              ValueRange cur = carried.drop_front(nacc);
              Value nextIt = e.add(it, I(1));
              Value hasNext = e.lt(nextIt, total);
              SmallVector<Value> next;
              // The loads of `nextIt` when there is one, else `keep`.
              auto prefetch = [&](ValueRange keep,
                                  const std::function<SmallVector<Value>()>
                                      &load) {
                auto op = scf::IfOp::create(b, keep.getTypes(), hasNext,
                                            /*withElseRegion=*/true);
                OpBuilder::InsertionGuard guard(b);
                b.setInsertionPointToStart(op.thenBlock());
                scf::YieldOp::create(b, load());
                b.setInsertionPointToStart(op.elseBlock());
                scf::YieldOp::create(b, keep);
                llvm::append_range(next, op.getResults());
              };
              Value step = stepOf(it);
              SmallVector<Value> out;
              if (tune.roll) {
                if (nHoisted)
                  prefetch(cur.take_front(nHoisted),
                           [&] { return loadHoisted(nextIt); });
                out = computeIter(step, cur, acc, [&](int64_t u) {
                  prefetch(cur.slice(nHoisted + u * perSlot, perSlot),
                           [&] { return loadSlot(nextIt, u); });
                });
              } else {
                prefetch(cur, [&] { return loadIter(nextIt); });
                out = computeIter(step, cur, acc, [](int64_t) {});
              }
              if (steps == 1) {
                finishPair(it, out);
                for (Value &v : out)
                  v = e.f32(0);
              } else {
                Value isLast = e.eq(step, I(steps - 1));
                e.ifThen(isLast, [&] { finishPair(e.div(it, I(steps)), out); });
                for (Value &v : out)
                  v = e.select(isLast, e.f32(0), v);
              }
              llvm::append_range(out, next);
              return out;
            });
        // The epilogues, a lane per pair of this warp.
        e.barrier();
        e.forRange(ix(lane), ix(myPairs), e.idx(32), [&](Value local) {
          epilogue(e.add(ix(gw), e.mul(local, e.idx(totalWarps))), local);
        });
      });
  // ptxas keeps the registers within blocksPerSM blocks per SM.
  fn->setAttr("nvvm.minctasm",
              IntegerAttr::get(IntegerType::get(ctx, 32), tune.blocksPerSM));
  if (shared)
    fn.setWorkgroupAttributionAttr(0, LLVM::LLVMDialect::getAlignAttrName(),
                                   IntegerAttr::get(IntegerType::get(ctx, 64),
                                                    16));
  return {fn, {grid, 1, 1}, {kGemvBlock, 1, 1}};
}
