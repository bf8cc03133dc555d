//===- FakeDriver.cpp - A libcuda stand-in for tests without a GPU --------===//
//
// CI machines have no GPU, so the driver layer's logic (device checks,
// buffer plan, module fallback, graph capture, error messages) would go
// untested there. This shared library exports the entry points CudaDriver
// resolves, with "device memory" in host memory and kernels run on the CPU:
// the smoke test's saxpy and a tiny "model" (fake_append, fake_sum,
// fake_logits, fake_sample; below) that lets the launcher's CUDA backend
// run whole generations. MONOCARD_FAKE_CUDA picks a scenario:
//
//   (unset)     one sm_90 GPU, "Monocard Fake GPU", 1 GiB
//   no-gpu      cuInit says CUDA_ERROR_NO_DEVICE
//   old-gpu     one "Tesla T4", compute capability 7.5
//   alloc-oom   cuMemGetInfo says plenty is free, cuMemAlloc fails anyway
//
// Any cubin (an ELF image) is refused with CUDA_ERROR_NO_BINARY_FOR_GPU.
// PTX is scanned for its .entry declarations and their parameter types (so
// launches can be decoded); one with an entry the fake cannot run (neither
// saxpy nor fake_*) is refused with CUDA_ERROR_INVALID_PTX and a log.
// Built with MONOCARD_FAKE_OLD_DRIVER it lacks cuGraphInstantiateWithFlags,
// like a driver older than CUDA 11.4.
//
// MONOCARD_FAKE_CUDA_TRACE=FILE appends one line per executed kernel (its
// decoded parameters; pointers as memN+OFFSET, N counting allocations from
// 0), per copy, and per graph capture and replay: the launcher's tests
// check launch order, pointer arithmetic and what crosses the bus.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cuda/CudaDriver.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <string>
#include <vector>

using namespace monocard::cuda;

namespace {
constexpr CUresult InvalidValue = 1, NotInitialized = 3, InvalidContext = 201;
constexpr uint64_t FakeTotal = 1ull << 30;

/// One .entry of a loaded module: its name and each parameter's PTX type.
struct Entry {
  std::string Name;
  std::vector<std::string> Params; // "u64", "u32", "s32", "f32", ...
};

struct Module {
  std::vector<Entry> Entries;
};

/// A launch, decoded: each parameter's bytes zero-extended to 64 bits.
struct Launch {
  const Entry *E = nullptr;
  unsigned Grid[3], Block[3], Smem;
  std::vector<uint64_t> Args;
};

struct Allocation {
  uint64_t Base, Bytes;
  unsigned Index;
};

struct State {
  bool Initialized = false;
  bool Capturing = false;
  std::vector<Launch> Captured;
  uint64_t Allocated = 0;
  std::vector<Allocation> Live;
  unsigned NextIndex = 0;
  std::list<Module> Modules; // a list: Entry pointers stay valid
} S;

std::string mode() {
  const char *M = std::getenv("MONOCARD_FAKE_CUDA");
  return M ? M : "";
}

// Handles only need to be distinct non-null pointers.
char ContextObj, StreamObj;

void trace(const std::string &Line) {
  const char *Path = std::getenv("MONOCARD_FAKE_CUDA_TRACE");
  if (!Path || !*Path)
    return;
  if (FILE *F = std::fopen(Path, "a")) {
    std::fprintf(F, "%s\n", Line.c_str());
    std::fclose(F);
  }
}

/// A 64-bit parameter as memN+OFFSET when it points into an allocation.
std::string pointerText(uint64_t V) {
  for (const Allocation &A : S.Live)
    if (V >= A.Base && V < A.Base + A.Bytes)
      return "mem" + std::to_string(A.Index) + "+" + std::to_string(V - A.Base);
  return std::to_string(V);
}

std::string launchText(const Launch &L) {
  char Buf[160];
  std::snprintf(Buf, sizeof(Buf),
                "launch %s grid %u,%u,%u block %u,%u,%u "
                "smem %u args",
                L.E->Name.c_str(), L.Grid[0], L.Grid[1], L.Grid[2], L.Block[0],
                L.Block[1], L.Block[2], L.Smem);
  std::string T = Buf;
  for (size_t I = 0; I < L.Args.size(); ++I) {
    const std::string &Ty = L.E->Params[I];
    uint64_t V = L.Args[I];
    T += I ? ", " : " ";
    if (Ty == "f32") {
      float F;
      uint32_t U = static_cast<uint32_t>(V);
      std::memcpy(&F, &U, 4);
      std::snprintf(Buf, sizeof(Buf), "f32:%g", F);
      T += Buf;
    } else if (Ty == "s32") {
      T += "i32:" + std::to_string(static_cast<int32_t>(V));
    } else if (Ty == "u32" || Ty == "b32") {
      T += "u32:" + std::to_string(static_cast<uint32_t>(V));
    } else {
      T += pointerText(V);
    }
  }
  return T;
}

double nowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch())
      .count();
}

template <typename T> T *at(uint64_t P) { return reinterpret_cast<T *>(P); }

