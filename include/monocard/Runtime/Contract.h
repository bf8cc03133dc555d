//===- Contract.h - What the compiler and the launcher agree on -*- C++ -*-===//
//
// A compiled program is read by a launcher that was built separately, so
// every number and name both sides must spell alike is written here once:
// the model info's format version and member names, the names of the four
// device buffers a step takes, and the layout of the CUDA I/O buffer with
// its scalar slots. The compiler (lib/Conversion, lib/Target) writes from
// it; the launcher (lib/Runtime) reads and checks against it.
// docs/runtime-abi.md describes the same format in prose.
//
// Plain C++17, header-only, no MLIR/LLVM: the launcher must not depend on
// the compiler.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CONTRACT_H
#define MONOCARD_RUNTIME_CONTRACT_H

#include <cstdint>

namespace monocard::contract {

//===----------------------------------------------------------------------===//
// The model info (monocard_model_info): a JSON object.
//===----------------------------------------------------------------------===//

/// The model info's "format". A change an older launcher would misread
/// bumps it; a launcher refuses every format but its own, naming both.
constexpr int64_t kModelInfoFormat = 1;

/// Member names of the model info, its recipe entries and its "cuda" launch
/// plan. (The model's hyperparameters, e.g. "vocab_size", the compiler
/// copies from the tfm.model attribute, which the frontend names.)
namespace key {
// Top level.
constexpr const char *kFormat = "format";
constexpr const char *kTarget = "target";
constexpr const char *kFingerprint = "fingerprint";
constexpr const char *kRecipe = "recipe";
constexpr const char *kWeightsBytes = "weights_bytes";
constexpr const char *kKvBytes = "kv_bytes";
constexpr const char *kArenaBytes = "arena_bytes";
constexpr const char *kCuda = "cuda";
// One recipe entry (docs/packed-weights-format.md).
constexpr const char *kParam = "param";
constexpr const char *kOffset = "offset";
constexpr const char *kDType = "dtype";
constexpr const char *kShape = "shape";
constexpr const char *kSources = "sources";
constexpr const char *kTransform = "transform";
constexpr const char *kPairRows = "pair_rows";
constexpr const char *kQuant = "quant";
// The "cuda" member.
constexpr const char *kPtxArch = "ptx_arch";
constexpr const char *kCubinArch = "cubin_arch";
constexpr const char *kIo = "io";
constexpr const char *kKernels = "kernels";
constexpr const char *kSteps = "steps";
constexpr const char *kPrefill = "prefill";
constexpr const char *kDecode = "decode";
// One launch of a step, and one of its arguments ("buffer" + "offset",
// "i32" or "f32").
constexpr const char *kKernel = "kernel";
constexpr const char *kGrid = "grid";
constexpr const char *kBlock = "block";
constexpr const char *kSmem = "smem";
constexpr const char *kArgs = "args";
constexpr const char *kBuffer = "buffer";
constexpr const char *kI32 = "i32";
constexpr const char *kF32 = "f32";
// A launch's optional persistent grid, sized by the launcher at start-up:
// grid.x = clamp(blocks_per_sm x the device's SMs, min_blocks, max_blocks).
constexpr const char *kPersistent = "persistent";
constexpr const char *kBlocksPerSm = "blocks_per_sm";
constexpr const char *kMinBlocks = "min_blocks";
constexpr const char *kMaxBlocks = "max_blocks";
// The "io" member: the I/O layout below, as byte offsets.
constexpr const char *kIoBytes = "bytes";
constexpr const char *kIoLogits = "logits";
constexpr const char *kIoTokens = "tokens";
} // namespace key

//===----------------------------------------------------------------------===//
// The device buffers a step takes (`tfm.abi` on the step's arguments, and
// "buffer" in a launch argument), in this order.
//===----------------------------------------------------------------------===//

enum class AbiBuffer : int { Weights, Kv, Arena, Io };
constexpr int kNumAbiBuffers = 4;

/// "weights", "kv", "arena", "io".
constexpr const char *abiBufferName(AbiBuffer B) {
  constexpr const char *Names[kNumAbiBuffers] = {"weights", "kv", "arena",
                                                 "io"};
  return Names[static_cast<int>(B)];
}

//===----------------------------------------------------------------------===//
// The CUDA I/O buffer: logits (f32[vocab]) at 0, then tokens
// (i32[prefill chunk]), then the step scalars. It lives on the device so a
// captured graph can replay with new inputs (a graph keeps the pointers it
// saw, not the values).
//===----------------------------------------------------------------------===//

/// Each part starts on this boundary (cuMemAlloc's alignment).
constexpr int64_t kIoAlign = 256;

/// Slots of the scalar block, 4 bytes each: i32, except temperature (f32
/// bits) and seed and counter (u32). The host writes pos..counter before
/// every step; the step's sampler kernel writes next_token.
enum ScalarSlot : int64_t {
  kPos = 0,
  kNValid = 1,
  kNextToken = 2,
  kTemperature = 3,
  kSeed = 4,
  kCounter = 5,
  kNumScalars = 8,
};
constexpr int64_t kScalarBytes = 4;
static_assert(kNumScalars * kScalarBytes <= kIoAlign,
              "the scalar block is one aligned block");

/// The name of each used slot in the model info's "io" member, in slot
/// order.
struct ScalarKey {
  ScalarSlot Slot;
  const char *Key;
};
constexpr ScalarKey kScalarKeys[] = {
    {kPos, "pos"},
    {kNValid, "n_valid"},
    {kNextToken, "next_token"},
    {kTemperature, "temperature"},
    {kSeed, "seed"},
    {kCounter, "counter"},
};

/// Byte offsets inside the I/O buffer.
struct IoLayout {
  int64_t logits = 0;  // f32[vocab]
  int64_t tokens = 0;  // i32[prefill chunk]
  int64_t scalars = 0; // i32[kNumScalars]
  int64_t bytes = 0;   // the whole buffer

  constexpr int64_t scalar(ScalarSlot S) const {
    return scalars + S * kScalarBytes;
  }
};

constexpr int64_t alignTo(int64_t N, int64_t Align) {
  return (N + Align - 1) / Align * Align;
}

/// The I/O layout of a model with \p Vocab logits and prefill chunks of
/// \p PrefillChunk tokens.
constexpr IoLayout ioLayout(int64_t Vocab, int64_t PrefillChunk) {
  IoLayout L;
  L.logits = 0;
  L.tokens = alignTo(Vocab * 4, kIoAlign);
  L.scalars = L.tokens + alignTo(PrefillChunk * 4, kIoAlign);
  L.bytes = L.scalars + alignTo(kNumScalars * kScalarBytes, kIoAlign);
  return L;
}

} // namespace monocard::contract

#endif // MONOCARD_RUNTIME_CONTRACT_H
