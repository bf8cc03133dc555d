//===- monocard-opt.cpp - the MLIR driver with tfm and its passes --------===//
//
// Like mlir-opt, limited to the dialects and passes Monocard uses, plus every
// `tfm-` pass.
//
//===----------------------------------------------------------------------===//

#include "monocard/InitAll.h"
#include "monocard/Version.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  monocard::registerAllDialects(registry);
  monocard::registerAllPasses();
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "monocard-opt (Monocard) " MONOCARD_VERSION_STRING "\n"
       << "  built with LLVM " LLVM_VERSION_STRING "\n";
  });
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Monocard optimizer driver\n", registry));
}
