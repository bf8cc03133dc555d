//===- CudaDevice.h - One GPU: context, buffers, module, graphs -*- C++ -*-===//
//
// What a compiled model needs from a GPU, over the dlopen'ed driver
// (CudaDriver.h): one device and its primary context, one stream, the three
// buffers of the memory plan (weights, KV cache, arena) plus a small I/O
// buffer (logits, tokens), one module of kernels (a cubin, or the embedded
// PTX JIT-compiled by the driver), launches by kernel name, a CUDA graph of
// a recorded sequence of launches, event timing and the peak memory in use.
//
// Every method reports failure as false plus one line in Error (no
// exceptions); the launcher prints it as "error: <line>" and exits 1.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CUDA_CUDADEVICE_H
#define MONOCARD_RUNTIME_CUDA_CUDADEVICE_H

#include "monocard/Runtime/Cuda/CudaDriver.h"
#include "monocard/Runtime/Program/CudaLaunchPlan.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace monocard {

struct CudaDeviceProps {
  int Ordinal = 0;
  std::string Name;
  int Major = 0, Minor = 0;
  int MultiprocessorCount = 0;
  int MaxSharedPerBlockOptin = 0;
  uint64_t TotalBytes = 0;
};

/// Grid and block sizes of one launch.
struct LaunchDims {
  unsigned Grid[3] = {1, 1, 1};
  unsigned Block[3] = {1, 1, 1};
  unsigned SharedBytes = 0;
};

/// A kernel of the loaded module, resolved once. Launching through it skips
/// the by-name lookup, which matters for a step of hundreds of launches.
/// Owned by its CudaDevice (the pointer stays valid as long as it does).
struct CudaKernel {
  std::string Name;
  cuda::CUfunction Fn = nullptr;
  /// Dynamic shared memory the kernel may use: 48 KiB unless raised.
  unsigned SharedLimit = 48 * 1024;
};

/// An instantiated CUDA graph; CudaDevice::replay launches it. Must be
/// destroyed before the CudaDevice that captured it.
class CudaGraph {
public:
  CudaGraph() = default;
  ~CudaGraph() { reset(); }
  CudaGraph(const CudaGraph &) = delete;
  CudaGraph &operator=(const CudaGraph &) = delete;

  bool valid() const { return Exec != nullptr; }
  unsigned launches() const { return Launches; }
  void reset();

private:
  friend class CudaDevice;
  const CudaDriver *Driver = nullptr;
  cuda::CUgraphExec Exec = nullptr;
  unsigned Launches = 0;
};

class CudaDevice {
public:
  /// Smallest compute capability the CUDA target generates code for
  /// (sm_80: bf16 tensor cores, cp.async).
  static constexpr int MinMajor = 8, MinMinor = 0;

  explicit CudaDevice(const CudaDriver &Driver) : Driver(Driver) {}
  ~CudaDevice();
  CudaDevice(const CudaDevice &) = delete;
  CudaDevice &operator=(const CudaDevice &) = delete;

  /// cuInit, picks GPU \p Ordinal, checks it is sm_80 or newer, retains its
  /// primary context, makes it current on this thread, and creates the
  /// stream and timing events. Errors: "no CUDA GPU found ...", "GPU 3 does
  /// not exist: ...", "GPU 0 (Tesla T4) has compute capability 7.5; ...".
  bool open(int Ordinal, std::string &Error);
  const CudaDeviceProps &props() const { return Props; }

  /// Allocates the plan's buffers, once; zeroes the KV cache. If they do not
  /// fit: "out of GPU memory: the plan needs weights X + KV cache Y + arena
  /// Z + I/O W = T bytes, the GPU has F free".
  bool allocate(const DeviceMemoryPlan &Plan, std::string &Error);
  const DeviceMemoryPlan &plan() const { return Plan; }
  cuda::CUdeviceptr weights() const { return Weights; }
  cuda::CUdeviceptr kv() const { return Kv; }
  cuda::CUdeviceptr arena() const { return Arena; }
  cuda::CUdeviceptr io() const { return Io; }

