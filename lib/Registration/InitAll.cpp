//===- InitAll.cpp - register Monocard's dialects and passes --------------===//

#include "monocard/InitAll.h"
#include "monocard/Conversion/Passes.h"
#include "monocard/Dialect/Tfm/IR/TfmDialect.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void monocard::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<monocard::tfm::TfmDialect>();
  // Upstream: the lowering pipelines touch linalg, bufferization, scf,
  // vector, memref, gpu, nvvm, nvgpu and llvm; registering them all keeps
  // monocard-opt able to read any stage's output.
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates the kernels to LLVM IR in-process.
  mlir::registerAllToLLVMIRTranslations(registry);
}

void monocard::registerAllPasses() {
  mlir::registerAllPasses();
  monocard::tfm::registerTfmPasses();
  monocard::registerConversionPasses();
}
