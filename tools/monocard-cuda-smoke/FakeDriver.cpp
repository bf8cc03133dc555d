//===- FakeDriver.cpp - A libcuda stand-in for tests without a GPU --------===//
//
// CI machines have no GPU, so the driver layer's logic (device checks,
// buffer plan, module fallback, graph capture, error messages) would go
// untested there. This shared library exports the entry points CudaDriver
// resolves, with "device memory" in host memory and the smoke test's one
// kernel (saxpy) run on the CPU. MONOCARD_FAKE_CUDA picks a scenario:
//
//   (unset)     one sm_90 GPU, "Monocard Fake GPU", 1 GiB
//   no-gpu      cuInit says CUDA_ERROR_NO_DEVICE
//   old-gpu     one "Tesla T4", compute capability 7.5
//   alloc-oom   cuMemGetInfo says plenty is free, cuMemAlloc fails anyway
//
// Any cubin (an ELF image) is refused with CUDA_ERROR_NO_BINARY_FOR_GPU; PTX
// without ".entry saxpy" is refused with CUDA_ERROR_INVALID_PTX and a log.
// Built with MONOCARD_FAKE_OLD_DRIVER it lacks cuGraphInstantiateWithFlags,
// like a driver older than CUDA 11.4.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/CudaDriver.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace monocard::cuda;

namespace {
constexpr CUresult InvalidValue = 1, NotInitialized = 3, InvalidContext = 201;
constexpr uint64_t FakeTotal = 1ull << 30;

struct SaxpyLaunch {
  float A;
  CUdeviceptr X, Y;
  unsigned N;
};

struct State {
  bool Initialized = false;
  bool Capturing = false;
  std::vector<SaxpyLaunch> Captured;
  uint64_t Allocated = 0;
} S;

std::string mode() {
  const char *M = std::getenv("MONOCARD_FAKE_CUDA");
  return M ? M : "";
}

// Handles only need to be distinct non-null pointers.
char ContextObj, StreamObj, ModuleObj, SaxpyObj;

void runSaxpy(const SaxpyLaunch &L) {
  const float *X = reinterpret_cast<const float *>(L.X);
  float *Y = reinterpret_cast<float *>(L.Y);
  for (unsigned I = 0; I < L.N; ++I)
    Y[I] = L.A * X[I] + Y[I];
}

double nowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch())
      .count();
}
} // namespace

#define FAKE_API extern "C" __attribute__((visibility("default"))) CUresult
#define REQUIRE_INIT                                                           \
  if (!S.Initialized)                                                          \
    return NotInitialized;

