//===- FusedGemv.cpp - the fused decode GEMV of a LinearSpec --------------===//
//
// Decode is bandwidth bound: every weight byte is read once per token. The
// layout of the work and its instruction budget are described below.
//
//===----------------------------------------------------------------------===//

#include "LinearSignature.h"
#include "monocard/Target/Cuda/Kernels/KernelConfig.h"
#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/FormatVariadic.h"

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
// The grid is persistent (blocksPerSM blocks per SM of the device, sized by
// the launcher; KernelConfig.h): each warp
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

constexpr int64_t kGemvWarps = GemvConfig::kWarps; // a row pair per warp
constexpr int64_t kGemvBlock = kGemvWarps * 32;
constexpr int64_t kStaticSharedBytes = 48 * 1024;

/// Weight elements per 16-byte chunk of a row.
int64_t chunkElements(const LinearSpec &s) {
  if (s.quant)
    return 128 / s.quant.bits;
  return vectorWidth(s.wT, s.k);
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

namespace {

/// What one GEMV kernel's code depends on besides the spec: the chunking of
/// the rows, where x lives, the unrolling and the shared-memory buffers,
/// derived from the spec and its GemvConfig.
struct GemvLayout {
  bool quant = false, norm = false;
  int64_t epv = 0;    // weight elements per 16-byte chunk
  int64_t chunks = 0; // per row, with a short last chunk when `tail`
  bool tail = false;
  // x in shared memory: `slotsPerChunk` 16-byte slots of 4 f32 per chunk,
  // plus the zero chunk, rounded up to whole swizzle groups of 8 slots.
  int64_t slotsPerChunk = 0, slots = 0, sharedFloats = 0;
  int64_t pairs = 0, maxPairs = 0;
  /// Warps of the grid when it is fixed at compile time, else 0 (the kernel
  /// reads the grid size).
  int64_t totalWarps = 0;
  // int4 with 16-bit activations: the cheap dequantization, which needs
  // each chunk's sum of x (`cheapInt4` when x is staged).
  bool fastInt4 = false, cheapInt4 = false, shared = false;
  int64_t sumFloats = 0, zFloats = 0;
  int64_t unroll = 0, stepChunks = 0, steps = 0;
  // The last step of a row has chunk slots past it: their loads are
  // clamped into the row and their x is zero.
  bool partial = false;
  int64_t groups = 1, rowBytes = 0, chunksPerGroup = 1;
  bool hoistParams = false;
  int64_t xw = 0; // x vector width when read from global memory
  // Values per chunk slot and before the slots (hoisted params).
  int64_t perSlot = 0, nHoisted = 0;
  // Indices of the workgroup buffers (-1: absent).
  int xsIndex = -1, scratchIndex = -1, sumsIndex = -1, zIndex = -1;

  GemvLayout(const LinearSpec &s, const GemvConfig &c);
  SmallVector<int64_t> workgroup() const;
};

GemvLayout::GemvLayout(const LinearSpec &s, const GemvConfig &c) {
  const int64_t k = s.k, warps = kGemvWarps;
  quant = bool(s.quant);
  norm = bool(s.normT);
  epv = chunkElements(s);
  // Quantized rows are padded to 16 bytes, so a short chunk's load stays
  // in the row.
  chunks = (k + epv - 1) / epv;
  tail = k % epv != 0;
  slotsPerChunk = epv / 4;
  slots = (chunks + 1) * slotsPerChunk;
  sharedFloats = (slots + 7) / 8 * 8 * 4;
  // Each warp's finished pairs wait in shared memory for the epilogues,
  // which run after the loop: no epilogue registers are live while loads
  // are in flight.
  pairs = (s.n + 1) / 2;
  maxPairs = c.maxPairs;
  totalWarps = c.runtimeGrid() ? 0 : c.grid * warps;
  fastInt4 = quant && s.quant.bits == 4 && !s.xT.isF32();
  sumFloats = fastInt4 ? (chunks + 1 + 7) / 8 * 8 : 0;
  zFloats = warps * maxPairs * 2;
  shared = epv % 4 == 0 && (sharedFloats + sumFloats + warps + zFloats) * 4 <=
                               kStaticSharedBytes;
  cheapInt4 = fastInt4 && shared;
  // Without staging each lane also holds its x (and norm weight) chunks:
  // half the slots keep that within the registers.
  unroll = std::clamp<int64_t>((chunks + 31) / 32, 1,
                               shared ? c.unroll
                                      : std::max<int64_t>(1, c.unroll / 2));
  stepChunks = 32 * unroll;
  steps = (chunks + stepChunks - 1) / stepChunks;
  partial = chunks % stepChunks != 0;
  groups = quant ? s.quant.groups(k) : 1;
  rowBytes = quant ? s.quant.rowBytes : 0;
  hoistParams = quant && groups == 1;
  chunksPerGroup = quant && groups > 1 ? s.quant.group / epv : 1;
  // x vectors read from global memory (no shared staging): as wide as a
  // chunk allows, dividing K so that clamped loads stay aligned.
  auto globalWidth = [&](Type t) {
    int64_t w = std::min<int64_t>(vectorWidth(t, k), epv);
    while (w > 1 && (k % w || epv % w))
      w /= 2;
    return w;
  };
  xw = norm ? std::min(globalWidth(s.xT), globalWidth(s.normT))
            : globalWidth(s.xT);
  perSlot = 2 * (quant && !hoistParams ? 2 : 1);
  nHoisted = hoistParams ? 2 : 0;
  int next = 0;
  if (shared) {
    xsIndex = next++;
    scratchIndex = next++;
    if (cheapInt4)
      sumsIndex = next++;
  }
  zIndex = next;
}

SmallVector<int64_t> GemvLayout::workgroup() const {
  SmallVector<int64_t> out;
  if (shared) {
    out.push_back(sharedFloats);
    out.push_back(kGemvWarps);
    if (cheapInt4)
      out.push_back(sumFloats);
  }
  out.push_back(zFloats);
  return out;
}

/// Builds the body of one GEMV kernel, stage by stage (build()).
class GemvBuilder {
public:
  GemvBuilder(KernelEmitter &e, const LinearSpec &s, const GemvConfig &tune,
              const GemvLayout &l, StringRef table)
      : e(e), b(e.builder()), s(s), tune(tune), l(l), table(table),
        f32(b.getF32Type()), i32(b.getI32Type()) {}

  void build(ValueRange args, ValueRange workgroup);

private:
  // Stages, in build order.
  void bindArgs(ValueRange a);
  /// This warp's pairs gw, gw + totalWarps, ... and its iterations.
  void assignWork();
  /// Stages x (normalized) in shared memory; computes 1/rms with a norm.
  void stageX();
  SmallVector<Value> stageRound(Value round, Value sumSquares);
  void mainLoop(ValueRange first);
  SmallVector<Value> iteration(Value it, ValueRange carried, size_t nacc);
  /// The epilogues, a lane per pair of this warp.
  void epilogues();

  // Index helpers. The main loop's index arithmetic is 32-bit (`I`
  // constants, `ix` at each memory access): every extent is a compile-time
  // constant below 2^31, and 64-bit multiplies and divisions by constants
  // would otherwise be a large share of the loop's instructions.
  Value I(int64_t v) { return e.i32(v); }
  Value ix(Value v) {
    return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
  }
  Value toI32(Value v) { return arith::IndexCastUIOp::create(b, i32, v); }
  /// The grid's warps, as i32 and as index.
  Value warpsI32() { return l.totalWarps ? I(l.totalWarps) : runtimeWarps; }
  Value warpsIndex() {
    return l.totalWarps ? e.idx(l.totalWarps) : ix(runtimeWarps);
  }
  Value pairOf(Value it);
  Value stepOf(Value it);
  std::array<Value, 2> rowsOf32(Value pair);
  std::array<Value, 2> rowsOf(Value pair);
  Value zeroBias(Value zero);
  Value chunkOf(Value step, int64_t u);

  // The loads of iteration `it`.
  SmallVector<Value> loadHoisted(Value it);
  SmallVector<Value> loadSlot(Value it, int64_t u);
  SmallVector<Value> loadIter(Value it);

  /// x's 16-byte slot L lives at L ^ ((L >> 3) & 7): the lanes' reads of
  /// consecutive chunks hit distinct banks.
  Value swizzle(Value slot) {
    Value hi = arith::AndIOp::create(
        b, arith::ShRUIOp::create(b, slot, e.idx(3)), e.idx(7));
    return arith::XOrIOp::create(b, slot, hi);
  }
  Value rsqrtMean(Value sumSquares);
  SmallVector<Value> xChunk(Value c, Value &ss);
  SmallVector<Value> computeIter(Value step, ValueRange loaded,
                                 ValueRange accIn,
                                 const std::function<void(int64_t)> &afterSlot);
  /// Adds row r's products of chunk slot `xs` to racc (4 chains).
  void dotQuantized(ArrayRef<Value> xs, Value xsum, Value raw, Value scale,
                    Value zero, Value *racc);

  Value zSlot(Value local, int r);
  void finishPair(Value local, ValueRange acc);
  void epilogue(Value pair, Value local);
  void epilogueQkv(Value row0, Value z[2]);
  void ropePair(Value pos, Value rel, Value z[2], Value &h, Value &i, Value &lo,
                Value &hi);

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  const LinearSpec &s;
  const GemvConfig &tune;
  const GemvLayout &l;
  StringRef table;
  Type f32, i32;
  SmallVector<Value> wg;
  // Parameters, in LinearSpec's order (absent ones null).
  Value x, w, params, bias, normW, residual, y, keyCache, valueCache, scalars;
  Value tid, tid32, lane, warp, gw, runtimeWarps, myPairs, total;
  Value inv; // 1 / rms, with a norm prologue and staging
  Value magic, halfBits, nibbles;
};

void GemvBuilder::bindArgs(ValueRange a) {
  unsigned next = 0;
  x = a[next++];
  w = a[next++];
  if (l.quant)
    params = a[next++];
  bias = s.biasT ? a[next++] : Value();
  normW = l.norm ? a[next++] : Value();
  residual = s.residualT ? a[next++] : Value();
  y = a[next++];
  if (s.qkv) {
    keyCache = a[next++];
    valueCache = a[next++];
    scalars = a[next++];
  }
}

void GemvBuilder::assignWork() {
  tid = e.threadId();
  tid32 = toI32(tid);
  lane = e.rem(tid32, I(32));
  warp = e.div(tid32, I(32));
  gw = e.add(e.mul(toI32(e.blockId()), I(kGemvWarps)), warp);
  const int64_t pairs = l.pairs;
  if (l.totalWarps) {
    myPairs = e.select(
        e.lt(gw, I(pairs)),
        e.div(e.sub(I(pairs + l.totalWarps - 1), gw), I(l.totalWarps)), I(0));
  } else {
    // The launcher sizes the grid from the device's SM count: its warps,
    // once per kernel.
    Value blocks = toI32(gpu::GridDimOp::create(b, gpu::Dimension::x));
    runtimeWarps = e.mul(blocks, I(kGemvWarps));
    myPairs = e.select(
        e.lt(gw, I(pairs)),
        e.div(e.sub(e.add(runtimeWarps, I(pairs - 1)), gw), runtimeWarps),
        I(0));
  }
  total = e.mul(myPairs, I(l.steps));
}

Value GemvBuilder::pairOf(Value it) {
  Value p = l.steps == 1 ? it : e.div(it, I(l.steps));
  return e.add(gw, e.mul(p, warpsI32()));
}

// With one step per pair, the step (0) comes from an opaque PRMT of `it`
// that picks only zero bytes: a constant chunk would let LLVM hoist the
// shared-memory x loads of every slot out of the loop, which keeps all of
// them in registers (spilling at unroll 4).
Value GemvBuilder::stepOf(Value it) {
  if (l.steps != 1)
    return e.rem(it, I(l.steps));
  return prmt(b, it, I(0), I(0x4444));
}

// Rows past n (an odd n) compute row n - 1 again and store nothing.
std::array<Value, 2> GemvBuilder::rowsOf32(Value pair) {
  Value r0 = e.mul(pair, I(2));
  return {e.min(r0, I(s.n - 1)), e.min(e.add(r0, I(1)), I(s.n - 1))};
}

std::array<Value, 2> GemvBuilder::rowsOf(Value pair) {
  Value r0 = e.mul(pair, e.idx(2));
  return {e.min(r0, e.idx(s.n - 1)),
          e.min(e.add(r0, e.idx(1)), e.idx(s.n - 1))};
}

Value GemvBuilder::zeroBias(Value zero) {
  // 2^23 (+ 128: int8 codes have their sign bit flipped) + zero.
  return e.fadd(zero, e.f32(s.quant.bits == 8 ? 8388736.0 : 8388608.0));
}

Value GemvBuilder::chunkOf(Value step, int64_t u) {
  return e.add(e.add(e.mul(step, I(l.stepChunks)), I(u * 32)), lane);
}

// The loads of iteration `it`: per chunk slot u and row r, the chunk's
// weights (raw) and, with several groups, its (scale, zero); with one
// group, the row's (scale, zero) once per iteration.
SmallVector<Value> GemvBuilder::loadHoisted(Value it) {
  SmallVector<Value> out;
  auto rows = rowsOf32(pairOf(it));
  if (l.hoistParams)
    for (int r = 0; r < 2; ++r)
      out.push_back(loadRaw(b, params, ix(e.mul(rows[r], I(2))), 2));
  return out;
}

SmallVector<Value> GemvBuilder::loadSlot(Value it, int64_t u) {
  SmallVector<Value> out;
  auto rows = rowsOf32(pairOf(it));
  Value step = stepOf(it);
  Value c = chunkOf(step, u);
  if (l.partial)
    c = e.min(c, I(l.chunks - 1));
  for (int r = 0; r < 2; ++r) {
    if (!l.quant) {
      out.push_back(loadRaw(
          b, w, ix(e.add(e.mul(rows[r], I(s.k)), e.mul(c, I(l.epv)))), l.epv));
      continue;
    }
    Value at = e.add(e.mul(rows[r], I(l.rowBytes)), e.mul(c, I(16)));
    Value bytes = loadRaw(b, w, ix(at), 16);
    out.push_back(
        vector::BitCastOp::create(b, VectorType::get({4}, i32), bytes));
    if (!l.hoistParams) {
      Value g = e.div(c, I(l.chunksPerGroup));
      Value pi = e.mul(e.add(e.mul(rows[r], I(l.groups)), g), I(2));
      out.push_back(loadRaw(b, params, ix(pi), 2));
    }
  }
  return out;
}

SmallVector<Value> GemvBuilder::loadIter(Value it) {
  SmallVector<Value> out = loadHoisted(it);
  for (int64_t u = 0; u < l.unroll; ++u)
    llvm::append_range(out, loadSlot(it, u));
  return out;
}

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

// The end of a pair (in the loop): reduce, scale by 1/rms, and park the two
// dot products in shared memory.
Value GemvBuilder::zSlot(Value local, int r) {
  return ix(e.add(e.mul(e.add(e.mul(warp, I(l.maxPairs)), local), I(2)), I(r)));
}

void GemvBuilder::finishPair(Value local, ValueRange acc) {
  Value z[2];
  for (int r = 0; r < 2; ++r)
    z[r] = e.warpSum(e.fadd(e.fadd(acc[r * 4], acc[r * 4 + 1]),
                            e.fadd(acc[r * 4 + 2], acc[r * 4 + 3])));
  Value rowInv = inv;
  if (l.norm && !l.shared)
    rowInv = rsqrtMean(e.warpSum(acc.back()));
  if (l.norm)
    for (int r = 0; r < 2; ++r)
      z[r] = e.fmul(z[r], rowInv);
  e.ifThen(e.eq(lane, I(0)), [&] {
    for (int r = 0; r < 2; ++r)
      memref::StoreOp::create(b, z[r], wg[l.zIndex],
                              ValueRange{zSlot(local, r)});
  });
}

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

// One iteration of the pipeline: iteration it + 1's loads are issued
// before iteration it's arithmetic. Rolling (tune.roll): slot by slot
// instead, slot u of iteration it + 1 as soon as slot u of iteration it has
// been consumed, so a lane keeps about `unroll` slots in flight in one set
// of registers rather than needing two sets for `unroll` slots.
SmallVector<Value> GemvBuilder::iteration(Value it, ValueRange carried,
                                          size_t nacc) {
  ValueRange acc = carried.take_front(nacc);
  ValueRange cur = carried.drop_front(nacc);
  Value nextIt = e.add(it, I(1));
  Value hasNext = e.lt(nextIt, total);
  SmallVector<Value> next;
  // The loads of `nextIt` when there is one, else `keep`.
  auto prefetch = [&](ValueRange keep,
                      const std::function<SmallVector<Value>()> &load) {
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
    if (l.nHoisted)
      prefetch(cur.take_front(l.nHoisted), [&] { return loadHoisted(nextIt); });
    out = computeIter(step, cur, acc, [&](int64_t u) {
      prefetch(cur.slice(l.nHoisted + u * l.perSlot, l.perSlot),
               [&] { return loadSlot(nextIt, u); });
    });
  } else {
    prefetch(cur, [&] { return loadIter(nextIt); });
    out = computeIter(step, cur, acc, [](int64_t) {});
  }
  if (l.steps == 1) {
    finishPair(it, out);
    for (Value &v : out)
      v = e.f32(0);
  } else {
    Value isLast = e.eq(step, I(l.steps - 1));
    e.ifThen(isLast, [&] { finishPair(e.div(it, I(l.steps)), out); });
    for (Value &v : out)
      v = e.select(isLast, e.f32(0), v);
  }
  llvm::append_range(out, next);
  return out;
}

void GemvBuilder::mainLoop(ValueRange first) {
  size_t nacc = l.norm && !l.shared ? 9 : 8;
  SmallVector<Value> init(nacc, e.f32(0));
  init.append(first.begin(), first.end());
  e.forRange(I(0), total, I(1), init, [&](Value it, ValueRange carried) {
    return iteration(it, carried, nacc);
  });
}

void GemvBuilder::epilogues() {
  e.barrier();
  e.forRange(ix(lane), ix(myPairs), e.idx(32), [&](Value local) {
    epilogue(e.add(ix(gw), e.mul(local, warpsIndex())), local);
  });
}

void GemvBuilder::build(ValueRange args, ValueRange workgroup) {
  wg.assign(workgroup.begin(), workgroup.end());
  bindArgs(args);
  assignWork();
  // The very first loads are issued before x is staged.
  SmallVector<Value> first = loadIter(I(0));
  stageX();
  magic = i32Const(b, 0x4B000000);
  halfBits = i32Const(b, 0x3F000000);
  nibbles = i32Const(b, 0x0F0F0F0F);
  mainLoop(first);
  epilogues();
}

} // namespace

KernelLaunch KernelLibrary::fusedGemv(const LinearSpec &s,
                                      const GemvConfig &tune) {
  assert(s.m == 1 && "the GEMV computes one row");
  MLIRContext *ctx = module.getContext();
  const GemvLayout layout(s, tune);
  std::string table = s.qkv ? constantTable("rope_inv_freq", s.invFreqs) : "";
  std::string name =
      linearName("fgemv", s, s.qkv ? table.substr(table.rfind('_') + 1) : "") +
      tune.suffix;
  SmallVector<Type> args = linearArgTypes(ctx, s, scalarsType());
  auto fn = getOrBuild(name, args, layout.workgroup(), kGemvBlock,
                       [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
                         GemvBuilder(e, s, tune, layout, table).build(a, wg);
                       });
  // ptxas keeps the registers within blocksPerSM blocks per SM.
  fn->setAttr("nvvm.minctasm",
              IntegerAttr::get(IntegerType::get(ctx, 32), tune.blocksPerSM));
  if (layout.shared)
    fn.setWorkgroupAttributionAttr(
        0, LLVM::LLVMDialect::getAlignAttrName(),
        IntegerAttr::get(IntegerType::get(ctx, 64), 16));
  fn->setAttr(KernelConfig::kAttrName, config.attr(ctx, tune));
  KernelLaunch launch{fn, {tune.grid, 1, 1}, {kGemvBlock, 1, 1}};
  if (tune.runtimeGrid())
    launch.persistent = {tune.blocksPerSM, tune.minBlocks, tune.maxBlocks};
  return launch;
}
