//===- CudaObject.h - the CUDA target's host object -------------*- C++ -*-===//
//
// A CUDA program's host object holds data only: the model info (with the
// launch lists), the kernels' PTX and, where ptxas exists at compile time,
// a cubin. The launcher (lib/Runtime, LauncherCudaMain) does the rest.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_CUDA_CUDAOBJECT_H
#define MONOCARD_TARGET_CUDA_CUDAOBJECT_H

#include "llvm/Support/Error.h"

#include <string>

namespace monocard {

/// The ptxas found where a CUDA toolkit puts it: ptxas on PATH, else
/// /usr/local/cuda/bin/ptxas; empty when there is none. (monocard-compile's
/// --ptxas names another.)
std::string findPtxas();

/// Assembles `ptx` for `chip` (e.g. sm_90) with `ptxas`. A failure is an
/// error naming ptxas's first message: the PTX is the compiler's own, so a
/// rejection is a bug worth stopping for.
llvm::Expected<std::string>
assembleCubin(llvm::StringRef ptxas, llvm::StringRef ptx, llvm::StringRef chip);

/// Writes an object file for the host defining `monocard_model_info`,
/// `monocard_cuda_ptx`, `monocard_cuda_cubin` and
/// `monocard_cuda_cubin_size` (docs/runtime-abi.md).
llvm::Error emitCudaHostObject(llvm::StringRef modelInfo, llvm::StringRef ptx,
                               llvm::StringRef cubin,
                               llvm::StringRef objectPath);

} // namespace monocard

#endif // MONOCARD_TARGET_CUDA_CUDAOBJECT_H