namespace {
struct ErrorText {
  CUresult Code;
  const char *Name, *Text;
};
// The real driver's names and texts for the codes the tests meet.
const ErrorText Errors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {InvalidValue, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {NotInitialized, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE",
     "no CUDA-capable device is detected"},
    {InvalidContext, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {CUDA_ERROR_NO_BINARY_FOR_GPU, "CUDA_ERROR_NO_BINARY_FOR_GPU",
     "no kernel image is available for execution on the device"},
    {CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX",
     "a PTX JIT compilation failed"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
};

const ErrorText *findError(CUresult R) {
  for (const ErrorText &E : Errors)
    if (E.Code == R)
      return &E;
  return nullptr;
}
} // namespace

FAKE_API cuGetErrorName(CUresult R, const char **Out) {
  const ErrorText *E = findError(R);
  *Out = E ? E->Name : nullptr;
  return E ? CUDA_SUCCESS : InvalidValue;
}

FAKE_API cuGetErrorString(CUresult R, const char **Out) {
  const ErrorText *E = findError(R);
  *Out = E ? E->Text : nullptr;
  return E ? CUDA_SUCCESS : InvalidValue;
}

FAKE_API cuDriverGetVersion(int *V) {
  *V = 13000;
  return 0;
}

FAKE_API cuInit(unsigned) {
  if (mode() == "no-gpu")
    return CUDA_ERROR_NO_DEVICE;
  S.Initialized = true;
  return 0;
}

FAKE_API cuDeviceGetCount(int *N) {
  REQUIRE_INIT
  *N = 1;
  return 0;
}

FAKE_API cuDeviceGet(CUdevice *D, int Ordinal) {
  REQUIRE_INIT
  if (Ordinal != 0)
    return InvalidValue;
  *D = 0;
  return 0;
}

FAKE_API cuDeviceGetName(char *Name, int Len, CUdevice) {
  REQUIRE_INIT
  std::snprintf(Name, Len, "%s",
                mode() == "old-gpu" ? "Tesla T4" : "Monocard Fake GPU");
  return 0;
}

FAKE_API cuDeviceGetAttribute(int *V, int Attr, CUdevice) {
  REQUIRE_INIT
  bool Old = mode() == "old-gpu";
  if (Attr == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
    *V = Old ? 7 : 9;
  else if (Attr == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
    *V = Old ? 5 : 0;
  else if (Attr == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
    *V = 4;
  else if (Attr == CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
    *V = 227 * 1024;
  else
    return InvalidValue;
  return 0;
}

FAKE_API cuDeviceTotalMem_v2(size_t *B, CUdevice) {
  *B = FakeTotal;
  return 0;
}
FAKE_API cuDevicePrimaryCtxRetain(CUcontext *C, CUdevice) {
  REQUIRE_INIT
  *C = reinterpret_cast<CUcontext>(&ContextObj);
  return 0;
}
FAKE_API cuDevicePrimaryCtxRelease_v2(CUdevice) { return 0; }
FAKE_API cuCtxCreate_v2(CUcontext *C, unsigned, CUdevice) {
  *C = reinterpret_cast<CUcontext>(&ContextObj);
  return 0;
}
FAKE_API cuCtxSetCurrent(CUcontext) { return 0; }
FAKE_API cuCtxSynchronize() { return 0; }

FAKE_API cuMemGetInfo_v2(size_t *Free, size_t *Total) {
  *Total = FakeTotal;
  *Free = mode() == "alloc-oom" ? FakeTotal : FakeTotal - S.Allocated;
  return 0;
}

FAKE_API cuMemAlloc_v2(CUdeviceptr *P, size_t Bytes) {
  if (Bytes == 0)
    return InvalidValue;
  if (mode() == "alloc-oom" || S.Allocated + Bytes > FakeTotal)
    return CUDA_ERROR_OUT_OF_MEMORY;
  // A size header in front of the block keeps cuMemGetInfo exact.
  auto *Block = static_cast<uint64_t *>(std::malloc(Bytes + 256));
  if (!Block)
    return CUDA_ERROR_OUT_OF_MEMORY;
  Block[0] = Bytes;
  S.Allocated += Bytes;
  *P = reinterpret_cast<CUdeviceptr>(Block) + 256;
  return 0;
}

FAKE_API cuMemFree_v2(CUdeviceptr P) {
  auto *Block = reinterpret_cast<uint64_t *>(P - 256);
  S.Allocated -= Block[0];
  std::free(Block);
  return 0;
}

FAKE_API cuMemcpyHtoD_v2(CUdeviceptr D, const void *H, size_t N) {
  std::memcpy(reinterpret_cast<void *>(D), H, N);
  return 0;
}
FAKE_API cuMemcpyDtoH_v2(void *H, CUdeviceptr D, size_t N) {
  std::memcpy(H, reinterpret_cast<const void *>(D), N);
  return 0;
}
FAKE_API cuMemsetD8_v2(CUdeviceptr D, unsigned char V, size_t N) {
  std::memset(reinterpret_cast<void *>(D), V, N);
  return 0;
}

FAKE_API cuModuleLoadDataEx(CUmodule *M, const void *Image, unsigned NumOpts,
                            int *Opts, void **Values) {
  const char *Text = static_cast<const char *>(Image);
  if (std::strncmp(Text, "\177ELF", 4) == 0)
    return CUDA_ERROR_NO_BINARY_FOR_GPU;
  if (!std::strstr(Text, ".entry saxpy")) {
    for (unsigned I = 0; I < NumOpts; ++I)
      if (Opts[I] == CU_JIT_ERROR_LOG_BUFFER)
        std::snprintf(static_cast<char *>(Values[I]), 128, "%s",
                      "ptxas application ptx input, line 1; error   : "
                      "fake driver knows only saxpy\n");
    return CUDA_ERROR_INVALID_PTX;
  }
  *M = reinterpret_cast<CUmodule>(&ModuleObj);
  return 0;
}

FAKE_API cuModuleGetFunction(CUfunction *F, CUmodule, const char *Name) {
  if (std::strcmp(Name, "saxpy") != 0)
    return CUDA_ERROR_NOT_FOUND;
  *F = reinterpret_cast<CUfunction>(&SaxpyObj);
  return 0;
}
FAKE_API cuModuleUnload(CUmodule) { return 0; }
FAKE_API cuFuncSetAttribute(CUfunction, int, int) { return 0; }

FAKE_API cuLaunchKernel(CUfunction F, unsigned, unsigned, unsigned, unsigned,
                        unsigned, unsigned, unsigned, CUstream, void **Args,
                        void **) {
  if (F != reinterpret_cast<CUfunction>(&SaxpyObj) || !Args)
    return InvalidValue;
  SaxpyLaunch L{
      *static_cast<float *>(Args[0]), *static_cast<CUdeviceptr *>(Args[1]),
      *static_cast<CUdeviceptr *>(Args[2]), *static_cast<unsigned *>(Args[3])};
  if (S.Capturing)
    S.Captured.push_back(L);
  else
    runSaxpy(L);
  return 0;
}

FAKE_API cuStreamCreate(CUstream *St, unsigned) {
  *St = reinterpret_cast<CUstream>(&StreamObj);
  return 0;
}
FAKE_API cuStreamDestroy_v2(CUstream) { return 0; }
FAKE_API cuStreamSynchronize(CUstream) { return 0; }

FAKE_API cuStreamBeginCapture_v2(CUstream, int) {
  S.Capturing = true;
  S.Captured.clear();
  return 0;
}
FAKE_API cuStreamEndCapture(CUstream, CUgraph *G) {
  S.Capturing = false;
  *G = reinterpret_cast<CUgraph>(new std::vector<SaxpyLaunch>(S.Captured));
  return 0;
}
#ifndef MONOCARD_FAKE_OLD_DRIVER
FAKE_API cuGraphInstantiateWithFlags(CUgraphExec *E, CUgraph G,
                                     unsigned long long) {
  auto *Launches = reinterpret_cast<std::vector<SaxpyLaunch> *>(G);
  *E = reinterpret_cast<CUgraphExec>(new std::vector<SaxpyLaunch>(*Launches));
  return 0;
}
#endif
FAKE_API cuGraphLaunch(CUgraphExec E, CUstream) {
  for (const SaxpyLaunch &L : *reinterpret_cast<std::vector<SaxpyLaunch> *>(E))
    runSaxpy(L);
  return 0;
}
FAKE_API cuGraphExecDestroy(CUgraphExec E) {
  delete reinterpret_cast<std::vector<SaxpyLaunch> *>(E);
  return 0;
}
FAKE_API cuGraphDestroy(CUgraph G) {
  delete reinterpret_cast<std::vector<SaxpyLaunch> *>(G);
  return 0;
}

// An event is a heap double: the host time at which it was recorded.
FAKE_API cuEventCreate(CUevent *E, unsigned) {
  *E = reinterpret_cast<CUevent>(new double(0));
  return 0;
}
FAKE_API cuEventDestroy_v2(CUevent E) {
  delete reinterpret_cast<double *>(E);
  return 0;
}
FAKE_API cuEventRecord(CUevent E, CUstream) {
  *reinterpret_cast<double *>(E) = nowMs();
  return 0;
}
FAKE_API cuEventSynchronize(CUevent) { return 0; }
FAKE_API cuEventElapsedTime(float *Ms, CUevent A, CUevent B) {
  *Ms = static_cast<float>(*reinterpret_cast<double *>(B) -
                           *reinterpret_cast<double *>(A));
  return 0;
}
