//===- CompileStages.cpp - the stages every target shares -----------------===//

#include "monocard/Target/CompileStages.h"
#include "monocard/Target/ModelInfo.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace monocard;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

static llvm::Error printJobModule(CompileJob &job) {
  return printModule(job.module, job.outputPath);
}

CompileStage monocard::tfmStage() {
  return {"tfm", "the imported tfm IR",
          [](CompileJob &) { return llvm::Error::success(); }, printJobModule};
}

CompileStage monocard::passStage(llvm::StringRef name, llvm::StringRef help,
                                 AddPasses add) {
  auto run = [add](CompileJob &job) {
    return runPasses(job.module,
                     [&](mlir::OpPassManager &pm) { add(pm, job.options); });
  };
  return {name, help, run, printJobModule};
}

/// The one-line summary of the plan that tfm-plan-memory recorded.
static llvm::Error reportMemory(mlir::ModuleOp module) {
  llvm::Expected<MemorySummary> mem = summarizeMemory(module);
  if (!mem)
    return mem.takeError();
  llvm::errs() << llvm::formatv(
      "memory plan: weights {0} + KV cache {1} + arena {2} "
      "(liveness lower bound {3}, naive {4})\n",
      humanBytes(mem->weightsBytes), humanBytes(mem->kvBytes),
      humanBytes(mem->arenaBytes), humanBytes(mem->lowerBound),
      humanBytes(mem->naiveBytes));
  return llvm::Error::success();
}

CompileStage monocard::memplanStage(AddPasses add) {
  CompileStage planned = passStage("memplan", "the memory plan as JSON", add);
  CompileStage::Action plan = planned.run;
  // The plan is known from here on: report it every time.
  planned.run = [plan](CompileJob &job) -> llvm::Error {
    if (llvm::Error e = plan(job))
      return e;
    return reportMemory(job.module);
  };
  planned.emit = [](CompileJob &job) -> llvm::Error {
    llvm::Expected<std::string> json = buildMemplanJson(job.module);
    if (!json)
      return json.takeError();
    return writeText(job.outputPath, *json + "\n");
  };
  return planned;
}

CompileStage monocard::objectStage(CompileStage::Action build) {
  return {"obj", "the host object file", std::move(build), nullptr};
}

CompileStage monocard::executableStage(LinkAction link) {
  auto run = [link](CompileJob &job) {
    llvm::Error linked = link(job.objectPath, job.outputPath);
    llvm::sys::fs::remove(job.objectPath);
    return linked;
  };
  return {"exe", "a standalone executable", run, nullptr};
}

llvm::Error
monocard::runPasses(mlir::ModuleOp module,
                    llvm::function_ref<void(mlir::OpPassManager &)> add) {
  mlir::PassManager pm(module->getContext());
  add(pm);
  if (mlir::failed(pm.run(module)))
    return fail("lowering failed (see the diagnostics above)");
  return llvm::Error::success();
}

llvm::Error monocard::writeText(llvm::StringRef path, llvm::StringRef text) {
  std::string msg;
  auto out = mlir::openOutputFile(path.empty() ? "-" : path, &msg);
  if (!out)
    return fail(msg);
  out->os() << text;
  out->keep();
  return llvm::Error::success();
}

llvm::Error monocard::printModule(mlir::ModuleOp module, llvm::StringRef path) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  os << "\n";
  return writeText(path, text);
}

std::string monocard::humanBytes(int64_t bytes) {
  return llvm::formatv("{0:f2} MiB", double(bytes) / (1024.0 * 1024.0)).str();
}
