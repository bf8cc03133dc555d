//===- monocard-opt.cpp - the MLIR driver with tfm and its passes --------===//
//
// Like mlir-opt, limited to the dialects and passes Monocard uses, plus every
// `tfm-` pass.
//
//===----------------------------------------------------------------------===//

#include "monocard/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  monocard::registerAllDialects(registry);
  monocard::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Monocard optimizer driver\n", registry));
}
