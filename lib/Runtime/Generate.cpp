//===- Generate.cpp - Running compiled step functions ---------------------===//

#include "monocard/Runtime/Generate.h"

#include "monocard/Runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

using namespace monocard;

static double secondsSince(std::chrono::steady_clock::time_point T0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - T0)
      .count();
}

ModelRunner::~ModelRunner() {
  std::free(Kv);
  std::free(Arena);
}

bool ModelRunner::init(const ModelInfo &I, const StepFunctions &S,
                       const void *W, std::string &Error) {
  if (I.Target != "cpu") {
    Error = "this launcher runs CPU models, but the model was compiled for '" +
            I.Target + "'";
    return false;
  }
  // A prefill step appends K/V for a whole chunk of rows; at the last chunk
  // those rows must still lie inside the cache.
  if (I.MaxSeq % I.PrefillChunk != 0) {
    Error = "model info: max_seq (" + std::to_string(I.MaxSeq) +
            ") is not a multiple of prefill_chunk (" +
            std::to_string(I.PrefillChunk) + ")";
    return false;
  }
  Info = &I;
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
  Chunk.assign(static_cast<size_t>(I.PrefillChunk), 0);
  Pos = 0;
  return true;
}

bool ModelRunner::checkPrompt(const std::vector<int32_t> &Prompt,
                              std::string &Error) const {
  if (Prompt.empty()) {
    Error = "the prompt is empty";
    return false;
  }
  for (int32_t T : Prompt)
    if (T < 0 || T >= Info->VocabSize) {
      Error = "token id " + std::to_string(T) +
              " is out of range (vocab size " +
              std::to_string(Info->VocabSize) + ")";
      return false;
    }
  if (static_cast<int64_t>(Prompt.size()) > Info->MaxSeq) {
    Error = "prompt has " + std::to_string(Prompt.size()) +
            " tokens but this model was compiled with --max-seq " +
            std::to_string(Info->MaxSeq);
    return false;
  }
  return true;
}

void ModelRunner::prefill(const std::vector<int32_t> &Prompt) {
  int64_t N = static_cast<int64_t>(Prompt.size());
  int64_t C = Info->PrefillChunk;
  for (int64_t Start = 0; Start < N; Start += C) {
    int64_t Valid = std::min(C, N - Start);
    std::copy(Prompt.begin() + Start, Prompt.begin() + Start + Valid,
              Chunk.begin());
    std::fill(Chunk.begin() + Valid, Chunk.end(), 0);
    Steps.Prefill(Weights, Kv, Arena, Chunk.data(), Start, Valid,
                  Logits.data());
  }
  Pos = N;
}

void ModelRunner::decode(int32_t Token) {
  Steps.Decode(Weights, Kv, Arena, &Token, Pos, Logits.data());
  ++Pos;
}

bool monocard::generate(ModelRunner &Runner, const std::vector<int32_t> &Prompt,
                        const GenerateOptions &Opts,
                        const GenerateCallbacks &Callbacks,
                        GenerateResult &Result) {
  const ModelInfo &Info = Runner.info();
  Result = GenerateResult();
  Result.PromptTokens = static_cast<int64_t>(Prompt.size());
  Sampler S(Opts.Sampling, Info.VocabSize);

  auto T0 = std::chrono::steady_clock::now();
  Runner.prefill(Prompt);
  Result.PrefillSeconds = secondsSince(T0);
  if (Callbacks.OnLogits && !Callbacks.OnLogits(Runner.logits()))
    return false;

  Result.StopReason = "length";
  for (int64_t I = 1; I <= Opts.MaxNewTokens; ++I) {
    int32_t Token = S.sample(Runner.logits());
    Result.Tokens.push_back(Token);
    if (Callbacks.OnToken && !Callbacks.OnToken(Token))
      return false;
    if (Opts.StopAtEos && Info.isEos(Token)) {
      Result.StopReason = "eos";
      break;
    }
    if (I == Opts.MaxNewTokens && !Opts.DecodeLast)
      break; // its logits would go unused
    if (Runner.position() >= Info.MaxSeq) {
      Result.StopReason = "max_seq";
      break;
    }
    auto T1 = std::chrono::steady_clock::now();
    Runner.decode(Token);
    Result.DecodeSeconds += secondsSince(T1);
    ++Result.DecodeSteps;
    if (Callbacks.OnLogits && !Callbacks.OnLogits(Runner.logits()))
      return false;
  }
  return true;
}

void monocard::benchmark(ModelRunner &Runner,
                         const std::vector<int32_t> &Prompt, int64_t Steps,
                         BenchResult &Result) {
  Result = BenchResult();
  Result.PromptTokens = static_cast<int64_t>(Prompt.size());
  Result.DecodeSteps = Steps;
  Result.Threads = getThreadCount();
  // Warm-up: the first step pages in the mmap'ed weights and starts the
  // worker threads; neither belongs in a steady-state figure. Re-running a
  // step at the same positions rewrites the same KV rows.
  Runner.prefill(Prompt);
  int32_t Next = argmaxLogits(Runner.logits(), Runner.info().VocabSize);
  if (Steps > 0)
    Runner.decode(Next);

  auto T0 = std::chrono::steady_clock::now();
  Runner.prefill(Prompt);
  Result.PrefillSeconds = secondsSince(T0);
  Next = argmaxLogits(Runner.logits(), Runner.info().VocabSize);
  auto T1 = std::chrono::steady_clock::now();
  for (int64_t I = 0; I < Steps; ++I) {
    Runner.decode(Next);
    Next = argmaxLogits(Runner.logits(), Runner.info().VocabSize);
  }
  Result.DecodeSeconds = secondsSince(T1);
}

std::vector<int32_t> monocard::syntheticPrompt(int64_t N, int64_t VocabSize) {
  std::vector<int32_t> P(static_cast<size_t>(std::max<int64_t>(N, 0)));
  uint64_t X = 12345;
  for (int32_t &T : P) {
    X = X * 6364136223846793005ULL + 1442695040888963407ULL; // LCG
    T = static_cast<int32_t>((X >> 33) % static_cast<uint64_t>(VocabSize));
  }
  return P;
}
