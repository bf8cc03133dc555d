//===- monocard-compile.cpp - checkpoint -> standalone executable ---------===//
//
// monocard-compile MODEL_DIR|FILE.mlir [--target=cpu|cuda] [-o OUT]
//     [--emit=tfm|linalg|gpu|memplan|kernels|llvm|ptx|obj|exe]
//     [--max-seq N] [--prefill-chunk N] [--dtype auto|f32|f16|bf16]
//     [--cpu native|NAME] [--gpu CHIP|sm_XX] [--cubin-arch sm_XX|none]
//     [--ptxas PATH]
//     [--quant none|int8|int4] [--group N] [--quant-lm-head] [--no-fuse]
//
// With --emit=exe (the default) it writes OUT, the program, and, when the
// input is a checkpoint directory, OUT.weights, the packed weights. It always
// prints a one-line memory plan. Every failure is one line on stderr,
// `error: ...`, and exit status 1.
//
// The driver reads the command line, imports the model and hands it to the
// target (monocard/Target/CompileTarget.h), whose stages do the rest.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/ImportCheckpoint.h"
#include "monocard/InitAll.h"
#include "monocard/Runtime/Program/ModelInfo.h"
#include "monocard/Runtime/Weights/Packer.h"
#include "monocard/Target/CompileStages.h"
#include "monocard/Target/CompileTarget.h"
#include "monocard/Target/Cuda/Kernels/KernelConfig.h"
#include "monocard/Target/Cuda/TargetDescription.h"
#include "monocard/Version.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace mlir;

