//===- monocard-compile.cpp - checkpoint -> standalone executable ---------===//
//
// monocard-compile MODEL_DIR|FILE.mlir [--target=cpu|cuda] [-o OUT]
//     [--emit=tfm|linalg|gpu|memplan|kernels|llvm|ptx|obj|exe]
//     [--max-seq N] [--prefill-chunk N] [--dtype auto|f32|f16|bf16]
//     [--cpu native|NAME] [--gpu CHIP|sm_XX] [--cubin-arch sm_90|none]
//     [--quant none|int8|int4] [--group N] [--quant-lm-head] [--no-fuse]
//
// With --emit=exe (the default) it writes OUT, the program, and, when the
// input is a checkpoint directory, OUT.weights, the packed weights. It always
// prints a one-line memory plan. Every failure is one line on stderr,
// `error: ...`, and exit status 1.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/ImportCheckpoint.h"
#include "monocard/InitAll.h"
#include "monocard/Runtime/ModelInfo.h"
#include "monocard/Runtime/Packer.h"
#include "monocard/Target/CpuPipeline.h"
#include "monocard/Target/Cuda/Kernels/KernelConfig.h"
#include "monocard/Target/Cuda/TargetDescription.h"
#include "monocard/Target/CudaObject.h"
#include "monocard/Target/CudaPipeline.h"
#include "monocard/Target/HostObject.h"
#include "monocard/Target/ModelInfo.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace mlir;

