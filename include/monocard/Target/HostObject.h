//===- HostObject.h - LLVM dialect -> host object, and linking --*- C++ -*-===//

#ifndef MONOCARD_TARGET_HOSTOBJECT_H
#define MONOCARD_TARGET_HOSTOBJECT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>

namespace monocard {

/// Translates an LLVM-dialect module to LLVM IR, renames the step functions
/// to the ABI's names, adds `monocard_model_info`, optimizes at O3 for the
/// host CPU (`cpu` = "native") or a named one, and writes an object file.
/// With `llvmIrOut`, writes the optimized LLVM IR there instead.
llvm::Error emitHostObject(mlir::ModuleOp module, llvm::StringRef modelInfo,
                           llvm::StringRef cpu, llvm::StringRef objectPath,
                           bool emitLlvmIr = false);

/// The launcher a program is linked with: the CPU one runs the step
/// functions of the object; the CUDA one loads its PTX through the driver.
enum class Launcher { Cpu, Cuda };

/// Links `objectPath` with `launcher` into a standalone executable.
llvm::Error linkExecutable(llvm::StringRef objectPath,
                           llvm::StringRef outputPath, Launcher launcher);

} // namespace monocard

#endif // MONOCARD_TARGET_HOSTOBJECT_H
