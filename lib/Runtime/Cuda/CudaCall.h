//===- CudaCall.h - Checked driver calls inside CudaDevice ------*- C++ -*-===//
//
// Private to lib/Runtime/Cuda: the CudaDevice methods check every driver call
// the same way, and a macro keeps each one a single readable line.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_RUNTIME_CUDA_CUDACALL_H
#define MONOCARD_LIB_RUNTIME_CUDA_CUDACALL_H

#include "monocard/Runtime/Cuda/CudaDriver.h"

// Calls the driver entry point Fn and returns false from the enclosing
// function, with Error set to "Fn failed: NAME (text)", if it fails.
#define MONOCARD_CU(Fn, ...)                                                   \
  do {                                                                         \
    if (!Driver.check(Driver.api().Fn(__VA_ARGS__), #Fn, Error))               \
      return false;                                                            \
  } while (0)

#endif // MONOCARD_LIB_RUNTIME_CUDA_CUDACALL_H