namespace {

// --help lists these categories only (after --help and --version); the names
// sort in the order they are meant to be read.
cl::OptionCategory ioCategory("Input and output options");
cl::OptionCategory modelCategory("Model options");
cl::OptionCategory optCategory("Optimization options");
cl::OptionCategory targetCategory("Target options");

/// An index into the stages of every target (monocard::allEmitStages); the
/// values are added from the targets before the command line is parsed.
enum EmitId : unsigned {};

cl::opt<std::string> inputPath(cl::Positional, cl::desc("MODEL_DIR|FILE.mlir"),
                               cl::Required, cl::cat(ioCategory));
cl::opt<std::string>
    outputPath("o",
               cl::desc("output path (required for exe; text goes to stdout "
                        "by default)"),
               cl::value_desc("path"), cl::init(""), cl::cat(ioCategory));
cl::opt<EmitId> emit("emit", cl::desc("what to produce (default: exe)"),
                     cl::cat(ioCategory));
cl::opt<std::string> target("target", cl::value_desc("name"), cl::init("cpu"),
                            cl::cat(ioCategory));

cl::opt<int64_t> maxSeq("max-seq",
                        cl::desc("KV cache positions, the context length "
                                 "(default: 256)"),
                        cl::value_desc("N"), cl::init(256),
                        cl::cat(modelCategory));
cl::opt<int64_t> prefillChunk("prefill-chunk",
                              cl::desc("prompt tokens per prefill call "
                                       "(default: 64)"),
                              cl::value_desc("N"), cl::init(64),
                              cl::cat(modelCategory));
cl::opt<std::string>
    dtype("dtype",
          cl::desc("compute and weight type: f32, f16, bf16, or auto (the "
                   "default: f32 on cpu, the checkpoint's own on cuda)"),
          cl::value_desc("type"), cl::init("auto"), cl::cat(modelCategory));

cl::opt<std::string>
    quant("quant",
          cl::desc("weight-only quantization of the linear layers: none "
                   "(default), int8 (per output channel) or int4 (per group)"),
          cl::value_desc("kind"), cl::init("none"), cl::cat(optCategory));
cl::opt<int64_t> group("group",
                       cl::desc("elements per scale of int4 weights "
                                "(default: 128)"),
                       cl::value_desc("N"), cl::init(128),
                       cl::cat(optCategory));
cl::opt<bool> quantLmHead("quant-lm-head",
                          cl::desc("quantize the output projection too "
                                   "(default: off)"),
                          cl::init(false), cl::cat(optCategory));
cl::opt<bool> noFuse("no-fuse",
                     cl::desc("keep every op its own kernel, skipping "
                              "tfm-fuse (default: off)"),
                     cl::init(false), cl::cat(optCategory));

cl::opt<std::string> cpu("cpu",
                         cl::desc("cpu: the host CPU to tune for, an LLVM "
                                  "CPU name (default: native)"),
                         cl::value_desc("name"), cl::init("native"),
                         cl::cat(targetCategory));
cl::opt<std::string> gpuName(
    "gpu",
    cl::desc("cuda: the GPU to build for, a chip (a100, a10, a40, rtx3090, "
             "l4, l40s, rtx4090, h100-sxm, h100-pcie, h200) or sm_XX "
             "(default: every sm_80+ GPU, launch shapes tuned for 132 SMs)"),
    cl::value_desc("chip"), cl::init(""), cl::cat(targetCategory));
cl::opt<std::string>
    cubinArch("cubin-arch",
              cl::desc("cuda: also embed a cubin for this GPU when ptxas is "
                       "available; none: PTX only (default: --gpu's, or "
                       "sm_90)"),
              cl::value_desc("sm_XX"), cl::init(""), cl::cat(targetCategory));
cl::opt<std::string> gemvTune("gemv-tune",
                              cl::desc("cuda: GEMV tuning override, "
                                       "u=U,bps=B,persist=0|1,roll=0|1"),
                              cl::Hidden, cl::cat(targetCategory));
cl::opt<std::string> gemmTile("gemm-tile",
                              cl::desc("cuda: GEMM tile override, BMxBN"),
                              cl::Hidden, cl::cat(targetCategory));
cl::opt<std::string>
    ptxas("ptxas",
          cl::desc("cuda: the ptxas that assembles the cubin (default: "
                   "ptxas on PATH, else /usr/local/cuda/bin/ptxas)"),
          cl::value_desc("path"), cl::init(""), cl::cat(targetCategory));

int fail(const Twine &msg) {
  WithColor::error(errs(), "monocard-compile") << msg << "\n";
  return 1;
}

int fail(Error e) { return fail(toString(std::move(e))); }

/// The stage names --emit takes, and --target's description, come from the
/// targets; --help shows Monocard's options only.
const std::vector<monocard::EmitStageInfo> &describeOptions() {
  static const std::vector<monocard::EmitStageInfo> stages = [] {
    std::vector<monocard::EmitStageInfo> all = monocard::allEmitStages();
    for (monocard::EmitStageInfo &s : all)
      if (s.name == "exe")
        s.help += " (default)";
    return all;
  }();
  for (size_t i = 0; i < stages.size(); ++i) {
    emit.getParser().addLiteralOption(stages[i].name, EmitId(i),
                                      stages[i].help);
    if (stages[i].name == "exe")
      emit.setInitialValue(EmitId(i));
  }
  static const std::string targets =
      monocard::targetNamesText() + " (default: cpu)";
  target.setDescription(targets);
  cl::HideUnrelatedOptions(
      {&ioCategory, &modelCategory, &optCategory, &targetCategory});
  cl::SetVersionPrinter([](raw_ostream &os) {
    os << "monocard-compile (Monocard) " MONOCARD_VERSION_STRING "\n"
       << "  built with LLVM " LLVM_VERSION_STRING "\n";
  });
  return stages;
}

/// The one-line error for options that do not go together, or "".
std::string checkOptions(const monocard::CompileTarget *t, StringRef stage) {
  if (dtype != "auto" && dtype != "f32" && dtype != "f16" && dtype != "bf16")
    return "--dtype must be auto, f32, f16 or bf16, got '" + dtype + "'";
  if (!t)
    return "--target must be " + monocard::targetNamesText() + ", got '" +
           target + "'";
  if (quant != "none" && quant != "int8" && quant != "int4")
    return "--quant must be none, int8 or int4, got '" + quant + "'";
  if (group <= 0)
    return "--group must be positive, got " + std::to_string(group);
  // The KV cache and the prefill buffers are sized from these: the bounds
  // are far past any real context yet keep those sizes from wrapping.
  if (maxSeq <= 0 || maxSeq > (int64_t(1) << 24))
    return "--max-seq must be in [1, 2^24], got " + std::to_string(maxSeq);
  if (prefillChunk <= 0 || prefillChunk > (int64_t(1) << 16))
    return "--prefill-chunk must be in [1, 2^16], got " +
           std::to_string(prefillChunk);
  if (Expected<monocard::cuda::TargetDescription> gpu =
          monocard::cuda::lookupTarget(gpuName);
      !gpu)
    return "--gpu: " + toString(gpu.takeError());
  // The overrides are checked here so a bad one is one line, not a pass
  // failure.
  if (Expected<monocard::gpu_kernels::KernelOverrides> over =
          monocard::gpu_kernels::KernelOverrides::parse(gemvTune, gemmTile);
      !over)
    return "--" + toString(over.takeError());
  if (!ptxas.empty() && !sys::fs::can_execute(ptxas))
    return "--ptxas: cannot execute '" + ptxas + "'";
  if (!t->findStage(stage)) {
    for (const monocard::CompileTarget *owner : monocard::allTargets())
      if (owner->findStage(stage))
        return owner->stageHint(stage);
  }
  if (stage == "exe" && outputPath.empty())
    return "-o OUT is required to build an executable";
  return "";
}

monocard::CompileOptions compileOptions() {
  monocard::CompileOptions options;
  options.model.fuse = !noFuse;
  options.model.quantBits = quant == "int8" ? 8 : quant == "int4" ? 4 : 0;
  options.model.group = group;
  options.model.quantLmHead = quantLmHead;
  options.hostCpu = cpu;
  // checkOptions accepted the name.
  monocard::cuda::TargetDescription gpu =
      cantFail(monocard::cuda::lookupTarget(gpuName));
  options.cuda.gpu = gpuName;
  options.cuda.gemvTune = gemvTune;
  options.cuda.gemmTile = gemmTile;
  options.cuda.ptxChip = gpu.ptxChip();
  options.cuda.cubinChip =
      cubinArch.empty() ? gpu.cubinChip() : cubinArch.getValue();
  options.ptxas = ptxas;
  return options;
}

/// A tfm module from a checkpoint directory or a .mlir file.
FailureOr<OwningOpRef<ModuleOp>>
loadInput(MLIRContext &ctx, StringRef autoDtype, std::string &error) {
  if (sys::fs::is_directory(inputPath)) {
    monocard::ImportOptions opts;
    opts.maxSeq = maxSeq;
    opts.prefillChunk = prefillChunk;
    opts.dtype = dtype == "auto" ? autoDtype.str() : dtype.getValue();
    Expected<OwningOpRef<ModuleOp>> module =
        monocard::importCheckpoint(&ctx, inputPath, opts);
    if (!module) {
      error = toString(module.takeError());
      return failure();
    }
    return std::move(*module);
  }
  // A .mlir file: diagnostics go to stderr as the parser reports them.
  SourceMgr sourceMgr;
  std::string msg;
  auto file = openInputFile(inputPath, &msg);
  if (!file) {
    error = msg;
    return failure();
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &ctx);
  if (!module) {
    error = inputPath + ": invalid IR";
    return failure();
  }
  if (!(*module)->hasAttr("tfm.model")) {
    error = inputPath + ": module has no 'tfm.model' attribute describing "
                        "the model";
    return failure();
  }
  return std::move(module);
}

/// Packs the weights next to the program when they are at hand; otherwise
/// `OUT --pack DIR` does it where the program runs.
int packWeights(StringRef modelInfo) {
  if (!sys::fs::is_directory(inputPath))
    return 0;
  monocard::ModelInfo parsed;
  std::string err;
  if (!monocard::parseModelInfo(modelInfo.str(), parsed, err))
    return fail("internal: model info does not parse: " + err);
  monocard::PackReport report;
  if (!monocard::packWeights(parsed, inputPath, outputPath + ".weights", err,
                             &report))
    return fail(err);
  errs() << formatv("packed {0} tensors into {1}.weights ({2})\n",
                    report.Tensors, outputPath,
                    monocard::humanBytes(int64_t(report.FileBytes)));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  const std::vector<monocard::EmitStageInfo> &stages = describeOptions();
  cl::ParseCommandLineOptions(
      argc, argv, "Monocard: compile a Hugging Face checkpoint to a program\n");
  StringRef stage = stages[emit].name;
  const monocard::CompileTarget *t = monocard::lookupTarget(target);
  std::string bad = checkOptions(t, stage);
  if (!bad.empty())
    return fail(bad);

  DialectRegistry registry;
  monocard::registerAllDialects(registry);
  MLIRContext ctx(registry);
  std::string error;
  FailureOr<OwningOpRef<ModuleOp>> loaded =
      loadInput(ctx, t->defaultDtype(), error);
  if (failed(loaded))
    return fail(error);
  monocard::CompileJob job;
  job.module = **loaded;
  if (failed(verify(job.module)))
    return fail(inputPath + ": the IR does not verify");
  job.options = compileOptions();
  job.outputPath = outputPath;
  if (Error e = monocard::runStages(*t, job, stage))
    return fail(std::move(e));
  return stage == "exe" ? packWeights(job.modelInfo) : 0;
}
