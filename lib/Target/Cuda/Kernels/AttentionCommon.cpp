//===- AttentionCommon.cpp - what the attention kernels share -------------===//

#include "AttentionCommon.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

std::string attention::kernelName(StringRef kind, const AttentionSpec &s) {
  std::string scaleName = llvm::formatv("{0:e}", s.scale);
  for (char &c : scaleName)
    if (c == '.' || c == '+' || c == '-')
      c = c == '.' ? 'd' : (c == '+' ? 'p' : 'm');
  return llvm::formatv("attention_{0}_r{1}_h{2}_kv{3}_d{4}_s{5}_sc{6}{7}{8}_"
                       "{9}_{10}_{11}",
                       kind, s.rows, s.heads, s.kvHeads, s.dim, s.capacity,
                       scaleName, s.causal ? "" : "_nc",
                       s.hasValidRows ? "_nvalid" : "", typeName(s.qT),
                       typeName(s.kvT), typeName(s.outT));
}
