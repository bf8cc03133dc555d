//===- CudaRunner.cpp - The CUDA target's step backend --------------------===//

#include "monocard/Runtime/Cuda/CudaRunner.h"

#include "monocard/Runtime/Program/ModelInfo.h"
#include "monocard/Runtime/Support/Json.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unistd.h>

using namespace monocard;

CudaRunner::~CudaRunner() = default;

unsigned CudaRunner::decodeLaunches() const {
  return DecodeGraph.valid() ? DecodeGraph.launches()
                             : static_cast<unsigned>(DecodeLaunches.size());
}

bool CudaRunner::init(const ModelInfo &I, const void *Weights,
                      const CudaProgram &Program, std::string &Error) {
  if (I.Target != "cuda" || !I.Cuda.Present) {
    Error = "this launcher runs CUDA models, but the model was compiled for '" +
            I.Target + "'";
    return false;
  }
  Info = &I;
  if (!Driver.load(Error, Program.DriverLibrary) ||
      !Dev.open(Program.Device, Error))
    return false;

  // CudaDevice::open refuses GPUs older than sm_80; the PTX may need more
  // (a newer compiler default), which the JIT would report less clearly.
  const CudaDeviceProps &P = Dev.props();
  int Sm = P.Major * 10 + P.Minor;
  int PtxSm = parseSmArch(I.Cuda.PtxArch);
  if (Sm < PtxSm) {
    Error = "GPU " + std::to_string(P.Ordinal) + " (" + P.Name +
            ") has compute capability " + std::to_string(P.Major) + "." +
            std::to_string(P.Minor) + " (sm_" + std::to_string(Sm) +
            "); this model's PTX is for " + I.Cuda.PtxArch + " or newer";
    return false;
  }

  // The module before the memory: a kernel problem fails in a moment, not
  // after uploading gigabytes of weights.
  if (!Dev.loadModule(Program.Ptx, Program.Cubin, Error) ||
      !Dev.allocate(DeviceMemoryPlan::forModel(I), Error) ||
      !prepare(I.Cuda.Prefill, PrefillLaunches, Error) ||
      !prepare(I.Cuda.Decode, DecodeLaunches, Error) ||
      !uploadWeights(Weights, Error))
    return false;

  // The host writes the tokens and the scalars up to the last one it sets.
  const contract::IoLayout &Io = I.Cuda.Io;
  HostInputs.assign(static_cast<size_t>(Io.scalar(contract::kCounter) +
                                        contract::kScalarBytes - Io.tokens),
                    0);
  Logits.assign(static_cast<size_t>(I.VocabSize), 0.0f);
  return Dev.sampleMemory(Error);
}

bool CudaRunner::prepare(const std::vector<CudaLaunch> &Launches,
                         std::vector<Prepared> &Out, std::string &Error) {
  const CudaLaunchPlan &Plan = Info->Cuda;
  Out.resize(Launches.size());
  for (size_t I = 0; I < Launches.size(); ++I) {
    const CudaLaunch &L = Launches[I];
    Prepared &P = Out[I];
    if (!Dev.kernel(Plan.Kernels[L.Kernel], P.Kernel, Error) ||
        !Dev.reserveShared(*P.Kernel, L.SharedBytes, Error))
      return false;
    for (int D = 0; D < 3; ++D) {
      P.Dims.Grid[D] = L.Grid[D];
      P.Dims.Block[D] = L.Block[D];
    }
    // A persistent kernel gets its blocks per SM of this GPU.
    if (L.Persistent.BlocksPerSM)
      P.Dims.Grid[0] = L.Persistent.blocks(Dev.props().MultiprocessorCount);
    P.Dims.SharedBytes = L.SharedBytes;
    // Each parameter gets an 8-byte slot; cuLaunchKernel reads as many
    // bytes from it as the kernel's parameter has, so a 32-bit immediate
    // sits in the slot's first four bytes.
    P.Slots.assign(L.Args.size(), 0);
    for (size_t A = 0; A < L.Args.size(); ++A) {
      const CudaKernelArg &Arg = L.Args[A];
      switch (Arg.K) {
      case CudaKernelArg::Kind::Pointer: {
        cuda::CUdeviceptr Base = 0;
        switch (Arg.Buffer) {
        case CudaBuffer::Weights:
          Base = Dev.weights();
          break;
        case CudaBuffer::Kv:
          Base = Dev.kv();
          break;
        case CudaBuffer::Arena:
          Base = Dev.arena();
          break;
        case CudaBuffer::Io:
          Base = Dev.io();
          break;
        }
        P.Slots[A] = Base + Arg.Offset;
        break;
      }
      case CudaKernelArg::Kind::I32:
        std::memcpy(&P.Slots[A], &Arg.I32, 4);
        break;
      case CudaKernelArg::Kind::F32:
        std::memcpy(&P.Slots[A], &Arg.F32, 4);
        break;
      }
    }
    P.Params.resize(L.Args.size());
    for (size_t A = 0; A < L.Args.size(); ++A)
      P.Params[A] = &P.Slots[A];
  }
  return true;
}

