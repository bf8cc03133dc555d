//===- TargetDescription.h - the GPU a program is built for --- -*- C++ -*-===//
//
// What the kernel configuration (Target/Cuda/Kernels/KernelConfig.h) may
// assume about the GPU: its compute capability, SM count, shared memory and
// registers. `monocard-compile --gpu=NAME` and `tfm-lower-to-gpu{gpu=NAME}`
// pick one from a table of known chips (or `sm_XX`: that architecture with
// the default's launch shapes); without `--gpu` the default describes no
// chip in particular: a program for every GPU from sm_80 on, with launch
// shapes tuned on a 132-SM GPU (H100 SXM, H200), as they always were.
//
// Figures are the vendors' published ones (CUDA C Programming Guide,
// "Compute Capabilities"; the chips' data sheets for SM counts).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_CUDA_TARGETDESCRIPTION_H
#define MONOCARD_TARGET_CUDA_TARGETDESCRIPTION_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace monocard::cuda {

struct TargetDescription {
  /// "h200", "sm_86", or "generic" for the default.
  std::string name;
  /// Compute capability as major * 10 + minor (80, 86, 89, 90).
  int computeCapability = 80;
  /// Streaming multiprocessors: what a persistent or "one block per SM"
  /// launch shape is chosen for. Run-time grids use the actual device's.
  int64_t smCount = 132;
  /// Shared memory per block: static (no opt-in) and the opt-in maximum of
  /// dynamic shared memory (cuFuncSetAttribute).
  int64_t sharedPerBlock = 48 * 1024;
  int64_t sharedPerBlockOptin = 163 * 1024;
  /// Shared memory per SM, all blocks together.
  int64_t sharedPerSM = 164 * 1024;
  /// 32-bit registers per SM and at most per thread.
  int64_t registersPerSM = 64 * 1024;
  int64_t registersPerThread = 255;
  int64_t maxThreadsPerSM = 2048;
  /// True for the default: the program must run on every sm_80+ GPU, so
  /// the limits above are the smallest of those GPUs (sm_86/sm_89 shared
  /// memory and threads).
  bool generic = false;

  /// The PTX target ("sm_80" for the default, else this chip's).
  std::string ptxChip() const;
  /// The cubin embedded where ptxas is available ("sm_90" for the default,
  /// which assembles for the 132-SM GPUs the shapes are tuned for).
  std::string cubinChip() const;
};

/// The default: every sm_80+ GPU, shapes tuned for 132 SMs.
const TargetDescription &defaultTarget();

/// The known chips, in the order `--gpu`'s error lists them.
llvm::ArrayRef<TargetDescription> knownTargets();

/// The description `--gpu=name` selects: a known chip's name, `sm_XX` for a
/// known compute capability, or empty for the default. Otherwise an error
/// (one line) that lists the known names.
llvm::Expected<TargetDescription> lookupTarget(llvm::StringRef name);

} // namespace monocard::cuda

#endif // MONOCARD_TARGET_CUDA_TARGETDESCRIPTION_H