namespace {

enum class Emit { Tfm, Linalg, Gpu, Memplan, Kernels, Llvm, Ptx, Obj, Exe };

cl::opt<std::string> inputPath(cl::Positional, cl::desc("MODEL_DIR|FILE.mlir"),
                               cl::Required);
cl::opt<std::string> outputPath("o", cl::desc("output path"),
                                cl::value_desc("path"), cl::init(""));
cl::opt<Emit> emit(
    "emit", cl::desc("what to produce"),
    cl::values(clEnumValN(Emit::Tfm, "tfm", "the imported tfm IR"),
               clEnumValN(Emit::Linalg, "linalg", "linalg on tensors (cpu)"),
               clEnumValN(Emit::Gpu, "gpu",
                          "kernel launches and gpu.func kernels (cuda)"),
               clEnumValN(Emit::Memplan, "memplan",
                          "the memory plan as JSON"),
               clEnumValN(Emit::Kernels, "kernels",
                          "the kernel launches of each step (cuda)"),
               clEnumValN(Emit::Llvm, "llvm", "the LLVM dialect (cpu)"),
               clEnumValN(Emit::Ptx, "ptx", "the kernels' PTX (cuda)"),
               clEnumValN(Emit::Obj, "obj", "the host object file"),
               clEnumValN(Emit::Exe, "exe",
                          "a standalone executable (default)")),
    cl::init(Emit::Exe));
cl::opt<std::string> target("target", cl::desc("cpu or cuda"),
                            cl::init("cpu"));
cl::opt<int64_t> maxSeq("max-seq",
                        cl::desc("KV cache positions (context length)"),
                        cl::init(256));
cl::opt<int64_t> prefillChunk("prefill-chunk",
                              cl::desc("prompt tokens per prefill call"),
                              cl::init(64));
cl::opt<std::string>
    dtype("dtype",
          cl::desc("compute and weight type: f32, f16, bf16, or auto (the "
                   "default: f32 on cpu, the checkpoint's own on cuda)"),
          cl::init("auto"));
cl::opt<std::string> gpuName(
    "gpu", cl::desc("cuda: the GPU to build for, a chip (a100, a10, a40, "
                    "rtx3090, l4, l40s, rtx4090, h100-sxm, h100-pcie, h200) or "
                    "sm_XX; by default every sm_80+ GPU, launch shapes tuned "
                    "for 132 SMs"));
cl::opt<std::string>
    cubinArch("cubin-arch",
              cl::desc("cuda: also embed a cubin for this GPU when ptxas is "
                       "available (none: PTX only; default: --gpu's, or "
                       "sm_90)"));
cl::opt<std::string> gemvTune("gemv-tune",
                              cl::desc("cuda: GEMV tuning override, "
                                       "u=U,bps=B,persist=0|1,roll=0|1"),
                              cl::Hidden);
cl::opt<std::string> gemmTile("gemm-tile",
                              cl::desc("cuda: GEMM tile override, BMxBN"),
                              cl::Hidden);
cl::opt<std::string> cpu("cpu", cl::desc("host CPU to tune for"),
                         cl::init("native"));
cl::opt<std::string>
    quant("quant",
          cl::desc("weight-only quantization of the linear layers: none, "
                   "int8 (per output channel) or int4 (per group)"),
          cl::init("none"));
cl::opt<int64_t> group("group",
                       cl::desc("elements per scale of int4 weights"),
                       cl::init(128));
cl::opt<bool> quantLmHead("quant-lm-head",
                          cl::desc("quantize the output projection too"),
                          cl::init(false));
cl::opt<bool> noFuse("no-fuse",
                     cl::desc("keep every op its own kernel (skip tfm-fuse)"),
                     cl::init(false));

int fail(const Twine &msg) {
  WithColor::error(errs(), "monocard-compile") << msg << "\n";
  return 1;
}

int fail(Error e) { return fail(toString(std::move(e))); }

/// A tfm module from a checkpoint directory or a .mlir file.
FailureOr<OwningOpRef<ModuleOp>> loadInput(MLIRContext &ctx,
                                           std::string &error) {
  if (sys::fs::is_directory(inputPath)) {
    monocard::ImportOptions opts;
    opts.maxSeq = maxSeq;
    opts.prefillChunk = prefillChunk;
    opts.dtype = dtype == "auto" && target == "cpu" ? std::string("f32")
                                                    : dtype.getValue();
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

/// Writes `text` to `path` ('-' or empty: stdout).
Error writeText(StringRef path, StringRef text) {
  std::string msg;
  auto out = openOutputFile(path.empty() ? "-" : path, &msg);
  if (!out)
    return createStringError(inconvertibleErrorCode(), msg);
  out->os() << text;
  out->keep();
  return Error::success();
}

Error printModule(ModuleOp module, StringRef path) {
  std::string text;
  raw_string_ostream os(text);
  module->print(os);
  os << "\n";
  return writeText(path, text);
}

Error runPasses(ModuleOp module,
                llvm::function_ref<void(PassManager &)> add) {
  PassManager pm(module->getContext());
  add(pm);
  if (failed(pm.run(module)))
    return createStringError(inconvertibleErrorCode(),
                             "lowering failed (see the diagnostics above)");
  return Error::success();
}

std::string humanBytes(int64_t bytes) {
  return formatv("{0:f2} MiB", double(bytes) / (1024.0 * 1024.0)).str();
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv, "Monocard: compile a Hugging Face checkpoint to a program\n");
  if (dtype != "auto" && dtype != "f32" && dtype != "f16" && dtype != "bf16")
    return fail("--dtype must be auto, f32, f16 or bf16, got '" + dtype +
                "'");
  if (target != "cpu" && target != "cuda")
    return fail("--target must be cpu or cuda, got '" + target + "'");
  if (quant != "none" && quant != "int8" && quant != "int4")
    return fail("--quant must be none, int8 or int4, got '" + quant + "'");
  if (group <= 0)
    return fail("--group must be positive, got " + Twine(int64_t(group)));
  monocard::ModelPassOptions modelPasses;
  modelPasses.fuse = !noFuse;
  modelPasses.quantBits = quant == "int8" ? 8 : quant == "int4" ? 4 : 0;
  modelPasses.group = group;
  modelPasses.quantLmHead = quantLmHead;
  bool cuda = target == "cuda";
  if (cuda && (emit == Emit::Linalg || emit == Emit::Llvm))
    return fail(std::string("--emit=") +
                (emit == Emit::Linalg ? "linalg" : "llvm") +
                " is a stage of the cpu target; use --target=cpu");
  if (!cuda && (emit == Emit::Gpu || emit == Emit::Ptx ||
                emit == Emit::Kernels))
    return fail("--emit=gpu, kernels and ptx are stages of the cuda target; "
                "use --target=cuda");
  if (emit == Emit::Exe && outputPath.empty())
    return fail("-o OUT is required to build an executable");

  DialectRegistry registry;
  monocard::registerAllDialects(registry);
  MLIRContext ctx(registry);

  std::string error;
  FailureOr<OwningOpRef<ModuleOp>> loaded = loadInput(ctx, error);
  if (failed(loaded))
    return fail(error);
  ModuleOp module = **loaded;
  if (failed(verify(module)))
    return fail(inputPath + ": the IR does not verify");
  if (emit == Emit::Tfm)
    return errorToBool(printModule(module, outputPath)) ? 1 : 0;

  monocard::CudaTargetOptions cudaOptions;
  cudaOptions.model = modelPasses;
  Expected<monocard::cuda::TargetDescription> gpuTarget =
      monocard::cuda::lookupTarget(gpuName);
  if (!gpuTarget)
    return fail("--gpu: " + toString(gpuTarget.takeError()));
  // The overrides are checked here so a bad one is one line, not a pass
  // failure.
  if (Expected<monocard::gpu_kernels::KernelOverrides> over =
          monocard::gpu_kernels::KernelOverrides::parse(gemvTune, gemmTile);
      !over)
    return fail("--" + toString(over.takeError()));
  cudaOptions.gpu = gpuName;
  cudaOptions.gemvTune = gemvTune;
  cudaOptions.gemmTile = gemmTile;
  cudaOptions.ptxChip = gpuTarget->ptxChip();
  std::string cubinChip =
      cubinArch.empty() ? gpuTarget->cubinChip() : cubinArch.getValue();
  auto stage = [&](auto s) {
    return runPasses(module, [&](PassManager &pm) {
      if constexpr (std::is_same_v<decltype(s), monocard::CpuStage>)
        monocard::addCpuStage(pm, s, modelPasses);
      else
        monocard::addCudaStage(pm, s, cudaOptions);
    });
  };
  Error lowered = cuda ? stage(monocard::CudaStage::Gpu)
                       : stage(monocard::CpuStage::Linalg);
  if (lowered)
    return fail(std::move(lowered));
  if (emit == Emit::Linalg || emit == Emit::Gpu) {
    if (Error e = printModule(module, outputPath))
      return fail(std::move(e));
    return 0;
  }
  if (Error e = cuda ? stage(monocard::CudaStage::Memplan)
                     : stage(monocard::CpuStage::Memplan))
    return fail(std::move(e));

  // The plan is known from here on: report it every time.
  Expected<monocard::MemorySummary> mem = monocard::summarizeMemory(module);
  if (!mem)
    return fail(mem.takeError());
  errs() << formatv("memory plan: weights {0} + KV cache {1} + arena {2} "
                    "(liveness lower bound {3}, naive {4})\n",
                    humanBytes(mem->weightsBytes), humanBytes(mem->kvBytes),
                    humanBytes(mem->arenaBytes), humanBytes(mem->lowerBound),
                    humanBytes(mem->naiveBytes));
  if (emit == Emit::Memplan) {
    Expected<std::string> plan = monocard::buildMemplanJson(module);
    if (!plan)
      return fail(plan.takeError());
    if (Error e = writeText(outputPath, *plan + "\n"))
      return fail(std::move(e));
    return 0;
  }
  if (emit == Emit::Kernels) {
    Expected<std::string> list = monocard::describeKernels(module);
    if (!list)
      return fail(list.takeError());
    if (Error e = writeText(outputPath, *list))
      return fail(std::move(e));
    return 0;
  }

  std::string objPath = emit == Emit::Obj ? outputPath.getValue()
                                          : outputPath + ".o";
  std::string infoJson;
  if (cuda) {
    if (Error e = stage(monocard::CudaStage::Ptx))
      return fail(std::move(e));
    Expected<std::string> ptx = monocard::extractPtx(module);
    if (!ptx)
      return fail(ptx.takeError());
    if (emit == Emit::Ptx) {
      if (Error e = writeText(outputPath, *ptx))
        return fail(std::move(e));
      return 0;
    }
    std::string cubin;
    std::string ptxas = cubinChip == "none" ? "" : monocard::findPtxas();
    if (!ptxas.empty()) {
      Expected<std::string> assembled =
          monocard::assembleCubin(ptxas, *ptx, cubinChip);
      if (!assembled)
        return fail(assembled.takeError());
      cubin = std::move(*assembled);
      cudaOptions.cubinChip = cubinChip;
    }
    Expected<std::string> info = monocard::buildCudaModelInfoJson(
        module, cudaOptions, !cubin.empty());
    if (!info)
      return fail(info.takeError());
    infoJson = *info;
    if (Error e = monocard::emitCudaHostObject(infoJson, *ptx, cubin, objPath))
      return fail(std::move(e));
  } else {
    Expected<std::string> info = monocard::buildModelInfoJson(module, target);
    if (!info)
      return fail(info.takeError());
    infoJson = *info;
    if (Error e = stage(monocard::CpuStage::Llvm))
      return fail(std::move(e));
    if (emit == Emit::Llvm) {
      if (Error e = printModule(module, outputPath))
        return fail(std::move(e));
      return 0;
    }
    if (Error e = monocard::emitHostObject(module, infoJson, cpu, objPath))
      return fail(std::move(e));
  }
  if (emit == Emit::Obj)
    return 0;
  Error linked = monocard::linkExecutable(objPath, outputPath, target);
  sys::fs::remove(objPath);
  if (linked)
    return fail(std::move(linked));

  // Pack the weights now when they are at hand; otherwise `OUT --pack DIR`
  // does it where the program runs.
  if (sys::fs::is_directory(inputPath)) {
    monocard::ModelInfo parsed;
    std::string err;
    if (!monocard::parseModelInfo(infoJson, parsed, err))
      return fail("internal: model info does not parse: " + err);
    monocard::PackReport report;
    if (!monocard::packWeights(parsed, inputPath, outputPath + ".weights",
                               err, &report))
      return fail(err);
    errs() << formatv("packed {0} tensors into {1}.weights ({2})\n",
                      report.Tensors, outputPath,
                      humanBytes(int64_t(report.FileBytes)));
  }
  return 0;
}
