//===- CudaDriver.h - The CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// A compiled model must run wherever an NVIDIA driver is installed, with no
// CUDA toolkit and no link-time dependency on libcuda: a binary linked with
// -lcuda would not even start on a machine without the driver, so it could
// not print a useful error. The launcher therefore dlopen()s libcuda.so.1 and
// resolves the few entry points it uses into a function table.
//
// No CUDA header is included anywhere: the types below are minimal stand-ins
// with the driver ABI's sizes (handles are opaque pointers, CUdeviceptr is a
// 64-bit integer, enums are int) and the enum values are copied from cuda.h.
// Where the driver versions an entry point (cuMemAlloc -> cuMemAlloc_v2) the
// table resolves the versioned symbol, which is what cuda.h's macros pick.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CUDA_CUDADRIVER_H
#define MONOCARD_RUNTIME_CUDA_CUDADRIVER_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace monocard {
namespace cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = uint64_t;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;

// Values from cuda.h (CUDA 13.0); the driver ABI keeps them stable.
constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
constexpr CUresult CUDA_ERROR_STUB_LIBRARY = 34;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr CUresult CUDA_ERROR_INVALID_IMAGE = 200;
constexpr CUresult CUDA_ERROR_NO_BINARY_FOR_GPU = 209;
constexpr CUresult CUDA_ERROR_INVALID_PTX = 218;
constexpr CUresult CUDA_ERROR_NOT_FOUND = 500;

constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;

constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

constexpr int CU_JIT_INFO_LOG_BUFFER = 3;
constexpr int CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

constexpr unsigned CU_STREAM_DEFAULT = 0;
constexpr unsigned CU_EVENT_DEFAULT = 0;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

/// X(Field, "symbol", (parameter types)): every entry point the runtime
/// uses. All return CUresult. Field names are cuda.h's unversioned API names
/// so that call sites read like CUDA code.
#define MONOCARD_CUDA_DRIVER_FUNCTIONS(X)                                      \
  X(cuGetErrorName, "cuGetErrorName", (CUresult, const char **))               \
  X(cuGetErrorString, "cuGetErrorString", (CUresult, const char **))           \
  X(cuDriverGetVersion, "cuDriverGetVersion", (int *))                         \
  X(cuInit, "cuInit", (unsigned))                                              \
  X(cuDeviceGetCount, "cuDeviceGetCount", (int *))                             \
  X(cuDeviceGet, "cuDeviceGet", (CUdevice *, int))                             \
  X(cuDeviceGetName, "cuDeviceGetName", (char *, int, CUdevice))               \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", (int *, int, CUdevice))      \
  X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", (size_t *, CUdevice))             \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain",                      \
    (CUcontext *, CUdevice))                                                   \
  X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", (CUdevice))     \
  X(cuCtxCreate, "cuCtxCreate_v2", (CUcontext *, unsigned, CUdevice))          \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", (CUcontext))                           \
  X(cuCtxSynchronize, "cuCtxSynchronize", ())                                  \
  X(cuMemGetInfo, "cuMemGetInfo_v2", (size_t *, size_t *))                     \
  X(cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr *, size_t))                      \
  X(cuMemFree, "cuMemFree_v2", (CUdeviceptr))                                  \
  X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", (CUdeviceptr, const void *, size_t))      \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", (void *, CUdeviceptr, size_t))            \
  X(cuMemsetD8, "cuMemsetD8_v2", (CUdeviceptr, unsigned char, size_t))         \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx",                                  \
    (CUmodule *, const void *, unsigned, int *, void **))                      \
  X(cuModuleGetFunction, "cuModuleGetFunction",                                \
    (CUfunction *, CUmodule, const char *))                                    \
  X(cuModuleUnload, "cuModuleUnload", (CUmodule))                              \
  X(cuFuncSetAttribute, "cuFuncSetAttribute", (CUfunction, int, int))          \
  X(cuLaunchKernel, "cuLaunchKernel",                                          \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,   \
     unsigned, CUstream, void **, void **))                                    \
  X(cuStreamCreate, "cuStreamCreate", (CUstream *, unsigned))                  \
  X(cuStreamDestroy, "cuStreamDestroy_v2", (CUstream))                         \
  X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream))                    \
  X(cuStreamBeginCapture, "cuStreamBeginCapture_v2", (CUstream, int))          \
  X(cuStreamEndCapture, "cuStreamEndCapture", (CUstream, CUgraph *))           \
  X(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags",                \
    (CUgraphExec *, CUgraph, unsigned long long))                              \
  X(cuGraphLaunch, "cuGraphLaunch", (CUgraphExec, CUstream))                   \
  X(cuGraphExecDestroy, "cuGraphExecDestroy", (CUgraphExec))                   \
  X(cuGraphDestroy, "cuGraphDestroy", (CUgraph))                               \
  X(cuEventCreate, "cuEventCreate", (CUevent *, unsigned))                     \
  X(cuEventDestroy, "cuEventDestroy_v2", (CUevent))                            \
  X(cuEventRecord, "cuEventRecord", (CUevent, CUstream))                       \
  X(cuEventSynchronize, "cuEventSynchronize", (CUevent))                       \
  X(cuEventElapsedTime, "cuEventElapsedTime", (float *, CUevent, CUevent))

/// The resolved entry points; every one is non-null once load() succeeded.
struct CudaDriverApi {
#define MONOCARD_CUDA_FIELD(Field, Symbol, Params)                             \
  CUresult(*Field) Params = nullptr;
  MONOCARD_CUDA_DRIVER_FUNCTIONS(MONOCARD_CUDA_FIELD)
#undef MONOCARD_CUDA_FIELD
};

} // namespace cuda

/// libcuda.so.1, opened with dlopen and resolved into a CudaDriverApi.
/// load() does not call cuInit: a machine with the driver but no GPU loads
/// fine and is reported by CudaDevice::open, which tells the two apart.
class CudaDriver {
public:
  static constexpr const char *DefaultLibrary = "libcuda.so.1";

  CudaDriver() = default;
  ~CudaDriver();
  CudaDriver(const CudaDriver &) = delete;
  CudaDriver &operator=(const CudaDriver &) = delete;

  /// Opens \p Library (a soname searched like the dynamic loader does, or a
  /// path) and resolves every entry point. On failure sets \p Error to one
  /// line, e.g. "cannot load the NVIDIA driver (libcuda.so.1): <dlerror>".
  bool load(std::string &Error, const std::string &Library = DefaultLibrary);

  bool loaded() const { return Handle != nullptr; }
  const cuda::CudaDriverApi &api() const { return Api; }
  const std::string &library() const { return Library; }
  /// cuDriverGetVersion's value, e.g. 13000 for CUDA 13.0; 0 if unknown.
  int version() const { return Version; }

  /// "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)".
  std::string describe(cuda::CUresult R) const;
  /// "cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (...)".
  std::string failure(const char *Call, cuda::CUresult R) const;
  /// True when \p R is CUDA_SUCCESS; otherwise sets \p Error to
  /// failure(Call, R) and returns false.
  bool check(cuda::CUresult R, const char *Call, std::string &Error) const;

private:
  void *Handle = nullptr;
  std::string Library;
  int Version = 0;
  cuda::CudaDriverApi Api;
};

/// "13.0" for 13000; "unknown" for 0.
std::string formatCudaVersion(int Version);

} // namespace monocard

#endif // MONOCARD_RUNTIME_CUDA_CUDADRIVER_H
