//===- LinearSignature.h - a linear kernel's name and arguments -*- C++ -*-===//
//
// What the fused GEMV (FusedGemv.cpp) and the fused GEMM (GemmKernels.cpp)
// share about the kernel of a LinearSpec besides its body: its parameter
// list and the pieces of its name. It lives apart from both builders and
// from the dispatch (LinearKernels.cpp) so that the builders depend on it
// and the dispatch on the builders, never the other way round.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_TARGET_CUDA_KERNELS_LINEARSIGNATURE_H
#define MONOCARD_LIB_TARGET_CUDA_KERNELS_LINEARSIGNATURE_H

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include <string>

namespace monocard::gpu_kernels {

/// The parameter types of a LinearSpec's kernel, in the order LinearSpec
/// documents; the GEMV and the GEMM both take exactly these.
llvm::SmallVector<Type> linearArgTypes(mlir::MLIRContext *ctx,
                                       const LinearSpec &spec,
                                       mlir::MemRefType scalars);

/// `v` as a symbol-safe string: %e with '.', '+' and '-' spelled d, p, m
/// (1e-05 -> 1d000000em05).
std::string floatName(double v);

/// The fused GEMV's kernel name:
/// `prefix`_n.._k.._x_w[_bias_T][_norm_T_epsE][_swiglu][_res_T][_qkv_..]_y,
/// with `tableHash` naming the RoPE table of a qkv epilogue.
std::string linearName(llvm::StringRef prefix, const LinearSpec &s,
                       llvm::StringRef tableHash);

} // namespace monocard::gpu_kernels

#endif // MONOCARD_LIB_TARGET_CUDA_KERNELS_LINEARSIGNATURE_H
