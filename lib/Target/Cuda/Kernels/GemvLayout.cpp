//===- GemvLayout.cpp - the decode GEMV's layout --------------------------===//
//
// GemvLayout (GemvBuilder.h): the chunking of the rows, where x lives, the
// unrolling and the shared-memory buffers of one GEMV kernel, derived from
// its spec and GemvConfig (FusedGemv.cpp describes the kernel).
//
//===----------------------------------------------------------------------===//

#include "GemvBuilder.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemv;

namespace {

constexpr int64_t kStaticSharedBytes = 48 * 1024;

/// Weight elements per 16-byte chunk of a row.
int64_t chunkElements(const LinearSpec &s) {
  if (s.quant)
    return 128 / s.quant.bits;
  return vectorWidth(s.wT, s.k);
}

} // namespace

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
