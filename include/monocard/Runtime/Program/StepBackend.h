//===- StepBackend.h - One target's prefill and decode steps ----*- C++ -*-===//
//
// ModelRunner (Generate.h) splits prompts into chunks and drives the token
// loop; a StepBackend runs one step on one target. The CPU backend calls
// the compiled step functions (CpuSteps.h); the CUDA backend replays the
// model info's launch lists on a GPU (CudaRunner.h). Keeping the loop out of
// the backends is what makes both targets print the same outputs.
//
// Every method that can fail returns false with one line in Error (the CPU
// steps cannot fail; GPU calls can).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_PROGRAM_STEPBACKEND_H
#define MONOCARD_RUNTIME_PROGRAM_STEPBACKEND_H

#include <cstdint>
#include <string>
#include <vector>

namespace monocard {

/// One line of --bench output a backend adds: Key is the --json member,
/// Json its value as JSON text, Text its value for the text form.
struct BenchFact {
  std::string Key;
  std::string Json;
  std::string Text;
};

class StepBackend {
public:
  virtual ~StepBackend();

  /// One prefill chunk: \p Tokens has prefill_chunk ids, padded with 0 after
  /// \p NValid; K/V is appended at Pos..Pos+NValid-1.
  virtual bool prefill(const int32_t *Tokens, int64_t Pos, int64_t NValid,
                       std::string &Error) = 0;
  /// One token at cache position \p Pos.
  virtual bool decode(int32_t Token, int64_t Pos, std::string &Error) = 0;
  /// The last step's logits (vocab_size floats), valid until the next step.
  /// A GPU backend copies them to the host here, only when asked.
  virtual const float *logits(std::string &Error) = 0;

  /// Whether the steps can also pick the next token themselves (the CUDA
  /// sampler kernel), which spares copying the logits back every token.
  virtual bool canSampleOnDevice() const { return false; }
  /// Sampling for the following steps: greedy when Temperature <= 0, else
  /// Gumbel-max over softmax(logits / Temperature) seeded by \p Seed.
  virtual void setDeviceSampling(float Temperature, uint64_t Seed);
  /// The token the last step sampled (needs canSampleOnDevice()).
  virtual bool sampledToken(int32_t &Out, std::string &Error);

  /// Waits until the enqueued steps are done: timing must include them.
  virtual bool synchronize(std::string &Error);
  /// Target-specific --bench lines (GPU name, graph size, ...).
  virtual std::vector<BenchFact> benchFacts();
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_PROGRAM_STEPBACKEND_H