  /// Synchronous copies and fill (they wait for the stream's work first).
  bool copyToDevice(cuda::CUdeviceptr Dst, const void *Src, uint64_t Bytes,
                    std::string &Error);
  bool copyFromDevice(void *Dst, cuda::CUdeviceptr Src, uint64_t Bytes,
                      std::string &Error);
  bool fill(cuda::CUdeviceptr Dst, unsigned char Byte, uint64_t Bytes,
            std::string &Error);

  /// Loads the kernels: \p Cubin when non-empty and the driver accepts it
  /// for this GPU, else \p Ptx through the driver's JIT. A failure names the
  /// call and the driver's error, plus the JIT's first error line.
  bool loadModule(std::string_view Ptx, std::string_view Cubin,
                  std::string &Error);
  /// How the module was loaded: "cubin", "ptx" or
  /// "ptx (cubin rejected: CUDA_ERROR_NO_BINARY_FOR_GPU)".
  const std::string &moduleSource() const { return ModuleSource; }

  /// The kernel \p Name of the loaded module (looked up once, then cached).
  bool function(const std::string &Name, cuda::CUfunction &Out,
                std::string &Error);
  /// The same as a handle for launch(); errors as function().
  bool kernel(const std::string &Name, CudaKernel *&Out, std::string &Error);
  /// Enqueues \p Name on the stream; \p Args as cuLaunchKernel takes them
  /// (one pointer per kernel parameter; the values are copied at the call,
  /// also when capturing). Raises the kernel's dynamic shared memory limit
  /// when Dims asks for more than the default 48 KiB.
  bool launch(const std::string &Name, const LaunchDims &Dims, void **Args,
              std::string &Error);
  bool launch(CudaKernel &Kernel, const LaunchDims &Dims, void **Args,
              std::string &Error);
  /// Opts \p Kernel into \p Bytes of dynamic shared memory (a no-op up to
  /// 48 KiB). launch() does it on demand; doing it before a capture keeps
  /// the attribute call out of the captured stream.
  bool reserveShared(CudaKernel &Kernel, unsigned Bytes, std::string &Error);

  /// Records what \p Body enqueues on the stream into \p Out instead of
  /// running it, and instantiates it. Body must only enqueue (launches);
  /// synchronous calls are errors during a capture.
  bool capture(const std::function<bool(std::string &)> &Body, CudaGraph &Out,
               std::string &Error);
  bool replay(const CudaGraph &Graph, std::string &Error);
  bool synchronize(std::string &Error);

  /// Event timing on the stream: startTimer(), enqueue work, then
  /// stopTimer() waits for it and returns the milliseconds in between.
  bool startTimer(std::string &Error);
  bool stopTimer(float &Milliseconds, std::string &Error);

  /// Reads cuMemGetInfo and raises the peak. Called after every allocation,
  /// module load and graph instantiation; callers may add samples.
  bool sampleMemory(std::string &Error);
  /// Bytes in use on the GPU beyond what was in use right after the context
  /// was created: the buffers, the module, graphs, driver allocations. The
  /// count is device-wide, so other processes' allocations show up too.
  uint64_t peakUsedBytes() const { return PeakUsed; }
  /// Free bytes at open(), after the context was created.
  uint64_t baselineFreeBytes() const { return BaselineFree; }

private:
  bool freeBytes(uint64_t &Free, std::string &Error);
  std::string outOfMemory(const DeviceMemoryPlan &P, uint64_t Free) const;

  const CudaDriver &Driver;
  CudaDeviceProps Props;
  cuda::CUdevice Device = 0;
  cuda::CUcontext Context = nullptr;
  cuda::CUstream Stream = nullptr;
  cuda::CUevent TimerStart = nullptr, TimerStop = nullptr;
  cuda::CUmodule Module = nullptr;
  std::string ModuleSource;
  std::map<std::string, CudaKernel, std::less<>> Kernels;
  DeviceMemoryPlan Plan;
  cuda::CUdeviceptr Weights = 0, Kv = 0, Arena = 0, Io = 0;
  uint64_t BaselineFree = 0;
  uint64_t PeakUsed = 0;
  /// Launches since the last capture began: a graph's launch count.
  unsigned CaptureLaunches = 0;
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_CUDA_CUDADEVICE_H