float f32Arg(uint64_t V) {
  float F;
  uint32_t U = static_cast<uint32_t>(V);
  std::memcpy(&F, &U, 4);
  return F;
}

/// The fake model's sampler noise: a hash of (seed, counter, index) mapped
/// to a standard Gumbel variate.
double gumbel(uint32_t Seed, uint32_t Counter, uint32_t I) {
  uint64_t X = (uint64_t(Seed) << 32 | Counter) * 0x9e3779b97f4a7c15ULL ^
               (uint64_t(I) + 1) * 0xbf58476d1ce4e5b9ULL;
  X ^= X >> 31;
  X *= 0x94d049bb133111ebULL;
  X ^= X >> 29;
  double U = (static_cast<double>(X >> 11) + 0.5) / 9007199254740992.0;
  return -std::log(-std::log(U));
}

/// Runs one launch on the CPU. The fake model (docs: FakeModel.cpp) keeps
/// one i32 token per KV row and predicts
///   next = (sum of the tokens at rows 0..last + 1 + weights_f32[0]) % vocab
/// through four kernels, so a test can compute the expected tokens by hand.
void execute(const Launch &L) {
  trace(launchText(L));
  const std::string &N = L.E->Name;
  const std::vector<uint64_t> &A = L.Args;
  if (N == "saxpy") { // (f32 a, u64 x, u64 y, u32 n)
    float Alpha = f32Arg(A[0]);
    const float *X = at<const float>(A[1]);
    float *Y = at<float>(A[2]);
    for (unsigned I = 0; I < static_cast<unsigned>(A[3]); ++I)
      Y[I] = Alpha * X[I] + Y[I];
  } else if (N == "fake_append") { // (kv, tokens, pos, u32 rows)
    int32_t Pos = *at<int32_t>(A[2]);
    for (uint32_t R = 0; R < static_cast<uint32_t>(A[3]); ++R)
      at<int32_t>(A[0])[Pos + R] = at<int32_t>(A[1])[R];
  } else if (N == "fake_sum") { // (kv, pos, n_valid, out)
    int32_t Last = *at<int32_t>(A[1]) + *at<int32_t>(A[2]) - 1;
    int64_t Sum = 0;
    for (int32_t R = 0; R <= Last; ++R)
      Sum += at<int32_t>(A[0])[R];
    *at<int64_t>(A[3]) = Sum;
  } else if (N == "fake_logits") { // (sum, weights, logits, s32 vocab)
    int32_t V = static_cast<int32_t>(A[3]);
    int64_t Target =
        (*at<int64_t>(A[0]) + 1 + static_cast<int64_t>(*at<float>(A[1]))) % V;
    for (int32_t I = 0; I < V; ++I)
      at<float>(A[2])[I] = -static_cast<float>(std::llabs(I - Target));
  } else if (N == "fake_sample") {
    // (logits, next_token, temperature, seed, counter, s32 vocab, f32 scale)
    const float *Lg = at<const float>(A[0]);
    float T = *at<float>(A[2]);
    uint32_t Seed = *at<uint32_t>(A[3]), Counter = *at<uint32_t>(A[4]);
    int32_t V = static_cast<int32_t>(A[5]);
    float Scale = f32Arg(A[6]);
    int32_t Best = 0;
    double BestV = 0;
    for (int32_t I = 0; I < V; ++I) {
      double X = Lg[I] * Scale;
      if (T > 0)
        X = X / T + gumbel(Seed, Counter, static_cast<uint32_t>(I));
      if (I == 0 || X > BestV) {
        Best = I;
        BestV = X;
      }
    }
    *at<int32_t>(A[1]) = Best;
  }
}