bool CudaRunner::uploadWeights(const void *Weights, std::string &Error) {
  uint64_t Total = Info->WeightsBytes;
  // Chunks bound the driver's staging of pageable memory and let a large
  // upload report progress; a big model takes seconds here.
  const uint64_t Chunk = 64ull << 20;
  bool Report = Total > (1ull << 30);
  bool Tty = Report && ::isatty(2);
  if (Report)
    std::fprintf(stderr, "note: copying %.2f GiB of weights to GPU %d (%s)%s",
                 Total / 1073741824.0, Dev.props().Ordinal,
                 Dev.props().Name.c_str(), Tty ? "" : "\n");
  const auto *Src = static_cast<const unsigned char *>(Weights);
  for (uint64_t Done = 0; Done < Total;) {
    uint64_t N = std::min(Chunk, Total - Done);
    if (!Dev.copyToDevice(Dev.weights() + Done, Src + Done, N, Error)) {
      if (Tty)
        std::fprintf(stderr, "\n");
      return false;
    }
    Done += N;
    if (Tty)
      std::fprintf(stderr,
                   "\rnote: copying %.2f GiB of weights to GPU %d "
                   "(%s): %3d%%",
                   Total / 1073741824.0, Dev.props().Ordinal,
                   Dev.props().Name.c_str(),
                   static_cast<int>(Done * 100 / Total));
  }
  if (Tty)
    std::fprintf(stderr, "\n");
  return true;
}

void CudaRunner::setDeviceSampling(float T, uint64_t S) {
  Temperature = T > 0 ? T : 0;
  // The sampler kernel takes a 32-bit seed; fold the 64-bit --seed so its
  // high bits still matter.
  Seed = static_cast<uint32_t>(S ^ (S >> 32));
}

bool CudaRunner::writeInputs(const int32_t *Tokens, int64_t NumTokens,
                             int64_t Pos, int64_t NValid, std::string &Error) {
  const contract::IoLayout &Io = Info->Cuda.Io;
  unsigned char *H = HostInputs.data();
  std::memcpy(H, Tokens, static_cast<size_t>(NumTokens) * 4);
  // HostInputs starts at the tokens; each scalar goes where the layout
  // puts its slot.
  auto Put = [&](contract::ScalarSlot S, const void *V) {
    static_assert(contract::kScalarBytes == 4, "scalars are 32-bit");
    std::memcpy(H + (Io.scalar(S) - Io.tokens), V, 4);
  };
  int32_t Pos32 = static_cast<int32_t>(Pos),
          Valid32 = static_cast<int32_t>(NValid);
  int32_t Next = 0;
  // A new counter every step: the sampler's random stream is keyed by
  // (seed, counter), so repeated steps draw differently.
  uint32_t C = Counter++;
  Put(contract::kPos, &Pos32);
  Put(contract::kNValid, &Valid32);
  Put(contract::kNextToken, &Next);
  Put(contract::kTemperature, &Temperature);
  Put(contract::kSeed, &Seed);
  Put(contract::kCounter, &C);
  LogitsValid = false;
  return Dev.copyToDevice(Dev.io() + Io.tokens, H, HostInputs.size(), Error);
}

bool CudaRunner::run(std::vector<Prepared> &Launches, std::string &Error) {
  for (Prepared &P : Launches)
    if (!Dev.launch(*P.Kernel, P.Dims, P.Params.data(), Error))
      return false;
  return true;
}

bool CudaRunner::prefill(const int32_t *Tokens, int64_t Pos, int64_t NValid,
                         std::string &Error) {
  return writeInputs(Tokens, Info->PrefillChunk, Pos, NValid, Error) &&
         run(PrefillLaunches, Error);
}

bool CudaRunner::decode(int32_t Token, int64_t Pos, std::string &Error) {
  if (!writeInputs(&Token, 1, Pos, 1, Error))
    return false;
  // The graph holds the parameter values captured here, which are all
  // constant: the step's changing inputs are read from the I/O buffer.
  if (!DecodeGraph.valid() &&
      !Dev.capture([&](std::string &E) { return run(DecodeLaunches, E); },
                   DecodeGraph, Error))
    return false;
  return Dev.replay(DecodeGraph, Error);
}

const float *CudaRunner::logits(std::string &Error) {
  if (!LogitsValid &&
      !Dev.copyFromDevice(Logits.data(), Dev.io() + Info->Cuda.Io.logits,
                          Logits.size() * 4, Error))
    return nullptr;
  LogitsValid = true;
  return Logits.data();
}

bool CudaRunner::sampledToken(int32_t &Out, std::string &Error) {
  if (!Dev.copyFromDevice(&Out,
                          Dev.io() + Info->Cuda.Io.scalar(contract::kNextToken),
                          4, Error))
    return false;
  if (Out < 0 || Out >= Info->VocabSize) {
    Error = "the GPU's sampler returned token id " + std::to_string(Out) +
            " (vocab size " + std::to_string(Info->VocabSize) + ")";
    return false;
  }
  return true;
}

bool CudaRunner::synchronize(std::string &Error) {
  return Dev.synchronize(Error);
}

std::vector<BenchFact> CudaRunner::benchFacts() {
  std::string Ignored;
  Dev.sampleMemory(Ignored); // the peak so far is still reported on failure
  const CudaDeviceProps &P = Dev.props();
  std::string Cap = std::to_string(P.Major) + "." + std::to_string(P.Minor);
  // The JSON says "cubin" or "ptx"; the text keeps why a cubin was refused.
  const std::string &Source = Dev.moduleSource();
  std::string Plan = std::to_string(Dev.plan().totalBytes());
  std::string Peak = std::to_string(Dev.peakUsedBytes());
  std::string Launches = std::to_string(decodeLaunches());
  const char *Graph = DecodeGraph.valid() ? "true" : "false";
  return {
      {"device", jsonQuote(P.Name), P.Name},
      {"compute_capability", jsonQuote(Cap), Cap},
      {"module_source", jsonQuote(Source.substr(0, Source.find(' '))), Source},
      {"plan_device_bytes", Plan, Plan},
      {"peak_device_bytes", Peak, Peak},
      {"launches_per_decode_step", Launches, Launches},
      {"decode_graph", Graph, Graph},
  };
}
