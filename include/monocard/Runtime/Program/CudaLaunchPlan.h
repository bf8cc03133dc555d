//===- CudaLaunchPlan.h - The "cuda" member of the model info ---*- C++ -*-===//
//
// A CUDA model's steps are not functions in the host object but lists of
// kernel launches that the launcher replays (docs/runtime-abi.md, "The CUDA
// target"). The compiler writes them into the model info as data; this is
// their parsed, validated form. Validation happens once, at start-up, so a
// step never meets a bad kernel index or an offset outside its buffer.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_PROGRAM_CUDALAUNCHPLAN_H
#define MONOCARD_RUNTIME_PROGRAM_CUDALAUNCHPLAN_H

#include "monocard/Runtime/Contract.h"

#include <cstdint>
#include <string>
#include <vector>

namespace monocard {

class JsonValue;
struct ModelInfo;

/// Device bytes a model needs, fixed at compile time (docs/memory-plan.md).
struct DeviceMemoryPlan {
  uint64_t WeightsBytes = 0;
  uint64_t KvBytes = 0;
  uint64_t ArenaBytes = 0;
  /// What a step reads or writes besides the three buffers: logits, tokens
  /// and the step scalars, laid out by the contract (Contract.h).
  uint64_t IoBytes = 0;
  contract::IoLayout Io;

  static DeviceMemoryPlan forModel(const ModelInfo &Info);
  uint64_t totalBytes() const {
    return WeightsBytes + KvBytes + ArenaBytes + IoBytes;
  }
};

/// The four device allocations a kernel parameter can point into.
using CudaBuffer = contract::AbiBuffer;

/// "weights", "kv", "arena", "io" (contract::abiBufferName).
const char *cudaBufferName(CudaBuffer B);

/// One kernel parameter: a device pointer (buffer base + offset) or a 32-bit
/// immediate.
struct CudaKernelArg {
  enum class Kind { Pointer, I32, F32 };
  Kind K = Kind::Pointer;
  CudaBuffer Buffer = CudaBuffer::Weights;
  uint64_t Offset = 0;
  int32_t I32 = 0;
  float F32 = 0;
};

/// A grid sized from the GPU at start-up (a persistent kernel): grid.x =
/// BlocksPerSM x the device's SM count, clamped to [MinBlocks, MaxBlocks].
/// BlocksPerSM 0: the launch's grid is fixed.
struct CudaPersistentGrid {
  unsigned BlocksPerSM = 0;
  unsigned MinBlocks = 0;
  unsigned MaxBlocks = 0;
  unsigned blocks(int SmCount) const;
};

/// One launch of a step, in stream order.
struct CudaLaunch {
  uint32_t Kernel = 0; // index into CudaLaunchPlan::Kernels
  unsigned Grid[3] = {1, 1, 1};
  unsigned Block[3] = {1, 1, 1};
  unsigned SharedBytes = 0;
  CudaPersistentGrid Persistent;
  std::vector<CudaKernelArg> Args; // in kernel-parameter order
};

struct CudaLaunchPlan {
  bool Present = false; // the model info had a "cuda" member
  std::string PtxArch;  // "sm_80"
  std::string CubinArch;
  /// The "io" member. The compiler writes every offset of it so that a
  /// compiler and a launcher that disagree on the contract fail at
  /// start-up instead of reading each other's scalars; once parsed it
  /// equals DeviceMemoryPlan::forModel's.
  contract::IoLayout Io;
  std::vector<std::string> Kernels; // .entry names in the PTX
  std::vector<CudaLaunch> Prefill;
  std::vector<CudaLaunch> Decode;
};

/// Parses \p V (the "cuda" member) against the sizes already read into
/// \p Info (weights/kv/arena bytes, vocab, prefill chunk). On failure sets
/// \p Error to one line starting "model info: cuda...".
bool parseCudaLaunchPlan(const JsonValue &V, const ModelInfo &Info,
                         CudaLaunchPlan &Out, std::string &Error);

/// The number in "sm_90" / "sm_90a" (90), or -1 if \p Arch is not that form.
int parseSmArch(const std::string &Arch);

} // namespace monocard

#endif // MONOCARD_RUNTIME_PROGRAM_CUDALAUNCHPLAN_H
