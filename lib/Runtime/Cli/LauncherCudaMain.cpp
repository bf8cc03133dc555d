//===- LauncherCudaMain.cpp - main() of a model compiled for CUDA ---------===//
//
// Linked after the host object monocard-compile --target=cuda generates,
// which holds only data: the model info (with its "cuda" launch plan), the
// kernels' PTX and, when ptxas was there at compile time, a cubin of them
// (docs/runtime-abi.md). Everything else is in MonocardRuntime.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cli/Launcher.h"

extern "C" {
extern const char monocard_model_info[];
extern const char monocard_cuda_ptx[];
extern const unsigned char monocard_cuda_cubin[];
extern const unsigned long long monocard_cuda_cubin_size;
}

int main(int argc, char **argv) {
  return monocard::runCudaLauncher(argc, argv, monocard_model_info,
                                   monocard_cuda_ptx, monocard_cuda_cubin,
                                   monocard_cuda_cubin_size);
}
