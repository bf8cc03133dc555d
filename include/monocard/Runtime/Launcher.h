//===- Launcher.h - The program around a compiled model ---------*- C++ -*-===//
//
// Everything a compiled model executable does, as one function of the
// model's info and step functions: LauncherMain.cpp binds it to the
// generated object's symbols; tests bind it to mock steps.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_LAUNCHER_H
#define MONOCARD_RUNTIME_LAUNCHER_H

#include "monocard/Runtime/Generate.h"

namespace monocard {

/// Runs the command line \p Argv against the model described by
/// \p ModelInfoJson. Returns the exit code: 0 on success, 1 for errors
/// (printed as one "error: ..." line on stderr), 2 for usage errors.
int runLauncher(int Argc, const char *const *Argv, const char *ModelInfoJson,
                const StepFunctions &Steps);

} // namespace monocard

#endif // MONOCARD_RUNTIME_LAUNCHER_H
