//===- Generate.h - Running a model's steps ---------------------*- C++ -*-===//
//
// Drives a model's prefill and decode steps on one StepBackend (CPU or
// CUDA): the prompt in prefill_chunk pieces, then one token at a time.
// Token level only; text is the launcher's business.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CLI_GENERATE_H
#define MONOCARD_RUNTIME_CLI_GENERATE_H

#include "monocard/Runtime/Cli/Sampler.h"
#include "monocard/Runtime/Program/ModelInfo.h"
#include "monocard/Runtime/Program/StepBackend.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace monocard {

/// Checks a prompt: non-empty, ids inside the vocabulary, at most max_seq
/// tokens. Error e.g. "token id 99999 is out of range (vocab size 2048)".
bool checkPrompt(const ModelInfo &Info, const std::vector<int32_t> &Prompt,
                 std::string &Error);

class ModelRunner {
public:
  ModelRunner() = default;
  ModelRunner(const ModelRunner &) = delete;
  ModelRunner &operator=(const ModelRunner &) = delete;

  /// Takes the backend that runs the steps. Fails when the model info is
  /// unusable (e.g. max_seq not a multiple of prefill_chunk).
  bool init(const ModelInfo &Info, std::unique_ptr<StepBackend> Backend,
            std::string &Error);

  /// monocard::checkPrompt for this runner's model.
  bool checkPrompt(const std::vector<int32_t> &Prompt,
                   std::string &Error) const {
    return monocard::checkPrompt(*Info, Prompt, Error);
  }

  /// Runs \p Prompt (already checked) from position 0; the last step's
  /// outputs are then the last position's, and position() == Prompt.size().
  bool prefill(const std::vector<int32_t> &Prompt, std::string &Error);
  /// Runs \p Token at position(); requires position() < max_seq.
  bool decode(int32_t Token, std::string &Error);
  /// Starts a new sequence at position 0 without clearing the cache: the
  /// next steps overwrite its rows before attention reads them (a step at
  /// position p reads rows 0..p only). Used to score one document after
  /// another (Perplexity.h).
  void restart() { Pos = 0; }

  /// Picks the steps' sampler: the device's when the backend has one and
  /// \p Opts needs no more than temperature (top-k/top-p stay on the host).
  /// Returns whether later tokens come from the device.
  bool useDeviceSampling(const SamplerOptions &Opts);
  /// The token after the last step: the device's sample if
  /// useDeviceSampling() said so, else \p S over the logits.
  bool nextToken(Sampler &S, int32_t &Out, std::string &Error);
  /// The last step's logits, or null with Error set.
  const float *logits(std::string &Error) { return Backend->logits(Error); }
  /// Waits for the enqueued steps (timing).
  bool synchronize(std::string &Error) { return Backend->synchronize(Error); }

  int64_t position() const { return Pos; }
  const ModelInfo &info() const { return *Info; }
  StepBackend &backend() { return *Backend; }

private:
  const ModelInfo *Info = nullptr;
  std::unique_ptr<StepBackend> Backend;
  std::vector<int32_t> Chunk;
  int64_t Pos = 0;
  bool DeviceSampling = false;
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
/// MaxNewTokens, EOS (if StopAtEos) or max_seq. Returns false when a step
/// failed (\p Error says why) or a callback aborted (the callback's error).
bool generate(ModelRunner &Runner, const std::vector<int32_t> &Prompt,
              const GenerateOptions &Opts, const GenerateCallbacks &Callbacks,
              GenerateResult &Result, std::string &Error);

struct BenchResult {
  int64_t PromptTokens = 0;
  int64_t DecodeSteps = 0;
  double PrefillSeconds = 0;
  double DecodeSeconds = 0;
  int Threads = 1;
};

/// The --bench measurement: one untimed warm-up prefill and decode step
/// (page in the weights, warm the caches, capture the GPU's decode graph),
/// then a timed prefill of \p Prompt and \p Steps greedy decode steps,
/// each timed to the end of its device work. The caller clips Prompt and
/// Steps to max_seq. False when a step failed.
bool benchmark(ModelRunner &Runner, const std::vector<int32_t> &Prompt,
               int64_t Steps, BenchResult &Result, std::string &Error);

/// A deterministic stand-in prompt of \p N ids for --bench without a
/// prompt; spread over the vocabulary so embedding rows are not all cached.
std::vector<int32_t> syntheticPrompt(int64_t N, int64_t VocabSize);

} // namespace monocard

#endif // MONOCARD_RUNTIME_CLI_GENERATE_H
