//===- CpuTarget.cpp - the cpu target: one host object, OpenMP threads ----===//
//
//   tfm      the imported IR
//   linalg   CpuStage::Linalg: linalg on tensors
//   memplan  CpuStage::Memplan: buffers, the arena
//   llvm     the model info, then CpuStage::Llvm: the LLVM dialect
//   obj      LLVM's O3 and code generator for the host CPU
//   exe      linked with the CPU launcher
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/CompileStages.h"
#include "monocard/Target/Cpu/CpuPipeline.h"
#include "monocard/Target/HostObject.h"
#include "monocard/Target/ModelInfo.h"

using namespace monocard;

namespace {

AddPasses cpuPasses(CpuStage stage) {
  return [stage](mlir::OpPassManager &pm, const CompileOptions &options) {
    addCpuStage(pm, stage, options.model);
  };
}

class CpuTarget : public CompileTarget {
public:
  CpuTarget();
  llvm::StringRef name() const override { return "cpu"; }
  llvm::StringRef defaultDtype() const override { return "f32"; }
  llvm::ArrayRef<CompileStage> stages() const override { return list; }

private:
  std::vector<CompileStage> list;
};

/// The model info is built before the LLVM stage: it reads the step
/// functions' signatures, which the LLVM dialect no longer has.
CompileStage llvmStage(llvm::StringRef target) {
  CompileStage stage =
      passStage("llvm", "the LLVM dialect", cpuPasses(CpuStage::Llvm));
  CompileStage::Action lower = stage.run;
  stage.run = [lower, target](CompileJob &job) -> llvm::Error {
    llvm::Expected<std::string> info = buildModelInfoJson(job.module, target);
    if (!info)
      return info.takeError();
    job.modelInfo = std::move(*info);
    return lower(job);
  };
  return stage;
}

CpuTarget::CpuTarget() {
  list.push_back(tfmStage());
  list.push_back(
      passStage("linalg", "linalg on tensors", cpuPasses(CpuStage::Linalg)));
  list.push_back(memplanStage(cpuPasses(CpuStage::Memplan)));
  list.push_back(llvmStage(name()));
  list.push_back(objectStage([](CompileJob &job) {
    return emitHostObject(job.module, job.modelInfo, job.options.hostCpu,
                          job.objectPath);
  }));
  list.push_back(
      executableStage([](llvm::StringRef object, llvm::StringRef output) {
        return linkExecutable(object, output, Launcher::Cpu);
      }));
}

} // namespace

const CompileTarget &monocard::getCpuTarget() {
  static const CpuTarget target;
  return target;
}
