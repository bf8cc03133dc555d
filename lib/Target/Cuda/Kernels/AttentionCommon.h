//===- AttentionCommon.h - what the attention kernels share -----*- C++ -*-===//
//
// The decode (AttentionDecode.cpp) and prefill (AttentionPrefill.cpp)
// kernels' shared constants and naming (AttentionCommon.cpp), apart from
// AttentionKernel.cpp, which picks one of the two.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_TARGET_CUDA_KERNELS_ATTENTIONCOMMON_H
#define MONOCARD_LIB_TARGET_CUDA_KERNELS_ATTENTIONCOMMON_H

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include <string>

namespace monocard::gpu_kernels::attention {

constexpr double kLog2e = 1.4426950408889634;
/// The running maximum starts finite, so that 2^(m - m') is never
/// 2^(-inf + inf) for a thread that has seen only masked keys.
constexpr double kNoMax = -1e30;

/// attention_`kind`_r.._h.._kv.._d.._s.._sc..[_nc][_nvalid]_q_kv_out.
std::string kernelName(llvm::StringRef kind, const AttentionSpec &s);

} // namespace monocard::gpu_kernels::attention

#endif // MONOCARD_LIB_TARGET_CUDA_KERNELS_ATTENTIONCOMMON_H
