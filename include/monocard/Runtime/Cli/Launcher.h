//===- Launcher.h - The program around a compiled model ---------*- C++ -*-===//
//
// Everything a compiled model executable does, as one function of the
// model's info and its steps: LauncherMain.cpp binds it to a CPU object's
// step functions, LauncherCudaMain.cpp to a CUDA object's kernels; tests
// bind it to mock steps. Both targets share the command line and outputs.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CLI_LAUNCHER_H
#define MONOCARD_RUNTIME_CLI_LAUNCHER_H

#include "monocard/Runtime/Cli/Generate.h"
#include "monocard/Runtime/Cpu/CpuSteps.h"

#include <functional>
#include <memory>

namespace monocard {

class WeightsFile;

/// Makes the backend that runs the steps, once the model info and the
/// weights are checked; null with one line in Error on failure.
using BackendFactory = std::function<std::unique_ptr<StepBackend>(
    const ModelInfo &, const WeightsFile &, std::string &Error)>;

/// Runs the command line \p Argv against the model described by
/// \p ModelInfoJson. Returns the exit code: 0 on success, 1 for errors
/// (printed as one "error: ..." line on stderr), 2 for usage errors.
int runLauncherWith(int Argc, const char *const *Argv,
                    const char *ModelInfoJson,
                    const BackendFactory &MakeBackend);

/// The CPU target: the compiled step functions.
int runLauncher(int Argc, const char *const *Argv, const char *ModelInfoJson,
                const StepFunctions &Steps);

/// The CUDA target (LauncherCuda.cpp): the launch plan inside the model
/// info, run from \p Ptx (NUL-terminated) or \p Cubin (\p CubinSize bytes;
/// 0 when there is none). The driver is libcuda.so.1, or the library named
/// by the environment variable MONOCARD_CUDA_DRIVER.
int runCudaLauncher(int Argc, const char *const *Argv,
                    const char *ModelInfoJson, const char *Ptx,
                    const unsigned char *Cubin, unsigned long long CubinSize);

} // namespace monocard

#endif // MONOCARD_RUNTIME_CLI_LAUNCHER_H
