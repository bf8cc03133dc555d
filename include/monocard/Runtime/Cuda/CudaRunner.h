//===- CudaRunner.h - The CUDA target's step backend ------------*- C++ -*-===//
//
// Runs a CUDA model's steps: the launch lists of the model info's "cuda"
// member (CudaLaunchPlan.h) over one GPU (CudaDevice.h). Everything that can
// be done once is done in init(): the buffers are allocated, the weights
// uploaded, the kernels resolved and every launch's parameter array built,
// so a step is a small copy of its inputs plus launches. The decode step is
// recorded into a CUDA graph the first time it runs and replayed after that.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CUDA_CUDARUNNER_H
#define MONOCARD_RUNTIME_CUDA_CUDARUNNER_H

#include "monocard/Runtime/Cuda/CudaDevice.h"
#include "monocard/Runtime/Cuda/CudaDriver.h"
#include "monocard/Runtime/Program/StepBackend.h"

#include <string>
#include <string_view>
#include <vector>

namespace monocard {

struct ModelInfo;

/// What the CUDA host object embeds, plus where to find the driver.
struct CudaProgram {
  std::string_view Ptx;   // the kernels' PTX text
  std::string_view Cubin; // the same compiled for one GPU; may be empty
  std::string DriverLibrary = CudaDriver::DefaultLibrary;
  int Device = 0;
};

class CudaRunner final : public StepBackend {
public:
  CudaRunner() = default;
  ~CudaRunner() override;

  /// Loads the driver, opens the GPU (sm_80 or newer, and at least the
  /// PTX's architecture), loads the module, resolves the plan's kernels,
  /// allocates the memory plan, uploads \p Weights (weights_bytes) and zeroes
  /// the KV cache. Fails with one line (see docs/cuda-runtime.md).
  bool init(const ModelInfo &Info, const void *Weights,
            const CudaProgram &Program, std::string &Error);

  bool prefill(const int32_t *Tokens, int64_t Pos, int64_t NValid,
               std::string &Error) override;
  bool decode(int32_t Token, int64_t Pos, std::string &Error) override;
  const float *logits(std::string &Error) override;
  bool canSampleOnDevice() const override { return true; }
  void setDeviceSampling(float Temperature, uint64_t Seed) override;
  bool sampledToken(int32_t &Out, std::string &Error) override;
  bool synchronize(std::string &Error) override;
  std::vector<BenchFact> benchFacts() override;

  CudaDevice &device() { return Dev; }
  /// Launches one decode step issues: the graph's count once captured.
  unsigned decodeLaunches() const;
  bool decodeGraphCaptured() const { return DecodeGraph.valid(); }
  /// The grid decode launch \p I runs with on this GPU (persistent
  /// launches are sized from its SM count).
  const unsigned *decodeGrid(size_t I) const {
    return DecodeLaunches[I].Dims.Grid;
  }

private:
  /// One launch with its kernel resolved and its parameters laid out:
  /// Slots holds each parameter's value in 8 bytes, Params points at them
  /// (what cuLaunchKernel takes).
  struct Prepared {
    CudaKernel *Kernel = nullptr;
    LaunchDims Dims;
    std::vector<uint64_t> Slots;
    std::vector<void *> Params;
  };

  bool prepare(const std::vector<CudaLaunch> &Launches,
               std::vector<Prepared> &Out, std::string &Error);
  bool uploadWeights(const void *Weights, std::string &Error);
  /// Copies the tokens and the step scalars into the I/O buffer, in one
  /// host-to-device copy, and starts a new step's outputs.
  bool writeInputs(const int32_t *Tokens, int64_t NumTokens, int64_t Pos,
                   int64_t NValid, std::string &Error);
  bool run(std::vector<Prepared> &Launches, std::string &Error);

  const ModelInfo *Info = nullptr;
  // Declaration order is destruction order reversed: the graph goes before
  // the device, the device before the driver.
  CudaDriver Driver;
  CudaDevice Dev{Driver};
  CudaGraph DecodeGraph;
  std::vector<Prepared> PrefillLaunches, DecodeLaunches;
  /// Host copy of the I/O buffer from the tokens to the last scalar the
  /// host writes (contract::kCounter): tokens, then the scalar slots.
  std::vector<unsigned char> HostInputs;
  std::vector<float> Logits;
  bool LogitsValid = false;
  float Temperature = 0;
  uint32_t Seed = 0;
  uint32_t Counter = 0;
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_CUDA_CUDARUNNER_H
