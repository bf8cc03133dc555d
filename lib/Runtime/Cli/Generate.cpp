//===- Generate.cpp - Running a model's steps -----------------------------===//

#include "monocard/Runtime/Cli/Generate.h"

#include "monocard/Runtime/Cpu/ThreadPool.h"

#include <algorithm>
#include <chrono>

using namespace monocard;

static double secondsSince(std::chrono::steady_clock::time_point T0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - T0)
      .count();
}

bool ModelRunner::init(const ModelInfo &I, std::unique_ptr<StepBackend> B,
                       std::string &Error) {
  // A prefill step appends K/V for a whole chunk of rows; at the last chunk
  // those rows must still lie inside the cache.
  if (I.MaxSeq % I.PrefillChunk != 0) {
    Error = "model info: max_seq (" + std::to_string(I.MaxSeq) +
            ") is not a multiple of prefill_chunk (" +
            std::to_string(I.PrefillChunk) + ")";
    return false;
  }
  Info = &I;
  Backend = std::move(B);
  Chunk.assign(static_cast<size_t>(I.PrefillChunk), 0);
  Pos = 0;
  DeviceSampling = false;
  return true;
}

bool monocard::checkPrompt(const ModelInfo &Info,
                           const std::vector<int32_t> &Prompt,
                           std::string &Error) {
  if (Prompt.empty()) {
    Error = "the prompt is empty";
    return false;
  }
  for (int32_t T : Prompt)
    if (T < 0 || T >= Info.VocabSize) {
      Error = "token id " + std::to_string(T) +
              " is out of range (vocab size " + std::to_string(Info.VocabSize) +
              ")";
      return false;
    }
  if (static_cast<int64_t>(Prompt.size()) > Info.MaxSeq) {
    Error = "prompt has " + std::to_string(Prompt.size()) +
            " tokens but this model was compiled with --max-seq " +
            std::to_string(Info.MaxSeq);
    return false;
  }
  return true;
}

bool ModelRunner::prefill(const std::vector<int32_t> &Prompt,
                          std::string &Error) {
  int64_t N = static_cast<int64_t>(Prompt.size());
  int64_t C = Info->PrefillChunk;
  for (int64_t Start = 0; Start < N; Start += C) {
    int64_t Valid = std::min(C, N - Start);
    std::copy(Prompt.begin() + Start, Prompt.begin() + Start + Valid,
              Chunk.begin());
    std::fill(Chunk.begin() + Valid, Chunk.end(), 0);
    if (!Backend->prefill(Chunk.data(), Start, Valid, Error))
      return false;
  }
  Pos = N;
  return true;
}

bool ModelRunner::decode(int32_t Token, std::string &Error) {
  if (!Backend->decode(Token, Pos, Error))
    return false;
  ++Pos;
  return true;
}

bool ModelRunner::useDeviceSampling(const SamplerOptions &Opts) {
  bool Greedy = Opts.Temperature <= 0.0f;
  DeviceSampling = Backend->canSampleOnDevice() &&
                   (Greedy || (Opts.TopK == 0 && Opts.TopP >= 1.0f));
  if (DeviceSampling)
    Backend->setDeviceSampling(Greedy ? 0.0f : Opts.Temperature, Opts.Seed);
  return DeviceSampling;
}

bool ModelRunner::nextToken(Sampler &S, int32_t &Out, std::string &Error) {
  if (DeviceSampling)
    return Backend->sampledToken(Out, Error);
  const float *L = Backend->logits(Error);
  if (!L)
    return false;
  Out = S.sample(L);
  return true;
}

bool monocard::generate(ModelRunner &Runner, const std::vector<int32_t> &Prompt,
                        const GenerateOptions &Opts,
                        const GenerateCallbacks &Callbacks,
                        GenerateResult &Result, std::string &Error) {
  const ModelInfo &Info = Runner.info();
  Result = GenerateResult();
  Result.PromptTokens = static_cast<int64_t>(Prompt.size());
  Sampler S(Opts.Sampling, Info.VocabSize);
  // Rows of logits for the caller need them on the host anyway; otherwise
  // the device's sampler spares the copy when it can do the sampling.
  if (!Callbacks.OnLogits)
    Runner.useDeviceSampling(Opts.Sampling);
  auto Logits = [&]() {
    const float *L = Runner.logits(Error);
    return L && Callbacks.OnLogits(L);
  };

  auto T0 = std::chrono::steady_clock::now();
  if (!Runner.prefill(Prompt, Error) || !Runner.synchronize(Error))
    return false;
  Result.PrefillSeconds = secondsSince(T0);
  if (Callbacks.OnLogits && !Logits())
    return false;

  Result.StopReason = "length";
  for (int64_t I = 1; I <= Opts.MaxNewTokens; ++I) {
    int32_t Token = 0;
    if (!Runner.nextToken(S, Token, Error))
      return false;
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
    if (!Runner.decode(Token, Error) || !Runner.synchronize(Error))
      return false;
    Result.DecodeSeconds += secondsSince(T1);
    ++Result.DecodeSteps;
    if (Callbacks.OnLogits && !Logits())
      return false;
  }
  return true;
}

bool monocard::benchmark(ModelRunner &Runner,
                         const std::vector<int32_t> &Prompt, int64_t Steps,
                         BenchResult &Result, std::string &Error) {
  Result = BenchResult();
  Result.PromptTokens = static_cast<int64_t>(Prompt.size());
  Result.DecodeSteps = Steps;
  Result.Threads = getThreadCount();
  // Greedy, as a real run picks tokens: on the device when it can (no
  // logits copy), else argmax over the logits on the host.
  SamplerOptions Greedy;
  Sampler S(Greedy, Runner.info().VocabSize);
  Runner.useDeviceSampling(Greedy);
  // Warm-up: the first step pages in the mmap'ed weights, starts the worker
  // threads or captures the decode graph; none belongs in a steady-state
  // figure. Re-running a step at the same positions rewrites the same KV
  // rows.
  int32_t Next = 0;
  if (!Runner.prefill(Prompt, Error) || !Runner.nextToken(S, Next, Error))
    return false;
  if (Steps > 0 && !Runner.decode(Next, Error))
    return false;
  if (!Runner.synchronize(Error))
    return false;

  auto T0 = std::chrono::steady_clock::now();
  if (!Runner.prefill(Prompt, Error) || !Runner.synchronize(Error))
    return false;
  Result.PrefillSeconds = secondsSince(T0);
  if (!Runner.nextToken(S, Next, Error))
    return false;
  auto T1 = std::chrono::steady_clock::now();
  for (int64_t I = 0; I < Steps; ++I)
    if (!Runner.decode(Next, Error) || !Runner.nextToken(S, Next, Error))
      return false;
  if (!Runner.synchronize(Error))
    return false;
  Result.DecodeSeconds = secondsSince(T1);
  return true;
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
