//===- KernelConfig.cpp - launch shapes of the CUDA kernels ---------------===//
//
// See KernelConfig.h. The default target's choices are the ones tuned on a
// 132-SM H200 (python/monocard/gemv_check.py's bench cases for the GEMV,
// Llama shapes for the GEMM tiles).
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelConfig.h"

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir;
using namespace monocard;
using namespace monocard::gpu_kernels;

namespace {

llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool isHalf(Type t) { return t && (t.isF16() || t.isBF16()); }

/// The tiles of the mma path, largest first; the simt path has 128x128 and
/// 64x64.
constexpr int64_t kMmaTiles[][2] = {
    {128, 128}, {64, 128}, {64, 64}, {32, 64}, {32, 32}};

llvm::Error parseGemvTune(StringRef text, KernelOverrides &o) {
  SmallVector<StringRef> items;
  text.split(items, ',', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [key, val] = item.split('=');
    int64_t v = 0;
    bool bad = val.getAsInteger(10, v);
    if (key == "u" || key == "bps") {
      if (bad || v < 1 || v > 8)
        return fail(llvm::formatv("gemv-tune: '{0}' must be 1 to 8, got '{1}'",
                                  key, val));
      (key == "u" ? o.unroll : o.blocksPerSM) = v;
    } else if (key == "persist" || key == "roll") {
      if (bad || (v != 0 && v != 1))
        return fail(llvm::formatv("gemv-tune: '{0}' must be 0 or 1, got '{1}'",
                                  key, val));
      (key == "persist" ? o.persistent : o.roll) = v != 0;
    } else {
      return fail(llvm::formatv("gemv-tune: unknown setting '{0}' (expected "
                                "u=U,bps=B,persist=0|1,roll=0|1)",
                                item));
    }
  }
  o.gemvTuned = !items.empty();
  return llvm::Error::success();
}

llvm::Error parseGemmTile(StringRef text, KernelOverrides &o) {
  if (text.empty())
    return llvm::Error::success();
  auto [a, b] = text.split('x');
  int64_t bm = 0, bn = 0;
  bool known = false;
  if (!a.getAsInteger(10, bm) && !b.getAsInteger(10, bn))
    for (auto [m, n] : kMmaTiles)
      known |= m == bm && n == bn;
  if (!known)
    return fail(llvm::formatv("gemm-tile: expected BMxBN, one of 128x128, "
                              "64x128, 64x64, 32x64, 32x32; got '{0}'",
                              text));
  o.gemmTile = std::make_pair(bm, bn);
  return llvm::Error::success();
}

} // namespace

llvm::Expected<KernelOverrides> KernelOverrides::parse(StringRef gemvTune,
                                                       StringRef gemmTile) {
  KernelOverrides o;
  if (llvm::Error e = parseGemvTune(gemvTune, o))
    return std::move(e);
  if (llvm::Error e = parseGemmTile(gemmTile, o))
    return std::move(e);
  return o;
}

llvm::Expected<KernelConfig> KernelConfig::fromOptions(StringRef gpu,
                                                       StringRef gemvTune,
                                                       StringRef gemmTile) {
  llvm::Expected<cuda::TargetDescription> target = cuda::lookupTarget(gpu);
  if (!target)
    return target.takeError();
  llvm::Expected<KernelOverrides> over =
      KernelOverrides::parse(gemvTune, gemmTile);
  if (!over)
    return over.takeError();
  return KernelConfig(std::move(*target), std::move(*over));
}

/// 4 chunk slots per step, 2 blocks of 8 warps per SM, persistent (the
/// fastest of the variants timed on an H200); int4 prefetches slot by slot
/// (rolling), which keeps its 4 slots within 128 registers (a whole
/// iteration ahead, 4 spill), and drops to 2 slots when 4 would leave each
/// warp one iteration.
GemvConfig KernelConfig::gemv(const LinearSpec &s) const {
  GemvConfig t;
  const int64_t sms = tgt.smCount, warpsPerBlock = GemvConfig::kWarps;
  if (s.quant && s.quant.bits == 4) {
    t.roll = true;
    // Unless that leaves each warp a single iteration (nothing to overlap:
    // Llama-2-7B's o projection) on the target's persistent grid.
    int64_t pairs = (s.n + 1) / 2, warps = sms * t.blocksPerSM * warpsPerBlock;
    int64_t steps = ((s.k + 31) / 32 + 32 * t.unroll - 1) / (32 * t.unroll);
    if ((pairs + warps - 1) / warps * steps < 2)
      t.unroll = 2;
  }
  if (over.gemvTuned) {
    t.unroll = over.unroll.value_or(t.unroll);
    t.blocksPerSM = over.blocksPerSM.value_or(t.blocksPerSM);
    t.persistent = over.persistent.value_or(t.persistent);
    t.roll = over.roll.value_or(t.roll);
    t.suffix = llvm::formatv("_tu{0}b{1}p{2}r{3}", t.unroll, t.blocksPerSM,
                             int(t.persistent), int(t.roll))
                   .str();
  }
  // Work: row pairs, kWarps per block. A persistent grid loops over them;
  // the smallest grid that still gives no warp more than maxPairs pairs is
  // the least the launcher may use.
  const int64_t pairs = (s.n + 1) / 2;
  const int64_t pairBlocks = ceilDiv(pairs, warpsPerBlock);
  t.maxBlocks = pairBlocks;
  t.grid =
      t.persistent ? std::min(pairBlocks, sms * t.blocksPerSM) : pairBlocks;
  t.maxPairs = ceilDiv(pairs, t.grid * warpsPerBlock);
  t.minBlocks = ceilDiv(pairs, warpsPerBlock * t.maxPairs);
  return t;
}

