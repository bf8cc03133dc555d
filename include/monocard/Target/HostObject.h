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

/// Links `objectPath` with the launcher into a standalone executable.
/// Links the host object with the launcher of `target` ("cpu" or "cuda").
llvm::Error linkExecutable(llvm::StringRef objectPath,
                           llvm::StringRef outputPath,
                           llvm::StringRef target = "cpu");

} // namespace monocard

#endif // MONOCARD_TARGET_HOSTOBJECT_H
