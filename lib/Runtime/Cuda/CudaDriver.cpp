//===- CudaDriver.cpp - The CUDA driver API, loaded at run time -----------===//

#include "monocard/Runtime/Cuda/CudaDriver.h"

#include <dlfcn.h>

using namespace monocard;
using namespace monocard::cuda;

// The handle is deliberately never dlclose()d once the driver is in use: the
// driver starts threads and registers exit handlers that live in its code,
// so unloading it before exit crashes the process at exit.
CudaDriver::~CudaDriver() = default;

bool CudaDriver::load(std::string &Error, const std::string &Name) {
  if (Handle)
    return true;
  // Clear a stale dlerror() so the message below is this call's.
  dlerror();
  void *H = dlopen(Name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!H) {
    const char *Why = dlerror();
    Error = "cannot load the NVIDIA driver (" + Name +
            "): " + (Why ? Why : "unknown dlopen failure");
    return false;
  }

  CudaDriverApi Table;
  const char *Missing = nullptr;
#define MONOCARD_CUDA_RESOLVE(Field, Symbol, Params)                           \
  if (!Missing) {                                                              \
    if (void *P = dlsym(H, Symbol))                                            \
      Table.Field = reinterpret_cast<decltype(Table.Field)>(P);                \
    else                                                                       \
      Missing = Symbol;                                                        \
  }
  MONOCARD_CUDA_DRIVER_FUNCTIONS(MONOCARD_CUDA_RESOLVE)
#undef MONOCARD_CUDA_RESOLVE
  if (Missing) {
    // Every entry point exists since CUDA 11.4 (cuGraphInstantiateWithFlags
    // is the newest); a missing one means an older driver, or not libcuda.
    int V = 0;
    if (Table.cuDriverGetVersion && Table.cuDriverGetVersion(&V) != 0)
      V = 0;
    Error = "the NVIDIA driver is too old: " + Name + " has no " + Missing +
            " (driver API " + (V ? formatCudaVersion(V) : "unknown") +
            "; Monocard needs CUDA 11.4 or newer)";
    dlclose(H);
    return false;
  }

  Handle = H;
  Library = Name;
  Api = Table;
  if (Api.cuDriverGetVersion(&Version) != CUDA_SUCCESS)
    Version = 0;
  return true;
}

std::string CudaDriver::describe(CUresult R) const {
  const char *ErrName = nullptr;
  const char *ErrText = nullptr;
  // Both calls work before cuInit and fail only for unknown codes.
  if (Api.cuGetErrorName && Api.cuGetErrorName(R, &ErrName) != CUDA_SUCCESS)
    ErrName = nullptr;
  if (Api.cuGetErrorString && Api.cuGetErrorString(R, &ErrText) != CUDA_SUCCESS)
    ErrText = nullptr;
  std::string S = ErrName ? ErrName : "CUDA error " + std::to_string(R);
  if (ErrText && *ErrText)
    S += std::string(" (") + ErrText + ")";
  return S;
}

std::string CudaDriver::failure(const char *Call, CUresult R) const {
  return std::string(Call) + " failed: " + describe(R);
}

bool CudaDriver::check(CUresult R, const char *Call, std::string &Error) const {
  if (R == CUDA_SUCCESS)
    return true;
  Error = failure(Call, R);
  return false;
}

std::string monocard::formatCudaVersion(int Version) {
  if (Version <= 0)
    return "unknown";
  return std::to_string(Version / 1000) + "." +
         std::to_string(Version % 1000 / 10);
}
