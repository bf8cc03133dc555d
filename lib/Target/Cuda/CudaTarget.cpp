//===- CudaTarget.cpp - the cuda target: kernels as PTX, a data object ----===//
//
//   tfm      the imported IR
//   gpu      CudaStage::Gpu: launches of gpu.func kernels
//   memplan  CudaStage::Memplan: the arena
//   kernels  the launches of each step, one line each (no passes)
//   ptx      CudaStage::Ptx: the kernels' PTX
//   obj      PTX, a cubin where ptxas exists, and the model info with the
//            launch lists, as data in a host object
//   exe      linked with the CUDA launcher
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/CompileStages.h"
#include "monocard/Target/Cuda/CudaObject.h"
#include "monocard/Target/Cuda/CudaPipeline.h"
#include "monocard/Target/HostObject.h"

using namespace monocard;

namespace {

CudaTargetOptions cudaOptions(const CompileOptions &options) {
  CudaTargetOptions cuda = options.cuda;
  cuda.model = options.model;
  return cuda;
}

AddPasses cudaPasses(CudaStage stage) {
  return [stage](mlir::OpPassManager &pm, const CompileOptions &options) {
    addCudaStage(pm, stage, cudaOptions(options));
  };
}

class CudaTarget : public CompileTarget {
public:
  CudaTarget();
  llvm::StringRef name() const override { return "cuda"; }
  llvm::StringRef defaultDtype() const override { return "auto"; }
  llvm::ArrayRef<CompileStage> stages() const override { return list; }
  std::string stageHint(llvm::StringRef) const override {
    return "--emit=gpu, kernels and ptx are stages of the cuda target; "
           "use --target=cuda";
  }

private:
  std::vector<CompileStage> list;
};

CompileStage kernelsStage() {
  auto list = [](CompileJob &job) -> llvm::Error {
    llvm::Expected<std::string> text = describeKernels(job.module);
    if (!text)
      return text.takeError();
    return writeText(job.outputPath, *text);
  };
  return {"kernels", "the kernel launches of each step",
          [](CompileJob &) { return llvm::Error::success(); }, list};
}

CompileStage ptxStage() {
  CompileStage stage =
      passStage("ptx", "the kernels' PTX", cudaPasses(CudaStage::Ptx));
  stage.emit = [](CompileJob &job) -> llvm::Error {
    llvm::Expected<std::string> ptx = extractPtx(job.module);
    if (!ptx)
      return ptx.takeError();
    return writeText(job.outputPath, *ptx);
  };
  return stage;
}

/// The cubin for the chip asked for, or "" when none is asked for or no
/// ptxas is at hand (the launcher then JITs the PTX).
llvm::Expected<std::string> maybeCubin(const CompileOptions &options,
                                       llvm::StringRef ptx) {
  if (options.cuda.cubinChip == "none")
    return "";
  std::string ptxas = options.ptxas.empty() ? findPtxas() : options.ptxas;
  if (ptxas.empty())
    return "";
  return assembleCubin(ptxas, ptx, options.cuda.cubinChip);
}

llvm::Error buildObject(CompileJob &job) {
  llvm::Expected<std::string> ptx = extractPtx(job.module);
  if (!ptx)
    return ptx.takeError();
  llvm::Expected<std::string> cubin = maybeCubin(job.options, *ptx);
  if (!cubin)
    return cubin.takeError();
  llvm::Expected<std::string> info = buildCudaModelInfoJson(
      job.module, cudaOptions(job.options), !cubin->empty());
  if (!info)
    return info.takeError();
  job.modelInfo = std::move(*info);
  return emitCudaHostObject(job.modelInfo, *ptx, *cubin, job.objectPath);
}

CudaTarget::CudaTarget() {
  list.push_back(tfmStage());
  list.push_back(passStage("gpu", "kernel launches and gpu.func kernels",
                           cudaPasses(CudaStage::Gpu)));
  list.push_back(memplanStage(cudaPasses(CudaStage::Memplan)));
  list.push_back(kernelsStage());
  list.push_back(ptxStage());
  list.push_back(objectStage(buildObject));
  list.push_back(
      executableStage([](llvm::StringRef object, llvm::StringRef output) {
        return linkExecutable(object, output, Launcher::Cuda);
      }));
}

} // namespace

const CompileTarget &monocard::getCudaTarget() {
  static const CudaTarget target;
  return target;
}
