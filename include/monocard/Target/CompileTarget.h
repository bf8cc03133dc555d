//===- CompileTarget.h - what monocard-compile compiles for -----*- C++ -*-===//
//
// A target (cpu, cuda) is a list of stages from the imported tfm IR to a
// linked program. Each stage has the name `--emit=` asks for; the driver runs
// the stages in order up to the one asked for and lets that one write its
// output. A target thus owns its pipeline, what each stage prints or writes,
// its host object and model info, and its link; monocard-compile only parses
// the command line and names the target.
//
//   cpu   tfm linalg memplan llvm obj exe      (lib/Target/Cpu/CpuTarget.cpp)
//   cuda  tfm gpu memplan kernels ptx obj exe  (lib/Target/Cuda/CudaTarget.cpp)
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_COMPILETARGET_H
#define MONOCARD_TARGET_COMPILETARGET_H

#include "monocard/Target/Cuda/CudaPipeline.h"
#include "monocard/Target/ModelPasses.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <string>
#include <vector>

namespace monocard {

/// The options of one compile that reach the targets; each reads its own.
struct CompileOptions {
  /// Fusion and quantization, before either target lays out the weights.
  ModelPassOptions model;
  /// cpu: the host CPU to tune for, "native" or an LLVM CPU name.
  std::string hostCpu = "native";
  /// cuda: the PTX and cubin chips ("none" as the cubin chip: PTX only).
  /// Its `model` is ignored: `model` above applies to every target.
  CudaTargetOptions cuda;
  /// cuda: the ptxas that assembles the cubin; empty: findPtxas().
  std::string ptxas;
};

/// One compile as it passes through a target's stages.
struct CompileJob {
  mlir::ModuleOp module;
  CompileOptions options;
  /// Where the last stage writes its output ("" or "-": stdout).
  std::string outputPath;
  /// The host object (set by runStages): the output itself for --emit=obj,
  /// else a temporary next to the program that the link removes.
  std::string objectPath;
  /// `monocard_model_info` (docs/runtime-abi.md), once a stage built it.
  std::string modelInfo;
};

/// One `--emit=` stage: what it does to the job, and what it writes when it
/// is the last one asked for.
struct CompileStage {
  using Action = std::function<llvm::Error(CompileJob &)>;
  llvm::StringRef name;
  /// One line for --help.
  llvm::StringRef help;
  Action run;
  /// Writes the stage's output; empty when `run` already wrote it.
  Action emit;
};

class CompileTarget {
public:
  virtual ~CompileTarget() = default;
  /// The name --target= selects.
  virtual llvm::StringRef name() const = 0;
  /// What `--dtype auto` means here: a dtype, or "auto" (the checkpoint's
  /// own, decided by the importer).
  virtual llvm::StringRef defaultDtype() const = 0;
  /// The stages in pipeline order, from "tfm" to "exe".
  virtual llvm::ArrayRef<CompileStage> stages() const = 0;
  /// The one-line error for asking another target for `stage`, one that
  /// only this target has.
  virtual std::string stageHint(llvm::StringRef stage) const;

  /// The stage named `name`, or null when this target has none.
  const CompileStage *findStage(llvm::StringRef name) const;
};

/// Every target, in the order --help lists them.
llvm::ArrayRef<const CompileTarget *> allTargets();
/// The target named `name`, or null.
const CompileTarget *lookupTarget(llvm::StringRef name);
/// The targets' names for messages: "cpu or cuda".
std::string targetNamesText();

/// A stage name of any target, for --emit's list of values.
struct EmitStageInfo {
  std::string name;
  /// The stage's help, followed by the targets that have it when not all do.
  std::string help;
};
/// Every stage of every target, each once, in pipeline order.
std::vector<EmitStageInfo> allEmitStages();

/// Runs `target`'s stages up to and including `last` (a stage it has), then
/// lets `last` write its output.
llvm::Error runStages(const CompileTarget &target, CompileJob &job,
                      llvm::StringRef last);

/// The targets themselves (lib/Target/Cpu/CpuTarget.cpp,
/// lib/Target/Cuda/CudaTarget.cpp).
const CompileTarget &getCpuTarget();
const CompileTarget &getCudaTarget();

} // namespace monocard

#endif // MONOCARD_TARGET_COMPILETARGET_H