/// The largest tile that still gives every SM of the target a block; small
/// problems take the smallest tile.
GemmConfig KernelConfig::gemm(const LinearSpec &s) const {
  const int64_t sms = tgt.smCount;
  auto blocks = [&](int64_t bm, int64_t bn) {
    return ceilDiv(s.m, bm) * ceilDiv(s.n, bn);
  };
  const std::optional<std::pair<int64_t, int64_t>> &forced = over.gemmTile;
  GemmConfig t;
  t.mma = isHalf(s.xT);
  if (t.mma) {
    t.bk = 32;
    if (forced) {
      t.bm = forced->first;
      t.bn = forced->second;
      t.forced = true;
      return t;
    }
    for (auto [bm, bn] : kMmaTiles) {
      t.bm = bm;
      t.bn = bn;
      if (blocks(bm, bn) >= sms)
        break;
    }
    return t;
  }
  t.bk = 16;
  bool big = blocks(128, 128) >= sms;
  if (forced && forced->first == forced->second &&
      (forced->first == 128 || forced->first == 64)) {
    big = forced->first == 128;
    t.forced = true;
  }
  if (big) {
    t.bm = t.bn = 128;
    t.tm = t.tn = 8;
  } else {
    t.bm = t.bn = 64;
    t.tm = t.tn = 4;
  }
  return t;
}

AttentionConfig KernelConfig::attention(const AttentionSpec &s) const {
  AttentionConfig c;
  // Decode: memory parallelism for long contexts, a whole 1024-thread block
  // (on an H200, 32 warps beat 16 by 10-35% from 2k positions on, and 8
  // warps were 2x slower than 16 at 2k).
  const int64_t cap = s.capacity;
  c.decodeWarps = cap <= 256 ? 4 : (cap <= 1024 ? 16 : 32);
  // Prefill: 64-row tiles reuse each K/V tile more, but a chunk that gives
  // fewer blocks than the GPU has SMs does better with 32 (64 rows x 32
  // heads: 1.5x faster on an H200). The threshold, 128 blocks on 132 SMs,
  // scales with the target's SM count.
  const int64_t minBlocks = 128 * tgt.smCount / 132;
  c.prefillTileRows =
      s.rows > 32 && s.heads * ceilDiv(s.rows, 64) >= minBlocks ? 64 : 32;
  // Prefill's shared memory: at most 160 KiB (within an A100's 163 KiB and
  // a Hopper's 227 KiB), and the GPU's opt-in limit where that is less: 99
  // KiB on sm_86/sm_89, and so for the default, which must run there too.
  c.prefillMaxSharedBytes =
      std::min<int64_t>(160 * 1024, tgt.sharedPerBlockOptin);
  return c;
}

DictionaryAttr KernelConfig::attr(MLIRContext *ctx, const AttentionConfig &c,
                                  bool decode) const {
  Builder b(ctx);
  SmallVector<NamedAttribute> items = {
      b.getNamedAttr("kind", b.getStringAttr(decode ? "attention_decode"
                                                    : "attention_prefill")),
      b.getNamedAttr("gpu", b.getStringAttr(tgt.name))};
  if (decode) {
    items.push_back(
        b.getNamedAttr("warps", b.getI64IntegerAttr(c.decodeWarps)));
  } else {
    items.push_back(
        b.getNamedAttr("tile_rows", b.getI64IntegerAttr(c.prefillTileRows)));
    items.push_back(b.getNamedAttr(
        "max_shared_bytes", b.getI64IntegerAttr(c.prefillMaxSharedBytes)));
  }
  return b.getDictionaryAttr(items);
}

DictionaryAttr KernelConfig::attr(MLIRContext *ctx, const GemvConfig &c) const {
  Builder b(ctx);
  SmallVector<NamedAttribute> items = {
      b.getNamedAttr("kind", b.getStringAttr("gemv")),
      b.getNamedAttr("gpu", b.getStringAttr(tgt.name)),
      b.getNamedAttr("unroll", b.getI64IntegerAttr(c.unroll)),
      b.getNamedAttr("blocks_per_sm", b.getI64IntegerAttr(c.blocksPerSM)),
      b.getNamedAttr("persistent", b.getBoolAttr(c.persistent)),
      b.getNamedAttr("roll", b.getBoolAttr(c.roll)),
      b.getNamedAttr("grid", b.getI64IntegerAttr(c.grid)),
      b.getNamedAttr("max_pairs", b.getI64IntegerAttr(c.maxPairs))};
  if (c.runtimeGrid()) {
    items.push_back(
        b.getNamedAttr("min_blocks", b.getI64IntegerAttr(c.minBlocks)));
    items.push_back(
        b.getNamedAttr("max_blocks", b.getI64IntegerAttr(c.maxBlocks)));
  }
  return b.getDictionaryAttr(items);
}

DictionaryAttr KernelConfig::attr(MLIRContext *ctx, const GemmConfig &c) const {
  Builder b(ctx);
  SmallVector<NamedAttribute> items = {
      b.getNamedAttr("kind", b.getStringAttr("gemm")),
      b.getNamedAttr("gpu", b.getStringAttr(tgt.name)),
      b.getNamedAttr("path", b.getStringAttr(c.mma ? "mma" : "simt")),
      b.getNamedAttr("tile", b.getDenseI64ArrayAttr({c.bm, c.bn, c.bk}))};
  if (c.mma)
    items.push_back(
        b.getNamedAttr("warps", b.getDenseI64ArrayAttr({c.wm, c.wn})));
  else
    items.push_back(
        b.getNamedAttr("per_thread", b.getDenseI64ArrayAttr({c.tm, c.tn})));
  return b.getDictionaryAttr(items);
}