/// Reads the .entry declarations of a PTX text; false if one is not a
/// kernel this fake can run.
bool scanPtx(const char *Text, Module &M, std::string &Unknown) {
  std::string P(Text);
  for (size_t At = P.find(".entry "); At != std::string::npos;
       At = P.find(".entry ", At + 1)) {
    size_t B = At + 7, E = P.find_first_of("( \t\r\n", B);
    Entry En;
    En.Name = P.substr(B, E - B);
    size_t Open = P.find('(', E), Close = P.find(')', E);
    for (size_t Q = P.find(".param .", Open);
         Q != std::string::npos && Q < Close; Q = P.find(".param .", Q + 1)) {
      size_t T = Q + 8;
      En.Params.push_back(P.substr(T, P.find_first_of(" \t", T) - T));
    }
    if (En.Name != "saxpy" && En.Name.compare(0, 5, "fake_") != 0) {
      Unknown = En.Name;
      return false;
    }
    M.Entries.push_back(std::move(En));
  }
  return !M.Entries.empty();
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
  else if (Attr == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT) {
    // MONOCARD_FAKE_CUDA_SMS=N: a GPU of N SMs (persistent grids).
    const char *Sms = std::getenv("MONOCARD_FAKE_CUDA_SMS");
    *V = Sms && std::atoi(Sms) > 0 ? std::atoi(Sms) : 4;
  } else if (Attr == CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
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
  S.Live.push_back({*P, Bytes, S.NextIndex++});
  return 0;
}

FAKE_API cuMemFree_v2(CUdeviceptr P) {
  auto *Block = reinterpret_cast<uint64_t *>(P - 256);
  S.Allocated -= Block[0];
  for (size_t I = 0; I < S.Live.size(); ++I)
    if (S.Live[I].Base == P)
      S.Live.erase(S.Live.begin() + static_cast<long>(I));
  std::free(Block);
  return 0;
}

FAKE_API cuMemcpyHtoD_v2(CUdeviceptr D, const void *H, size_t N) {
  trace("copy HtoD " + pointerText(D) + " " + std::to_string(N) + " bytes");
  std::memcpy(reinterpret_cast<void *>(D), H, N);
  return 0;
}
FAKE_API cuMemcpyDtoH_v2(void *H, CUdeviceptr D, size_t N) {
  trace("copy DtoH " + pointerText(D) + " " + std::to_string(N) + " bytes");
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
  Module Mod;
  std::string Unknown;
  if (!scanPtx(Text, Mod, Unknown)) {
    for (unsigned I = 0; I < NumOpts; ++I)
      if (Opts[I] == CU_JIT_ERROR_LOG_BUFFER)
        std::snprintf(static_cast<char *>(Values[I]), 160,
                      "ptxas application ptx input, line 1; error   : "
                      "fake driver cannot run kernel '%s'\n",
                      Unknown.c_str());
    return CUDA_ERROR_INVALID_PTX;
  }
  S.Modules.push_back(std::move(Mod));
  *M = reinterpret_cast<CUmodule>(&S.Modules.back());
  return 0;
}

FAKE_API cuModuleGetFunction(CUfunction *F, CUmodule M, const char *Name) {
  for (const Entry &E : reinterpret_cast<Module *>(M)->Entries)
    if (E.Name == Name) {
      *F = reinterpret_cast<CUfunction>(const_cast<Entry *>(&E));
      return 0;
    }
  return CUDA_ERROR_NOT_FOUND;
}
FAKE_API cuModuleUnload(CUmodule) { return 0; }
FAKE_API cuFuncSetAttribute(CUfunction, int, int) { return 0; }

FAKE_API cuLaunchKernel(CUfunction F, unsigned Gx, unsigned Gy, unsigned Gz,
                        unsigned Bx, unsigned By, unsigned Bz, unsigned Smem,
                        CUstream, void **Args, void **) {
  const Entry *E = reinterpret_cast<const Entry *>(F);
  if (!E || (!Args && !E->Params.empty()))
    return InvalidValue;
  Launch L{E, {Gx, Gy, Gz}, {Bx, By, Bz}, Smem, {}};
  // What the real driver does: copy each parameter's bytes, as many as its
  // PTX type has, at the call (also when capturing).
  for (size_t I = 0; I < E->Params.size(); ++I) {
    uint64_t V = 0;
    bool Wide = E->Params[I].find("64") != std::string::npos;
    std::memcpy(&V, Args[I], Wide ? 8 : 4);
    L.Args.push_back(V);
  }
  if (S.Capturing)
    S.Captured.push_back(L);
  else
    execute(L);
  return 0;
}

FAKE_API cuStreamCreate(CUstream *St, unsigned) {
  *St = reinterpret_cast<CUstream>(&StreamObj);
  return 0;
}
FAKE_API cuStreamDestroy_v2(CUstream) { return 0; }
FAKE_API cuStreamSynchronize(CUstream) { return 0; }

FAKE_API cuStreamBeginCapture_v2(CUstream, int) {
  trace("capture begin");
  S.Capturing = true;
  S.Captured.clear();
  return 0;
}
FAKE_API cuStreamEndCapture(CUstream, CUgraph *G) {
  trace("capture end: " + std::to_string(S.Captured.size()) + " launches");
  S.Capturing = false;
  *G = reinterpret_cast<CUgraph>(new std::vector<Launch>(S.Captured));
  return 0;
}
#ifndef MONOCARD_FAKE_OLD_DRIVER
FAKE_API cuGraphInstantiateWithFlags(CUgraphExec *E, CUgraph G,
                                     unsigned long long) {
  auto *Launches = reinterpret_cast<std::vector<Launch> *>(G);
  *E = reinterpret_cast<CUgraphExec>(new std::vector<Launch>(*Launches));
  return 0;
}
#endif
FAKE_API cuGraphLaunch(CUgraphExec E, CUstream) {
  auto &Launches = *reinterpret_cast<std::vector<Launch> *>(E);
  trace("graph launch: " + std::to_string(Launches.size()) + " launches");
  for (const Launch &L : Launches)
    execute(L);
  return 0;
}
FAKE_API cuGraphExecDestroy(CUgraphExec E) {
  delete reinterpret_cast<std::vector<Launch> *>(E);
  return 0;
}
FAKE_API cuGraphDestroy(CUgraph G) {
  delete reinterpret_cast<std::vector<Launch> *>(G);
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
