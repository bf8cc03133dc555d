//===- ModelPasses.cpp - the tfm passes both targets run first ------------===//

#include "monocard/Target/ModelPasses.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace monocard;

void monocard::addModelPasses(OpPassManager &pm,
                              const ModelPassOptions &options) {
  if (options.fuse)
    pm.addNestedPass<func::FuncOp>(tfm::createTfmFuse());
  if (options.quantBits != 0) {
    tfm::TfmQuantizeOptions quant;
    quant.bits = options.quantBits;
    quant.group = options.group;
    quant.lmHead = options.quantLmHead;
    pm.addPass(tfm::createTfmQuantize(quant));
  }
}
