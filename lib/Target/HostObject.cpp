//===- HostObject.cpp - LLVM dialect -> host object, and linking ----------===//
//
// The object is produced in-process (LLVM's O3 pipeline and code generator
// for the host CPU), so the only outside tool is the final link, done with
// clang++-22 and lld against the launcher's static libraries.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/HostObject.h"

#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#if !defined(MONOCARD_RUNTIME_LIB_DIR) || !defined(MONOCARD_RUNTIME_ARCHIVES)
#error "MONOCARD_RUNTIME_LIB_DIR/_ARCHIVES must name the launcher's libraries"
#endif

using namespace monocard;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

static std::unique_ptr<llvm::TargetMachine>
hostTargetMachine(llvm::StringRef cpu, std::string &triple,
                  std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  triple = llvm::sys::getDefaultTargetTriple();
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return nullptr;
  std::string cpuName = cpu.str(), features;
  if (cpu == "native") {
    cpuName = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures f;
    for (auto &[name, on] : llvm::sys::getHostCPUFeatures())
      f.AddFeature(name, on);
    features = f.getString();
  }
  llvm::TargetOptions options;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      llvm::Triple(triple), cpuName, features, options, llvm::Reloc::PIC_));
}

llvm::Error monocard::emitHostObject(mlir::ModuleOp module,
                                     llvm::StringRef modelInfo,
                                     llvm::StringRef cpu,
                                     llvm::StringRef objectPath,
                                     bool emitLlvmIr) {
  mlir::registerBuiltinDialectTranslation(*module.getContext());
  mlir::registerLLVMDialectTranslation(*module.getContext());
  mlir::registerOpenMPDialectTranslation(*module.getContext());
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, llvmContext, "monocard");
  if (!llvmModule)
    return fail("cannot translate the lowered module to LLVM IR");

  for (auto [from, to] : {std::pair{"prefill", "monocard_prefill"},
                          std::pair{"decode", "monocard_decode"}}) {
    llvm::Function *fn = llvmModule->getFunction(from);
    if (!fn)
      return fail(llvm::Twine("lowered module has no '") + from +
                  "' step function");
    fn->setName(to);
    fn->setLinkage(llvm::GlobalValue::ExternalLinkage);
  }
  auto *info = llvm::ConstantDataArray::getString(llvmContext, modelInfo,
                                                  /*AddNull=*/true);
  new llvm::GlobalVariable(*llvmModule, info->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, info,
                           "monocard_model_info");

  std::string triple, error;
  std::unique_ptr<llvm::TargetMachine> tm =
      hostTargetMachine(cpu, triple, error);
  if (!tm)
    return fail("no code generator for the host: " + error);
  llvmModule->setTargetTriple(llvm::Triple(triple));
  llvmModule->setDataLayout(tm->createDataLayout());

  // O3: the loop vectorizer turns the reassociable reductions into SIMD.
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(tm.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3)
      .run(*llvmModule, mam);

  std::error_code ec;
  llvm::ToolOutputFile out(objectPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail("cannot write " + objectPath + ": " + ec.message());
  if (emitLlvmIr) {
    llvmModule->print(out.os(), nullptr);
  } else {
    llvm::legacy::PassManager codegen;
    if (tm->addPassesToEmitFile(codegen, out.os(), nullptr,
                                llvm::CodeGenFileType::ObjectFile))
      return fail("the host code generator cannot emit an object file");
    codegen.run(*llvmModule);
  }
  out.keep();
  return llvm::Error::success();
}

llvm::Error monocard::linkExecutable(llvm::StringRef objectPath,
                                     llvm::StringRef outputPath,
                                     Launcher launcher) {
  llvm::ErrorOr<std::string> clang = llvm::sys::findProgramByName("clang++-22");
  if (!clang)
    clang = llvm::sys::findProgramByName("clang++");
  if (!clang)
    return fail("cannot link: clang++-22 not found on PATH");
  std::string rt = MONOCARD_RUNTIME_LIB_DIR;
  std::vector<std::string> owned = {*clang, "-fuse-ld=lld", "-o",
                                    outputPath.str(), objectPath.str()};
  if (launcher == Launcher::Cuda) {
    // The driver is dlopen'ed; the C++ runtime is linked in so that the
    // program runs on any glibc-based machine that has an NVIDIA driver.
    for (const char *a :
         {"/libMonocardLauncherCudaMain.a", MONOCARD_RUNTIME_ARCHIVES})
      owned.push_back(rt + a);
    for (const char *a : {"-static-libstdc++", "-static-libgcc", "-ldl",
                          "-lpthread", "-lm"})
      owned.push_back(a);
  } else {
    for (const char *a :
         {"/libMonocardLauncherMain.a", MONOCARD_RUNTIME_ARCHIVES})
      owned.push_back(rt + a);
    for (const char *a : {"-lpthread", "-lm"})
      owned.push_back(a);
  }
#ifdef MONOCARD_LINK_SANITIZE
  // A sanitized build's runtime archives call into the sanitizer runtimes
  // (MONOCARD_SANITIZE, scripts/test-sanitized.sh). clang links those
  // statically, before -static-libstdc++'s archive, so the CUDA program's
  // static C++ runtime does not clash with ASan's operator new.
  for (const char *a : {"-fsanitize=address,undefined",
                        "-fno-sanitize-recover=undefined"})
    owned.push_back(a);
#endif
  llvm::SmallVector<llvm::StringRef> argv(owned.begin(), owned.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*clang, argv, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0)
    return fail("linking " + outputPath + " failed" +
                (message.empty() ? "" : ": " + message));
  return llvm::Error::success();
}
