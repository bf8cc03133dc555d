//===- AttentionKernel.cpp - GQA attention over the KV cache --------------===//
//
// Two kernels, both with an online softmax in f32 (a running maximum and
// sum per query, the accumulated values rescaled whenever the maximum
// grows), so nothing scales with the context and there is no length cap.
// Scores live in the log2 domain: the query is scaled by scale * log2(e) as
// it is loaded, so every exponential is one ex2.approx. One query row
// (decode) takes AttentionDecode.cpp's kernel, a chunk of rows (prefill)
// AttentionPrefill.cpp's.
//
// GQA: query head h reads KV head h / (heads / kv_heads). Rows at or past
// n_valid (prefill padding) produce zeros. causal = false lets every row
// see keys 0 .. pos + rows - 1.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

/// The largest head dimension the kernels take (the prefill kernel keeps
/// 4 rows x dim / 16 accumulators per thread).
static constexpr int64_t kMaxHeadDim = 256;

KernelLaunch KernelLibrary::attention(const AttentionSpec &spec,
                                      std::string &why) {
  if (spec.dim > kMaxHeadDim) {
    why = llvm::formatv("head dimension {0} is not supported by the CUDA "
                        "attention kernels (at most {1})",
                        spec.dim, kMaxHeadDim);
    return {};
  }
  if (spec.rows == 1)
    return attentionDecode(spec);
  return attentionPrefill(spec, why);
}
