//===- KernelConfig.h - launch shapes of the CUDA kernels -------*- C++ -*-===//
//
// Every launch-shape decision of the linear and attention kernels is made
// here, in the manner of IREE's KernelConfig.cpp: from the op's LinearSpec or
// AttentionSpec and the target description (Target/Cuda/TargetDescription.h),
// a config says how the kernel is unrolled, tiled and launched. The builders
// (FusedGemv.cpp, GemmKernels.cpp, AttentionKernel.cpp) take it as input and
// choose none of it (what follows from it, such as how many keys a thread
// takes so that a tile fits the shared memory, stays with them). Each kernel
// carries its config as the attribute `monocard.config`, so lit tests can
// pin it (test/Target/Cuda/kernel-config.mlir).
//
// Overrides for tuning runs (`tfm-lower-to-gpu{gemv-tune=... gemm-tile=...}`,
// monocard-compile's --gemv-tune / --gemm-tile) replace a choice; the
// kernel's name then records it.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_CUDA_KERNELS_KERNELCONFIG_H
#define MONOCARD_TARGET_CUDA_KERNELS_KERNELCONFIG_H

#include "monocard/Target/Cuda/TargetDescription.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace monocard::gpu_kernels {

struct LinearSpec;
struct AttentionSpec;

/// The decode GEMV (FusedGemv.cpp): a warp per pair of weight rows, blocks
/// of kWarps warps; its launch shape and unrolling.
struct GemvConfig {
  static constexpr int64_t kWarps = 8;
  int64_t unroll = 4; // chunk slots per lane and row in one step
  int64_t blocksPerSM = 2;
  bool persistent = true;
  /// Rolling prefetch (slot by slot) instead of a whole iteration ahead.
  bool roll = false;
  /// The kernel-name suffix of an override ("_tu4b2p1r0"), else empty.
  std::string suffix;

  /// The grid. Not persistent: one block per kWarps pairs (fixed). A
  /// persistent grid has blocksPerSM blocks per SM of the device it runs
  /// on, at least minBlocks and at most maxBlocks (a block per kWarps
  /// pairs); `grid` is its size for the target's SM count. Every warp has
  /// at most maxPairs pairs at any grid size from minBlocks on (the shared
  /// memory that parks them is sized for that).
  int64_t grid = 1, minBlocks = 1, maxBlocks = 1, maxPairs = 1;
  /// The launcher sizes the grid from the device (minBlocks < maxBlocks);
  /// else the grid is `grid`, known to the kernel at compile time.
  bool runtimeGrid() const { return persistent && minBlocks < maxBlocks; }
};

/// The prefill GEMM (GemmKernels.cpp): one block of 256 threads per
/// bm x bn tile of the output, k in steps of bk.
struct GemmConfig {
  bool mma = false;
  int64_t bm = 0, bn = 0, bk = 0;
  // simt: a tm x tn patch per thread of a 16 x 16 grid.
  int64_t tm = 0, tn = 0;
  // mma: warps along m and n; each warp owns (bm / wm) x (bn / wn), i.e.
  // mi x ni fragments of 16 x 8.
  int64_t wm = 2, wn = 4;
  bool forced = false; // by a gemm-tile override
  int64_t mi() const { return bm / wm / 16; }
  int64_t ni() const { return bn / wn / 8; }
  /// Row stride of the mma tiles in shared memory, in 32-bit words (pairs
  /// of halves): bk halves plus 8 of padding.
  int64_t ldw() const { return bk / 2 + 4; }
};

/// The attention kernels (AttentionDecode.cpp, AttentionPrefill.cpp): decode
/// runs a block per query head whose warps split the keys; prefill a block
/// per (query head, tile of query rows).
struct AttentionConfig {
  int64_t decodeWarps = 0;
  int64_t prefillTileRows = 0;
  /// Dynamic shared memory a prefill block may use; its key tile shrinks
  /// to fit, and a head dim that does not fit even then is refused.
  int64_t prefillMaxSharedBytes = 0;
};

/// Tuning overrides, as the options spell them.
struct KernelOverrides {
  /// "u=U,bps=B,persist=0|1,roll=0|1" (any subset, in any order).
  bool gemvTuned = false;
  std::optional<int64_t> unroll, blocksPerSM;
  std::optional<bool> persistent, roll;
  /// "BMxBN": a tile of the GEMM path that has it (mma: 128x128, 64x128,
  /// 64x64, 32x64, 32x32; simt: 128x128, 64x64); the other path keeps its
  /// own choice.
  std::optional<std::pair<int64_t, int64_t>> gemmTile;

  /// Parses the two options (empty: no override); errors are one line
  /// naming the option.
  static llvm::Expected<KernelOverrides> parse(llvm::StringRef gemvTune,
                                               llvm::StringRef gemmTile);
};

class KernelConfig {
public:
  KernelConfig() : KernelConfig(cuda::defaultTarget()) {}
  explicit KernelConfig(cuda::TargetDescription target,
                        KernelOverrides overrides = {})
      : tgt(std::move(target)), over(std::move(overrides)) {}

  /// The config of `tfm-lower-to-gpu{gpu= gemv-tune= gemm-tile=}`.
  static llvm::Expected<KernelConfig> fromOptions(llvm::StringRef gpu,
                                                  llvm::StringRef gemvTune,
                                                  llvm::StringRef gemmTile);

  const cuda::TargetDescription &target() const { return tgt; }

  GemvConfig gemv(const LinearSpec &spec) const;
  GemmConfig gemm(const LinearSpec &spec) const;
  AttentionConfig attention(const AttentionSpec &spec) const;

  /// The `monocard.config` attribute of a kernel built with the config.
  mlir::DictionaryAttr attr(mlir::MLIRContext *ctx, const GemvConfig &c) const;
  mlir::DictionaryAttr attr(mlir::MLIRContext *ctx, const GemmConfig &c) const;
  /// Of the decode (rows == 1) or the prefill kernel.
  mlir::DictionaryAttr attr(mlir::MLIRContext *ctx, const AttentionConfig &c,
                            bool decode) const;
  static constexpr llvm::StringLiteral kAttrName = "monocard.config";

private:
  cuda::TargetDescription tgt;
  KernelOverrides over;
};

} // namespace monocard::gpu_kernels

#endif // MONOCARD_TARGET_CUDA_KERNELS_KERNELCONFIG_H
