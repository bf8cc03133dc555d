//===- CpuPipeline.h - tfm -> LLVM dialect for the host ---------*- C++ -*-===//

#ifndef MONOCARD_TARGET_CPU_CPUPIPELINE_H
#define MONOCARD_TARGET_CPU_CPUPIPELINE_H

#include "monocard/Target/ModelPasses.h"

#include "mlir/Pass/PassManager.h"

namespace monocard {

/// The CPU pipeline in three consecutive stages.
enum class CpuStage {
  Linalg,  // tfm-fuse, [tfm-quantize,] tfm-layout-weights,
           // tfm-lower-to-linalg, linalg fusion
  Memplan, // one-shot bufferization and tfm-plan-memory
  Llvm,    // loops and the LLVM dialect
};

/// Adds the passes of one stage (run them in the order above).
void addCpuStage(mlir::OpPassManager &pm, CpuStage stage,
                 const ModelPassOptions &model = {});

/// Adds every stage up to and including `last`.
void buildCpuPipeline(mlir::OpPassManager &pm, CpuStage last,
                      const ModelPassOptions &model = {});

} // namespace monocard

#endif // MONOCARD_TARGET_CPU_CPUPIPELINE_H
