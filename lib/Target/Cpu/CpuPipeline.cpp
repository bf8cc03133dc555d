//===- CpuPipeline.cpp - tfm -> LLVM dialect for the host -----------------===//
//
//   tfm-fuse, tfm-quantize (if asked)            fused ops, quantized weights
//   tfm-layout-weights, tfm-lower-to-linalg      the ABI, linalg on tensors
//   canonicalize, cse, elementwise fusion         fewer loops and buffers
//                                                 (none that recomputes)
//   one-shot bufferization                        weights/KV/tokens in place
//   tfm-plan-memory                               intermediates -> arena
//   linalg -> parallel loops; the large ones -> OpenMP (threads)
//   loops -> cf, math/arith/memref/func/omp -> llvm (bare pointers)
//
// LLVM's O3 (lib/Target/HostObject.cpp) then vectorizes the loops; the
// reductions are marked reassociable so that it may.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cpu/CpuPipeline.h"
#include "monocard/Conversion/Passes.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace monocard;

static void addLinalgStage(OpPassManager &pm, const ModelPassOptions &model) {
  addModelPasses(pm, model);
  pm.addPass(tfm::createTfmLayoutWeights());
  pm.addPass(createTfmLowerToLinalg());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createTfmFuseElementwise());
  pm.addPass(createCanonicalizerPass());
}

static void addMemplanStage(OpPassManager &pm) {
  pm.addPass(bufferization::createOneShotBufferizePass());
  // In-place KV appends leave copies of a slice onto itself: CSE makes the
  // two subviews one value and canonicalization drops the self-copy.
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(tfm::createTfmPlanMemory());
}

static void addLlvmStage(OpPassManager &pm) {
  // Parallel dimensions become scf.parallel; the large ones become OpenMP
  // worksharing loops that the launcher runs on its thread pool.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(tfm::createTfmSelectParallelLoops());
  pm.addPass(createConvertSCFToOpenMPPass());
  // scf-to-openmp wraps each body in memref.alloca_scope; with no allocas
  // inside, canonicalization inlines it (a region of one block is what the
  // later scf-to-cf needs).
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(math::createMathExpandOpsPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  ConvertFuncToLLVMPassOptions funcOpts;
  funcOpts.useBarePtrCallConv = true; // the ABI passes plain pointers
  pm.addPass(createConvertFuncToLLVMPass(funcOpts));
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void monocard::addCpuStage(OpPassManager &pm, CpuStage stage,
                           const ModelPassOptions &model) {
  switch (stage) {
  case CpuStage::Linalg:
    return addLinalgStage(pm, model);
  case CpuStage::Memplan:
    return addMemplanStage(pm);
  case CpuStage::Llvm:
    return addLlvmStage(pm);
  }
}

void monocard::buildCpuPipeline(OpPassManager &pm, CpuStage last,
                                const ModelPassOptions &model) {
  for (CpuStage s : {CpuStage::Linalg, CpuStage::Memplan, CpuStage::Llvm}) {
    addCpuStage(pm, s, model);
    if (s == last)
      return;
  }
}
