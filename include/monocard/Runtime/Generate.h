//===- Generate.h - Running compiled step functions -------------*- C++ -*-===//
//
// Owns the launcher's memory (KV cache, activation arena, logits, prefill
// token buffer: each allocated once) and drives the compiled prefill and
// decode steps: the prompt in prefill_chunk pieces, then one token at a time.
// Token level only; text is the launcher's business.
//
// The step functions are passed in rather than referenced by name so this
// library links without a compiled model (tests use mock steps).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_GENERATE_H
#define MONOCARD_RUNTIME_GENERATE_H

#include "monocard/Runtime/ModelInfo.h"
#include "monocard/Runtime/Sampler.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace monocard {

/// The compiled entry points (docs/runtime-abi.md).
struct StepFunctions {
  void (*Prefill)(void *Weights, void *Kv, void *Arena, const int32_t *Tokens,
                  int64_t Pos, int64_t NValid, float *Logits) = nullptr;
  void (*Decode)(void *Weights, void *Kv, void *Arena, const int32_t *Token,
                 int64_t Pos, float *Logits) = nullptr;
};

class ModelRunner {
public:
  ModelRunner() = default;
  ~ModelRunner();
  ModelRunner(const ModelRunner &) = delete;
  ModelRunner &operator=(const ModelRunner &) = delete;

  /// Allocates the KV cache (zeroed) and the 64-byte aligned arena. Fails
  /// with a message giving the sizes when memory is short, or when the model
  /// info is unusable (e.g. max_seq not a multiple of prefill_chunk).
  bool init(const ModelInfo &Info, const StepFunctions &Steps,
            const void *Weights, std::string &Error);

  /// Checks a prompt: non-empty, ids inside the vocabulary, at most max_seq
  /// tokens. Error e.g. "token id 99999 is out of range (vocab size 2048)".
  bool checkPrompt(const std::vector<int32_t> &Prompt,
                   std::string &Error) const;

  /// Runs \p Prompt (already checked) from position 0; logits() then holds
  /// the last position's logits and position() == Prompt.size().
  void prefill(const std::vector<int32_t> &Prompt);
  /// Runs \p Token at position(); requires position() < max_seq.
  void decode(int32_t Token);

  const float *logits() const { return Logits.data(); }
  int64_t position() const { return Pos; }
  const ModelInfo &info() const { return *Info; }

private:
  const ModelInfo *Info = nullptr;
  StepFunctions Steps;
  void *Weights = nullptr;
  void *Kv = nullptr;
  void *Arena = nullptr;
  std::vector<float> Logits;
  std::vector<int32_t> Chunk;
  int64_t Pos = 0;
};

struct GenerateOptions {
  int64_t MaxNewTokens = 64;
  bool StopAtEos = true;
  /// Also decode the last generated token, so there are logits after every
  /// generated token (--logits-out: 1 + n rows, as the reference writes).
  bool DecodeLast = false;
  SamplerOptions Sampling;
};

struct GenerateResult {
  std::vector<int32_t> Tokens; // generated ids (an EOS that stopped included)
  std::string StopReason;      // "length", "eos" or "max_seq"
  int64_t PromptTokens = 0;
  int64_t DecodeSteps = 0;
  double PrefillSeconds = 0;
  double DecodeSeconds = 0;
};

struct GenerateCallbacks {
  /// Each generated token, as soon as it is chosen; false aborts.
  std::function<bool(int32_t)> OnToken;
  /// Each row of logits (prompt's last position, then after each decode);
  /// false aborts.
  std::function<bool(const float *)> OnLogits;
};

/// Prefill \p Prompt (checked by the caller), then sample and decode until
/// MaxNewTokens, EOS (if StopAtEos) or max_seq. Returns false only when a
/// callback aborted.
bool generate(ModelRunner &Runner, const std::vector<int32_t> &Prompt,
              const GenerateOptions &Opts, const GenerateCallbacks &Callbacks,
              GenerateResult &Result);

struct BenchResult {
  int64_t PromptTokens = 0;
  int64_t DecodeSteps = 0;
  double PrefillSeconds = 0;
  double DecodeSeconds = 0;
  int Threads = 1;
};

/// The --bench measurement: one untimed warm-up prefill and decode step
/// (page in the weights, warm the caches), then a timed prefill of
/// \p Prompt and \p Steps greedy decode steps. The caller clips Prompt and
/// Steps to max_seq.
void benchmark(ModelRunner &Runner, const std::vector<int32_t> &Prompt,
               int64_t Steps, BenchResult &Result);

/// A deterministic stand-in prompt of \p N ids for --bench without a
/// prompt; spread over the vocabulary so embedding rows are not all cached.
std::vector<int32_t> syntheticPrompt(int64_t N, int64_t VocabSize);

} // namespace monocard

#endif // MONOCARD_RUNTIME_GENERATE_H
