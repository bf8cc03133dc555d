//===- CudaPipeline.cpp - tfm -> launches + PTX ---------------------------===//
//
// See CudaPipeline.h for the stages. The kernels leave the compiler as PTX
// produced in-process by LLVM's NVPTX back end (gpu-module-to-binary with
// format=isa), so compiling for CUDA needs no CUDA toolkit; CudaObject.cpp
// adds a cubin where ptxas happens to be installed.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/CudaPipeline.h"
#include "monocard/Conversion/Passes.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

#include <cstdlib>
#include <string>

using namespace mlir;
using namespace monocard;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

void monocard::addCudaStage(OpPassManager &pm, CudaStage stage,
                            const CudaTargetOptions &options) {
  switch (stage) {
  case CudaStage::Gpu:
    addModelPasses(pm, options.model);
    pm.addPass(tfm::createTfmLayoutWeights());
    pm.addPass(
        createTfmLowerToGPU({options.gpu, options.gemvTune, options.gemmTile}));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    return;
  case CudaStage::Memplan:
    pm.addNestedPass<func::FuncOp>(tfm::createTfmPlanMemory());
    return;
  case CudaStage::Ptx: {
    GpuNVVMAttachTargetOptions target;
    target.moduleMatcher = "monocard_kernels";
    target.chip = options.ptxChip;
    target.features = options.ptxFeatures;
    target.optLevel = 3;
    pm.addPass(createGpuNVVMAttachTarget(target));
    OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
    kernels.addPass(createSCFToControlFlowPass());
    ConvertGpuOpsToNVVMOpsOptions nvvm;
    nvvm.useBarePtrCallConv = true; // one device pointer per memref
    kernels.addPass(createConvertGpuOpsToNVVMOps(nvvm));
    kernels.addPass(createGpuExternDynamicShared());
    kernels.addPass(createCanonicalizerPass());
    kernels.addPass(createCSEPass());
    kernels.addPass(createReconcileUnrealizedCastsPass());
    GpuModuleToBinaryPassOptions binary;
    binary.compilationTarget = "isa"; // PTX text
    pm.addPass(createGpuModuleToBinaryPass(binary));
    return;
  }
  }
}

llvm::Expected<std::string> monocard::extractPtx(ModuleOp module) {
  for (auto binary : module.getOps<gpu::BinaryOp>()) {
    if (binary.getName() != "monocard_kernels")
      continue;
    for (Attribute a : binary.getObjects()) {
      auto object = cast<gpu::ObjectAttr>(a);
      if (object.getFormat() == gpu::CompilationTarget::Assembly)
        return object.getObject().getValue().str();
    }
    return fail("gpu.binary @monocard_kernels holds no PTX object");
  }
  return fail("module has no gpu.binary @monocard_kernels; run the Ptx stage");
}
