//===- LinearKernels.cpp - which kernel computes a linear layer -----------===//
//
// The entry points of the linear kernels: a plain x * W^T goes to the
// GEMV or GEMM of PlainLinear.cpp, a LinearSpec (quantized weights, fused
// prologue and epilogues) to the GEMV of FusedGemv.cpp (one row) or the
// GEMM of GemmKernels.cpp (more rows), once linearUnsupported has checked
// that they read its layout.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

KernelLaunch KernelLibrary::linear(int64_t m, int64_t n, int64_t k, Type xT,
                                   Type wT, Type biasT, Type yT) {
  return m == 1 ? gemv(n, k, xT, wT, biasT, yT)
                : gemm(m, n, k, xT, wT, biasT, yT);
}

std::string KernelLibrary::linearUnsupported(const LinearSpec &s) {
  if (s.quant) {
    if (s.quant.bits != 4 && s.quant.bits != 8)
      return llvm::formatv("{0}-bit weights are not supported by the CUDA "
                           "linear kernels (int4 and int8 are)",
                           s.quant.bits);
    // The GEMV's lanes take 16 bytes of codes at a time, all of one group;
    // the GEMM dequantizes element by element and takes any group.
    int64_t epv = 128 / s.quant.bits;
    if (s.quant.group <= 0 ||
        (s.m == 1 && s.quant.group % epv != 0 && s.quant.group < s.k))
      return llvm::formatv(
          "a quantization group of {0} is not supported by the CUDA linear "
          "kernels: int{1} groups must be a multiple of {2} elements (one "
          "16-byte load) or span the whole row",
          s.quant.group, s.quant.bits, epv);
  }
  if (s.qkv && (s.headDim % 2 || s.n != (s.heads + 2 * s.kvHeads) * s.headDim))
    return "the qkv epilogue needs an even head dimension and (heads + 2 kv "
           "heads) x head_dim weight rows";
  if (s.swiglu && s.n % 2)
    return "the swiglu epilogue needs an even number of weight rows";
  return "";
}

KernelLaunch KernelLibrary::fusedLinear(const LinearSpec &spec) {
  if (!linearUnsupported(spec).empty())
    return {};
  return spec.m == 1 ? fusedGemv(spec, config.gemv(spec))
                     : fusedGemm(spec, config.gemm(spec));
}
