//===- CpuSteps.cpp - The CPU target's step backend -----------------------===//

#include "monocard/Runtime/Cpu/CpuSteps.h"

#include "monocard/Runtime/Program/ModelInfo.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

using namespace monocard;

namespace {

class CpuSteps final : public StepBackend {
public:
  ~CpuSteps() override {
    std::free(Kv);
    std::free(Arena);
  }

  bool init(const ModelInfo &I, const StepFunctions &S, const void *W,
            std::string &Error) {
    Steps = S;
    Weights = const_cast<void *>(W); // the ABI's pointer is non-const; steps
                                     // only read it (it is mapped read-only)
    Kv = std::calloc(I.KvBytes ? I.KvBytes : 1, 1);
    if (!Kv) {
      Error = "out of memory allocating the KV cache (" +
              std::to_string(I.KvBytes) + " bytes)";
      return false;
    }
    uint64_t ArenaSize = (std::max<uint64_t>(I.ArenaBytes, 1) + 63) / 64 * 64;
    Arena = std::aligned_alloc(64, ArenaSize);
    if (!Arena) {
      Error = "out of memory allocating the activation arena (" +
              std::to_string(I.ArenaBytes) + " bytes; KV cache " +
              std::to_string(I.KvBytes) + " bytes)";
      return false;
    }
    Logits.assign(static_cast<size_t>(I.VocabSize), 0.0f);
    return true;
  }

  bool prefill(const int32_t *Tokens, int64_t Pos, int64_t NValid,
               std::string &) override {
    Steps.Prefill(Weights, Kv, Arena, Tokens, Pos, NValid, Logits.data());
    return true;
  }

  bool decode(int32_t Token, int64_t Pos, std::string &) override {
    Steps.Decode(Weights, Kv, Arena, &Token, Pos, Logits.data());
    return true;
  }

  const float *logits(std::string &) override { return Logits.data(); }

private:
  StepFunctions Steps;
  void *Weights = nullptr;
  void *Kv = nullptr;
  void *Arena = nullptr;
  std::vector<float> Logits;
};

} // namespace

std::unique_ptr<StepBackend> monocard::makeCpuSteps(const ModelInfo &Info,
                                                    const StepFunctions &Steps,
                                                    const void *Weights,
                                                    std::string &Error) {
  if (Info.Target != "cpu") {
    Error = "this launcher runs CPU models, but the model was compiled for '" +
            Info.Target + "'";
    return nullptr;
  }
  auto B = std::make_unique<CpuSteps>();
  if (!B->init(Info, Steps, Weights, Error))
    return nullptr;
  return B;
}
