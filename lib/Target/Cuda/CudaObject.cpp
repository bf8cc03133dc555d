//===- CudaObject.cpp - model info + PTX + cubin as a host object ---------===//

#include "monocard/Target/Cuda/CudaObject.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace monocard;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string monocard::findPtxas() {
  if (auto p = llvm::sys::findProgramByName("ptxas"))
    return *p;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  return "";
}

llvm::Expected<std::string> monocard::assembleCubin(llvm::StringRef ptxas,
                                                    llvm::StringRef ptx,
                                                    llvm::StringRef chip) {
  llvm::SmallString<128> in, out, log;
  int fd;
  if (auto ec = llvm::sys::fs::createTemporaryFile("monocard", "ptx", fd, in))
    return fail("cannot create a temporary file: " + ec.message());
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << ptx;
  }
  if (auto ec = llvm::sys::fs::createTemporaryFile("monocard", "cubin", out))
    return fail("cannot create a temporary file: " + ec.message());
  if (auto ec = llvm::sys::fs::createTemporaryFile("monocard", "log", log))
    return fail("cannot create a temporary file: " + ec.message());
  std::string arch = ("-arch=" + chip).str();
  llvm::SmallVector<llvm::StringRef> argv{ptxas, arch, "-O3", in, "-o", out};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log, log};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(ptxas, argv, std::nullopt, redirects, 0, 0,
                                     &message);
  auto cleanup = [&] {
    llvm::sys::fs::remove(in);
    llvm::sys::fs::remove(out);
    llvm::sys::fs::remove(log);
  };
  if (rc != 0) {
    std::string first = message;
    if (auto buf = llvm::MemoryBuffer::getFile(log))
      first = (*buf)->getBuffer().split('\n').first.str();
    cleanup();
    return fail("ptxas rejected the generated PTX for " + chip + ": " + first);
  }
  auto buf = llvm::MemoryBuffer::getFile(out);
  if (!buf) {
    cleanup();
    return fail("cannot read the cubin ptxas wrote");
  }
  std::string cubin = (*buf)->getBuffer().str();
  cleanup();
  return cubin;
}

llvm::Error monocard::emitCudaHostObject(llvm::StringRef modelInfo,
                                         llvm::StringRef ptx,
                                         llvm::StringRef cubin,
                                         llvm::StringRef objectPath) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::LLVMContext ctx;
  llvm::Module m("monocard_cuda", ctx);
  auto addGlobal = [&](llvm::StringRef name, llvm::Constant *init) {
    new llvm::GlobalVariable(m, init->getType(), /*isConstant=*/true,
                             llvm::GlobalValue::ExternalLinkage, init, name);
  };
  addGlobal("monocard_model_info",
            llvm::ConstantDataArray::getString(ctx, modelInfo, true));
  addGlobal("monocard_cuda_ptx",
            llvm::ConstantDataArray::getString(ctx, ptx, true));
  // The cubin is binary: no terminator, its size alongside.
  addGlobal("monocard_cuda_cubin",
            llvm::ConstantDataArray::getString(ctx, cubin, cubin.empty()));
  addGlobal("monocard_cuda_cubin_size",
            llvm::ConstantInt::get(llvm::Type::getInt64Ty(ctx), cubin.size()));

  std::string triple = llvm::sys::getDefaultTargetTriple(), error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return fail("no code generator for the host: " + error);
  // Data only: any CPU of the host's architecture will do.
  std::unique_ptr<llvm::TargetMachine> tm(
      target->createTargetMachine(llvm::Triple(triple), "generic", "",
                                  llvm::TargetOptions(), llvm::Reloc::PIC_));
  m.setTargetTriple(llvm::Triple(triple));
  m.setDataLayout(tm->createDataLayout());
  std::error_code ec;
  llvm::ToolOutputFile out(objectPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail("cannot write " + objectPath + ": " + ec.message());
  llvm::legacy::PassManager codegen;
  if (tm->addPassesToEmitFile(codegen, out.os(), nullptr,
                              llvm::CodeGenFileType::ObjectFile))
    return fail("the host code generator cannot emit an object file");
  codegen.run(m);
  out.keep();
  return llvm::Error::success();
}
