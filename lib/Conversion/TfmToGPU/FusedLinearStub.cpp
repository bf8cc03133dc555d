//===- FusedLinearStub.cpp - TEMPORARY stand-ins (helper/gemm only) -------===//
//
// DROP THIS FILE AT MERGE: LinearKernels.cpp defines fusedLinear and
// fusedGemv. They are stubbed here only so that the helper/gemm branch links
// (monocard-kernel-gen calls fusedLinear, which sends m > 1 to fusedGemm).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"

#include "llvm/Support/ErrorHandling.h"

using namespace monocard::gpu_kernels;

KernelLaunch KernelLibrary::fusedLinear(const LinearSpec &spec) {
  return spec.m == 1 ? fusedGemv(spec) : fusedGemm(spec);
}

KernelLaunch KernelLibrary::fusedGemv(const LinearSpec &) {
  llvm::report_fatal_error("fusedGemv is not in the helper/gemm branch");
}
