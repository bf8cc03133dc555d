//===- monocard-compile.cpp - checkpoint -> standalone executable ---------===//
//
// monocard-compile MODEL_DIR|FILE.mlir [--emit=tfm] [--max-seq N]
//                  [--prefill-chunk N] [--dtype f32|f16|bf16] [-o OUT]
//
// Every failure is one line on stderr, `error: ...`, and exit status 1.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/ImportCheckpoint.h"
#include "monocard/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace mlir;

namespace {

enum class Emit { Tfm };

cl::opt<std::string> inputPath(cl::Positional, cl::desc("MODEL_DIR|FILE.mlir"),
                               cl::Required);
cl::opt<std::string> outputPath("o", cl::desc("output file ('-' for stdout)"),
                                cl::value_desc("path"), cl::init("-"));
cl::opt<Emit> emit("emit", cl::desc("what to produce"),
                   cl::values(clEnumValN(Emit::Tfm, "tfm",
                                         "the imported tfm IR")),
                   cl::init(Emit::Tfm));
cl::opt<int64_t> maxSeq("max-seq",
                        cl::desc("KV cache positions (context length)"),
                        cl::init(256));
cl::opt<int64_t> prefillChunk("prefill-chunk",
                              cl::desc("prompt tokens per prefill call"),
                              cl::init(64));
cl::opt<std::string> dtype("dtype",
                           cl::desc("compute and weight type: f32, f16, bf16"),
                           cl::init("f32"));

int fail(const Twine &msg) {
  WithColor::error(errs(), "monocard-compile") << msg << "\n";
  return 1;
}

/// A tfm module from a checkpoint directory or a .mlir file.
FailureOr<OwningOpRef<ModuleOp>> loadInput(MLIRContext &ctx,
                                           std::string &error) {
  if (sys::fs::is_directory(inputPath)) {
    monocard::ImportOptions opts;
    opts.maxSeq = maxSeq;
    opts.prefillChunk = prefillChunk;
    opts.dtype = dtype;
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

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv, "Monocard: compile a Hugging Face checkpoint to a program\n");
  if (dtype != "f32" && dtype != "f16" && dtype != "bf16")
    return fail("--dtype must be f32, f16 or bf16, got '" + dtype + "'");

  DialectRegistry registry;
  monocard::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.allowUnregisteredDialects(false);

  std::string error;
  FailureOr<OwningOpRef<ModuleOp>> module = loadInput(ctx, error);
  if (failed(module))
    return fail(error);
  if (failed(verify(**module)))
    return fail(inputPath + ": the IR does not verify");

  std::string msg;
  auto out = openOutputFile(outputPath, &msg);
  if (!out)
    return fail(msg);
  (*module)->print(out->os());
  out->os() << "\n";
  out->keep();
  return 0;
}
