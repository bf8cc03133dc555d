//===- LauncherCuda.cpp - The launcher for a model compiled for CUDA ------===//
//
// A file of its own so that CPU programs, which link the same library, do
// not pull in the GPU backend.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cli/Launcher.h"
#include "monocard/Runtime/Cuda/CudaRunner.h"
#include "monocard/Runtime/Weights/WeightsFile.h"

#include <cstdlib>

using namespace monocard;

int monocard::runCudaLauncher(int Argc, const char *const *Argv,
                              const char *ModelInfoJson, const char *Ptx,
                              const unsigned char *Cubin,
                              unsigned long long CubinSize) {
  CudaProgram Program;
  Program.Ptx = Ptx ? std::string_view(Ptx) : std::string_view();
  if (Cubin && CubinSize)
    Program.Cubin = std::string_view(reinterpret_cast<const char *>(Cubin),
                                     static_cast<size_t>(CubinSize));
  // Another libcuda (a driver outside the loader's path, or the tests'
  // stand-in) without a command-line option the CPU target lacks.
  if (const char *Lib = std::getenv("MONOCARD_CUDA_DRIVER"); Lib && *Lib)
    Program.DriverLibrary = Lib;
  return runLauncherWith(
      Argc, Argv, ModelInfoJson,
      [&](const ModelInfo &Info, const WeightsFile &W,
          std::string &Error) -> std::unique_ptr<StepBackend> {
        auto R = std::make_unique<CudaRunner>();
        if (!R->init(Info, W.data(), Program, Error))
          return nullptr;
        return R;
      });
}
