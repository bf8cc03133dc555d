//===- ExternDynamicShared.cpp - dynamic shared memory as extern ----------===//
//
// convert-gpu-to-nvvm gives `gpu.dynamic_shared_memory` an internal
// zero-length global, which NVPTX emits as a one-byte static `.shared`
// variable; an external declaration is what `extern __shared__` is.
//
//===----------------------------------------------------------------------===//

#include "monocard/Conversion/Passes.h"

namespace monocard {
#define GEN_PASS_DEF_GPUEXTERNDYNAMICSHARED
#include "monocard/Conversion/Passes.h.inc"
} // namespace monocard

using namespace mlir;

namespace {

struct GpuExternDynamicSharedPass
    : public monocard::impl::GpuExternDynamicSharedBase<
          GpuExternDynamicSharedPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto global : getOperation().getOps<LLVM::GlobalOp>()) {
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (global.getAddrSpace() != 3 || !array || array.getNumElements() != 0 ||
          global.getValueOrNull() || !global.getInitializerRegion().empty())
        continue;
      global.setLinkage(LLVM::Linkage::External);
    }
  }
};

} // namespace
