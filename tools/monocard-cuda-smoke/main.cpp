//===- main.cpp - Smoke test of the launcher's CUDA driver layer ----------===//
//
//   monocard-cuda-smoke [--driver LIB | --fake-driver | --fake-old-driver]
//                       [--device N] [--cubin FILE]
//   monocard-cuda-smoke --print-ptx | --print-bad-ptx
//
// Loads the driver (libcuda.so.1 unless --driver names another), opens the
// GPU, allocates a model-sized memory plan, loads a hand-written saxpy
// kernel (from FILE's cubin if given, else or on refusal from PTX), launches
// it and checks the result, captures 100 launches into a CUDA graph, replays
// it, times both with events, and checks the out-of-memory and invalid-PTX
// messages. Every failure is one "error: ..." line on stderr and exit 1.
// --fake-driver loads libmonocard-fake-cuda.so from beside this program,
// which lets the lit tests run all of it on machines without a GPU;
// --fake-old-driver its variant that lacks a CUDA 11.4 entry point.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include "monocard/Runtime/Cuda/CudaDevice.h"
#include "monocard/Runtime/Cuda/CudaDriver.h"
#include "monocard/Runtime/Program/ModelInfo.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

using namespace monocard;
using namespace monocard::cuda;

namespace {

struct Options {
  std::string Driver = CudaDriver::DefaultLibrary;
  int Device = 0;
  std::string CubinPath;
};

int fail(const std::string &Message) {
  std::fflush(stdout); // keep the order of the two streams when merged
  std::fprintf(stderr, "error: %s\n", Message.c_str());
  return 1;
}

/// The directory of this executable, for --fake-driver.
std::string selfDir() {
  std::vector<char> Buf(4096);
  ssize_t N = ::readlink("/proc/self/exe", Buf.data(), Buf.size() - 1);
  if (N <= 0)
    return ".";
  std::string Path(Buf.data(), static_cast<size_t>(N));
  size_t Slash = Path.rfind('/');
  return Slash == std::string::npos ? "." : Path.substr(0, Slash);
}

bool parseArgs(int Argc, char **Argv, Options &O, std::string &Error) {
  for (int I = 1; I < Argc; ++I) {
    std::string A = Argv[I];
    bool HasValue = I + 1 < Argc;
    if (A == "--driver" && HasValue) {
      O.Driver = Argv[++I];
    } else if (A == "--fake-driver") {
      O.Driver = selfDir() + "/libmonocard-fake-cuda.so";
    } else if (A == "--fake-old-driver") {
      O.Driver = selfDir() + "/libmonocard-fake-cuda-old.so";
    } else if (A == "--device" && HasValue) {
      char *End = nullptr;
      long V = std::strtol(Argv[++I], &End, 10);
      if (*End || V < 0 || V > 1024) {
        Error =
            std::string("--device wants a GPU number, got '") + Argv[I] + "'";
        return false;
      }
      O.Device = static_cast<int>(V);
    } else if (A == "--cubin" && HasValue) {
      O.CubinPath = Argv[++I];
    } else {
      Error = "unknown or incomplete option '" + A + "'";
      return false;
    }
  }
  return true;
}

/// A model-shaped plan: what a small Llama would ask for.
DeviceMemoryPlan smokePlan(unsigned N) {
  ModelInfo Info;
  Info.VocabSize = 32000;
  Info.PrefillChunk = 64;
  Info.WeightsBytes = 64ull << 20;
  Info.KvBytes = 16ull << 20;
  Info.ArenaBytes = 2ull * N * sizeof(float);
  return DeviceMemoryPlan::forModel(Info);
}

/// Launches saxpy (y = a*x + y) over N elements.
bool saxpy(CudaDevice &Dev, float A, CUdeviceptr X, CUdeviceptr Y, unsigned N,
           std::string &Error) {
  LaunchDims D;
  D.Block[0] = 256;
  D.Grid[0] = (N + 255) / 256;
  void *Args[] = {&A, &X, &Y, &N};
  return Dev.launch("saxpy", D, Args, Error);
}

/// Max |Y[i] - (Y0[i] + Scale * X[i])|; the inputs are small integers, so
/// every step is exact in f32 and the expected error is 0.
double maxError(const std::vector<float> &Y, const std::vector<float> &Y0,
                const std::vector<float> &X, float Scale) {
  double E = 0;
  for (size_t I = 0; I < Y.size(); ++I)
    E = std::fmax(E, std::fabs(Y[I] - (Y0[I] + Scale * X[I])));
  return E;
}

/// The failure paths a user meets, on a second handle to the same GPU:
/// an impossible plan and PTX the JIT rejects. Both must fail with a line.
int checkErrorPaths(const CudaDriver &Driver, int Ordinal) {
  CudaDevice Dev(Driver);
  std::string Error;
  if (!Dev.open(Ordinal, Error))
    return fail(Error);
  DeviceMemoryPlan Huge = smokePlan(1024);
  Huge.WeightsBytes = 2 * Dev.props().TotalBytes;
  if (Dev.allocate(Huge, Error))
    return fail("an allocation of twice the GPU's memory succeeded");
  std::printf("expected: error: %s\n", Error.c_str());
  Error.clear();
  if (Dev.loadModule(BadPtx, {}, Error))
    return fail("the driver accepted invalid PTX");
  std::printf("expected: error: %s\n", Error.c_str());
  return 0;
}

int runSmoke(const Options &O) {
  std::string Error;
  CudaDriver Driver;
  if (!Driver.load(Error, O.Driver))
    return fail(Error);
  std::printf("driver: %s, CUDA %s\n", Driver.library().c_str(),
              formatCudaVersion(Driver.version()).c_str());

  // Device objects live in this scope so they are gone before the checks
  // that open a second one; graphs die before the device.
  {
    CudaDevice Dev(Driver);
    if (!Dev.open(O.Device, Error))
      return fail(Error);
    const CudaDeviceProps &P = Dev.props();
    std::printf("device %d: %s, compute capability %d.%d, %d SMs, %llu bytes, "
                "%llu free\n",
                P.Ordinal, P.Name.c_str(), P.Major, P.Minor,
                P.MultiprocessorCount,
                static_cast<unsigned long long>(P.TotalBytes),
                static_cast<unsigned long long>(Dev.baselineFreeBytes()));

    const unsigned N = 1u << 20;
    DeviceMemoryPlan Plan = smokePlan(N);
    if (!Dev.allocate(Plan, Error))
      return fail(Error);
    std::printf("plan: weights %llu + KV cache %llu + arena %llu + I/O %llu = "
                "%llu bytes\n",
                static_cast<unsigned long long>(Plan.WeightsBytes),
                static_cast<unsigned long long>(Plan.KvBytes),
                static_cast<unsigned long long>(Plan.ArenaBytes),
                static_cast<unsigned long long>(Plan.IoBytes),
                static_cast<unsigned long long>(Plan.totalBytes()));

    std::string Cubin;
    if (!O.CubinPath.empty()) {
      std::ifstream F(O.CubinPath, std::ios::binary);
      if (!F)
        return fail("cannot read '" + O.CubinPath + "'");
      Cubin.assign(std::istreambuf_iterator<char>(F), {});
    }
    if (!Dev.loadModule(SaxpyPtx, Cubin, Error))
      return fail(Error);
    std::printf("module: %s\n", Dev.moduleSource().c_str());

    // x lives in the weights buffer (read-only input), y in the arena.
    std::vector<float> X(N), Y0(N), Y(N);
    for (unsigned I = 0; I < N; ++I) {
      X[I] = static_cast<float>(static_cast<int>(I % 17) - 8);
      Y0[I] = static_cast<float>(I % 13);
    }
    CUdeviceptr DX = Dev.weights(), DY = Dev.arena();
    if (!Dev.copyToDevice(DX, X.data(), N * 4, Error) ||
        !Dev.copyToDevice(DY, Y0.data(), N * 4, Error) ||
        !saxpy(Dev, 2.0f, DX, DY, N, Error) ||
        !Dev.copyFromDevice(Y.data(), DY, N * 4, Error))
      return fail(Error);
    double E1 = maxError(Y, Y0, X, 2.0f);
    std::printf("saxpy: %u elements, one launch, max abs error %g\n", N, E1);
    if (E1 != 0)
      return fail("saxpy computed wrong values");

    const unsigned Launches = 100;
    CudaGraph Graph;
    if (!Dev.capture(
            [&](std::string &Err) {
              for (unsigned I = 0; I < Launches; ++I)
                if (!saxpy(Dev, 2.0f, DX, DY, N, Err))
                  return false;
              return true;
            },
            Graph, Error))
      return fail(Error);
    float GraphMs = 0;
    std::vector<float> Y1 = Y;
    if (!Dev.startTimer(Error) || !Dev.replay(Graph, Error) ||
        !Dev.stopTimer(GraphMs, Error) ||
        !Dev.copyFromDevice(Y.data(), DY, N * 4, Error))
      return fail(Error);
    double E2 = maxError(Y, Y1, X, 2.0f * Launches);
    std::printf("graph: %u launches captured, one replay, max abs error %g\n",
                Graph.launches(), E2);
    if (Graph.launches() != Launches || E2 != 0)
      return fail("the graph replay computed wrong values");

    // Steady-state timing: the same 100 launches as 10 graph replays versus
    // enqueued one by one (the values no longer matter).
    const int Reps = 10;
    float StreamMs = 0;
    if (!Dev.startTimer(Error))
      return fail(Error);
    for (int R = 0; R < Reps; ++R)
      if (!Dev.replay(Graph, Error))
        return fail(Error);
    if (!Dev.stopTimer(GraphMs, Error) || !Dev.startTimer(Error))
      return fail(Error);
    for (unsigned I = 0; I < Reps * Launches; ++I)
      if (!saxpy(Dev, 2.0f, DX, DY, N, Error))
        return fail(Error);
    if (!Dev.stopTimer(StreamMs, Error))
      return fail(Error);
    double PerLaunch = 1000.0 / (Reps * Launches);
    std::printf("timing: %u launches over %u elements: graph %.3f us per "
                "launch, stream %.3f us per launch\n",
                Launches, N, GraphMs * PerLaunch, StreamMs * PerLaunch);

    if (!Dev.sampleMemory(Error))
      return fail(Error);
    std::printf("memory: peak %llu bytes in use beyond the context "
                "(cuMemGetInfo; the plan is %llu)\n",
                static_cast<unsigned long long>(Dev.peakUsedBytes()),
                static_cast<unsigned long long>(Plan.totalBytes()));
  }

  if (int RC = checkErrorPaths(Driver, O.Device))
    return RC;
  std::printf("ok\n");
  return 0;
}

} // namespace

int main(int Argc, char **Argv) {
  if (Argc == 2 && !std::strcmp(Argv[1], "--print-ptx")) {
    std::fputs(SaxpyPtx, stdout);
    return 0;
  }
  if (Argc == 2 && !std::strcmp(Argv[1], "--print-bad-ptx")) {
    std::fputs(BadPtx, stdout);
    return 0;
  }
  Options O;
  std::string Error;
  if (!parseArgs(Argc, Argv, O, Error))
    return fail(Error);
  return runSmoke(O);
}
