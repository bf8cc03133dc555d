//===- CpuSteps.h - The CPU target's step backend ---------------*- C++ -*-===//
//
// The CPU target compiles prefill and decode into host functions
// (docs/runtime-abi.md); this backend owns their KV cache, arena and logits
// and calls them. The step functions are passed in rather than referenced
// by name so the library links without a compiled model (tests use mock
// steps).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CPU_CPUSTEPS_H
#define MONOCARD_RUNTIME_CPU_CPUSTEPS_H

#include "monocard/Runtime/Program/StepBackend.h"

#include <memory>

namespace monocard {

struct ModelInfo;

/// The compiled entry points (docs/runtime-abi.md).
struct StepFunctions {
  void (*Prefill)(void *Weights, void *Kv, void *Arena, const int32_t *Tokens,
                  int64_t Pos, int64_t NValid, float *Logits) = nullptr;
  void (*Decode)(void *Weights, void *Kv, void *Arena, const int32_t *Token,
                 int64_t Pos, float *Logits) = nullptr;
};

/// Allocates the KV cache (zeroed) and the 64-byte aligned arena for a model
/// compiled for the CPU. Null with one line in \p Error when the model is
/// for another target or memory is short (the message gives the sizes).
std::unique_ptr<StepBackend> makeCpuSteps(const ModelInfo &Info,
                                          const StepFunctions &Steps,
                                          const void *Weights,
                                          std::string &Error);

} // namespace monocard

#endif // MONOCARD_RUNTIME_CPU_CPUSTEPS_H
