//===- ImportCheckpoint.h - HF checkpoint -> tfm IR -------------*- C++ -*-===//

#ifndef MONOCARD_FRONTEND_IMPORTCHECKPOINT_H
#define MONOCARD_FRONTEND_IMPORTCHECKPOINT_H

#include "monocard/Frontend/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

namespace monocard {

struct ImportOptions {
  int64_t maxSeq = 256;       // KV cache positions, fixed at compile time
  int64_t prefillChunk = 64;  // prompt tokens per prefill call
  /// Compute and packed-weight element type: f32, f16, bf16, or "auto" for
  /// the checkpoint's own (importCheckpoint only).
  std::string dtype = "f32";
};

/// Builds the `prefill` and `decode` step functions of `config` as tfm IR.
/// The module carries the model description in its `tfm.model` attribute.
mlir::OwningOpRef<mlir::ModuleOp> buildStepFunctions(mlir::MLIRContext *ctx,
                                                     const ModelConfig &config,
                                                     const ImportOptions &opts);

/// Reads config.json and the safetensors headers of `dir`, checks that the
/// checkpoint holds exactly the tensors the architecture needs (names,
/// shapes, dtypes f32/f16/bf16), and builds the step functions.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importCheckpoint(mlir::MLIRContext *ctx, llvm::StringRef dir,
                 const ImportOptions &opts);

} // namespace monocard

#endif // MONOCARD_FRONTEND_IMPORTCHECKPOINT_H
