//===- Sampler.cpp - Choosing the next token from logits ------------------===//

#include "monocard/Runtime/Cli/Sampler.h"

#include <algorithm>
#include <cmath>

using namespace monocard;

static uint64_t splitmix64(uint64_t &X) {
  uint64_t Z = (X += 0x9e3779b97f4a7c15ULL);
  Z = (Z ^ (Z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  Z = (Z ^ (Z >> 27)) * 0x94d049bb133111ebULL;
  return Z ^ (Z >> 31);
}

static uint64_t rotl(uint64_t X, int K) { return (X << K) | (X >> (64 - K)); }

Rng::Rng(uint64_t Seed) {
  for (uint64_t &W : S)
    W = splitmix64(Seed);
}

uint64_t Rng::next() {
  uint64_t Result = rotl(S[1] * 5, 7) * 9;
  uint64_t T = S[1] << 17;
  S[2] ^= S[0];
  S[3] ^= S[1];
  S[1] ^= S[2];
  S[0] ^= S[3];
  S[2] ^= T;
  S[3] = rotl(S[3], 45);
  return Result;
}

double Rng::nextDouble() {
  return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
}

int32_t monocard::argmaxLogits(const float *Logits, int64_t N) {
  int32_t Best = 0;
  float BestV = 0;
  bool Found = false;
  for (int64_t I = 0; I < N; ++I) {
    float V = Logits[I];
    if (std::isnan(V))
      continue;
    if (!Found || V > BestV) {
      Best = static_cast<int32_t>(I);
      BestV = V;
      Found = true;
    }
  }
  return Best;
}

Sampler::Sampler(const SamplerOptions &Opts, int64_t VocabSize)
    : Opts(Opts), VocabSize(VocabSize), Gen(Opts.Seed) {
  if (!isGreedy()) {
    Ids.resize(static_cast<size_t>(VocabSize));
    Probs.resize(static_cast<size_t>(VocabSize));
  }
}

int32_t Sampler::sample(const float *Logits) {
  if (isGreedy() || VocabSize <= 1)
    return argmaxLogits(Logits, VocabSize);

  // Candidates, NaN logits dropped. A total order (logit desc, id asc) keeps
  // the selection identical across sort implementations.
  int64_t N = 0;
  for (int64_t I = 0; I < VocabSize; ++I)
    if (!std::isnan(Logits[I]))
      Ids[N++] = static_cast<int32_t>(I);
  if (N == 0)
    return 0;
  auto ByLogit = [Logits](int32_t A, int32_t B) {
    return Logits[A] > Logits[B] || (Logits[A] == Logits[B] && A < B);
  };
  bool NeedTopP = Opts.TopP < 1.0f;
  if (Opts.TopK > 0 && Opts.TopK < N) {
    std::partial_sort(Ids.begin(), Ids.begin() + Opts.TopK, Ids.begin() + N,
                      ByLogit);
    N = Opts.TopK;
  } else if (NeedTopP) {
    std::sort(Ids.begin(), Ids.begin() + N, ByLogit);
  }
  // After either sort the candidates are in descending order; without one,
  // find the maximum for a numerically safe softmax.
  float MaxLogit = Logits[Ids[0]];
  for (int64_t I = 1; I < N; ++I)
    MaxLogit = std::max(MaxLogit, Logits[Ids[I]]);

  double InvT = 1.0 / static_cast<double>(Opts.Temperature);
  double Total = 0;
  for (int64_t I = 0; I < N; ++I) {
    double L = Logits[Ids[I]];
    // Infinite logits: +inf ones share all the mass, -inf ones get none
    // (exp(inf - inf) would be NaN).
    double P;
    if (std::isinf(MaxLogit) && MaxLogit > 0)
      P = L == MaxLogit ? 1.0 : 0.0;
    else
      P = std::isinf(L) ? 0.0 : std::exp((L - MaxLogit) * InvT);
    Probs[I] = P;
    Total += P;
  }

  if (NeedTopP) {
    // Probabilities are in descending order (exp is monotonic); keep the
    // shortest prefix whose mass reaches TopP, at least one token.
    double Target = static_cast<double>(std::max(Opts.TopP, 0.0f)) * Total;
    double Mass = 0;
    int64_t Keep = 0;
    while (Keep < N) {
      Mass += Probs[Keep++];
      if (Mass >= Target)
        break;
    }
    N = Keep;
    Total = Mass;
  }

  // Renormalised draw: scale the uniform by the kept mass.
  double U = Gen.nextDouble() * Total;
  double Acc = 0;
  for (int64_t I = 0; I < N; ++I) {
    Acc += Probs[I];
    if (U < Acc)
      return Ids[I];
  }
  // Rounding left U just past the sum: the last token with mass wins.
  for (int64_t I = N - 1; I > 0; --I)
    if (Probs[I] > 0)
      return Ids[I];
  return Ids[0];
}
