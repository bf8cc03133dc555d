//===- ModelInfo.h - the model description embedded in a binary -*- C++ -*-===//

#ifndef MONOCARD_TARGET_MODELINFO_H
#define MONOCARD_TARGET_MODELINFO_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>

namespace monocard {

/// Sizes and summary of the memory plan of a lowered module (the largest
/// arena over its step functions; weights and KV from the ABI arguments).
struct MemorySummary {
  int64_t weightsBytes = 0;
  int64_t kvBytes = 0;
  int64_t arenaBytes = 0;
  int64_t lowerBound = 0;
  int64_t naiveBytes = 0;
};

/// Reads the plan that tfm-plan-memory recorded on the step functions.
llvm::Expected<MemorySummary> summarizeMemory(mlir::ModuleOp module);

/// `monocard_model_info` (docs/runtime-abi.md) for a lowered module.
llvm::Expected<std::string> buildModelInfoJson(mlir::ModuleOp module,
                                               llvm::StringRef target);

/// The per-step memory plans as JSON (`--emit=memplan`).
llvm::Expected<std::string> buildMemplanJson(mlir::ModuleOp module);

} // namespace monocard

#endif // MONOCARD_TARGET_MODELINFO_H
