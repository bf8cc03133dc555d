//===- Sampler.h - Choosing the next token from logits ----------*- C++ -*-===//
//
// Greedy, temperature, top-k and top-p sampling with a seeded, portable
// PRNG: the same seed gives the same tokens with any standard library
// (std::uniform_real_distribution is implementation-defined, so it is not
// used).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CLI_SAMPLER_H
#define MONOCARD_RUNTIME_CLI_SAMPLER_H

#include <cstdint>
#include <vector>

namespace monocard {

/// xoshiro256** seeded through splitmix64.
class Rng {
public:
  explicit Rng(uint64_t Seed);
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double nextDouble();

private:
  uint64_t S[4];
};

struct SamplerOptions {
  float Temperature = 0.0f; // <= 0: greedy
  int64_t TopK = 0;         // 0: off
  float TopP = 1.0f;        // >= 1: off
  uint64_t Seed = 0;
};

/// Index of the largest logit; the lowest index wins ties and NaNs are never
/// chosen (all-NaN gives 0).
int32_t argmaxLogits(const float *Logits, int64_t N);

class Sampler {
public:
  Sampler(const SamplerOptions &Opts, int64_t VocabSize);

  bool isGreedy() const { return Opts.Temperature <= 0.0f; }

  /// Picks a token from \p Logits (VocabSize entries):
  ///  1. greedy: argmaxLogits;
  ///  2. otherwise keep the TopK largest logits (ties: lower index first),
  ///  3. softmax(logit / Temperature) over them,
  ///  4. keep the smallest most-probable prefix whose mass reaches TopP,
  ///  5. renormalise and draw with the PRNG.
  int32_t sample(const float *Logits);

private:
  SamplerOptions Opts;
  int64_t VocabSize;
  Rng Gen;
  // Scratch, allocated once: sampling runs every token.
  std::vector<int32_t> Ids;
  std::vector<double> Probs;
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_CLI_SAMPLER_H
