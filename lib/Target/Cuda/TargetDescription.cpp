//===- TargetDescription.cpp - the table of known GPUs --------------------===//

#include "monocard/Target/Cuda/TargetDescription.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace monocard::cuda;

namespace {

/// The per-architecture limits (CUDA C Programming Guide, "Technical
/// Specifications per Compute Capability").
TargetDescription arch(int cc) {
  TargetDescription t;
  t.name = llvm::formatv("sm_{0}", cc).str();
  t.computeCapability = cc;
  t.registersPerSM = 64 * 1024;
  t.registersPerThread = 255;
  t.sharedPerBlock = 48 * 1024;
  switch (cc) {
  case 80: // A100
    t.sharedPerSM = 164 * 1024;
    t.sharedPerBlockOptin = 163 * 1024;
    t.maxThreadsPerSM = 2048;
    break;
  case 86: // GA10x
  case 89: // AD10x
    t.sharedPerSM = 100 * 1024;
    t.sharedPerBlockOptin = 99 * 1024;
    t.maxThreadsPerSM = 1536;
    break;
  case 90: // GH100
    t.sharedPerSM = 228 * 1024;
    t.sharedPerBlockOptin = 227 * 1024;
    t.maxThreadsPerSM = 2048;
    break;
  }
  return t;
}

/// The compute capabilities `sm_XX` may name.
constexpr int kArchs[] = {80, 86, 89, 90};

TargetDescription chip(const char *name, int cc, int64_t sms) {
  TargetDescription t = arch(cc);
  t.name = name;
  t.smCount = sms;
  return t;
}

const std::vector<TargetDescription> &table() {
  static const std::vector<TargetDescription> chips = {
      chip("a100", 80, 108),      chip("a10", 86, 72),
      chip("a40", 86, 84),        chip("rtx3090", 86, 82),
      chip("l4", 89, 58),         chip("l40s", 89, 142),
      chip("rtx4090", 89, 128),   chip("h100-sxm", 90, 132),
      chip("h100-pcie", 90, 114), chip("h200", 90, 132),
  };
  return chips;
}

} // namespace

std::string TargetDescription::ptxChip() const {
  return generic ? "sm_80" : llvm::formatv("sm_{0}", computeCapability).str();
}

std::string TargetDescription::cubinChip() const {
  return generic ? "sm_90" : llvm::formatv("sm_{0}", computeCapability).str();
}

const TargetDescription &monocard::cuda::defaultTarget() {
  static const TargetDescription generic = [] {
    // Runs everywhere from sm_80 on: the smallest limits of those GPUs
    // (sm_86/89's shared memory and threads), launch shapes for 132 SMs.
    TargetDescription t = arch(86);
    t.name = "generic";
    t.computeCapability = 80;
    t.smCount = 132;
    t.generic = true;
    return t;
  }();
  return generic;
}

llvm::ArrayRef<TargetDescription> monocard::cuda::knownTargets() {
  return table();
}

llvm::Expected<TargetDescription>
monocard::cuda::lookupTarget(llvm::StringRef name) {
  if (name.empty())
    return defaultTarget();
  for (const TargetDescription &t : table())
    if (t.name == name)
      return t;
  int cc = 0;
  if (name.consume_front("sm_") && !name.getAsInteger(10, cc) &&
      llvm::is_contained(kArchs, cc)) {
    // The architecture alone: the default's launch shapes (132 SMs).
    TargetDescription t = arch(cc);
    t.smCount = defaultTarget().smCount;
    return t;
  }
  std::string known;
  for (const TargetDescription &t : table())
    known += t.name + ", ";
  for (int cc : kArchs)
    known += llvm::formatv("sm_{0}, ", cc).str();
  known.resize(known.size() - 2);
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      llvm::formatv("unknown GPU '{0}'; known: {1}", name, known).str());
}
