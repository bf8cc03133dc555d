//===- CudaDevice.cpp - CudaDevice: the GPU, its context and buffers ------===//

#include "monocard/Runtime/Cuda/CudaDevice.h"

#include "CudaCall.h"

#include <algorithm>

using namespace monocard;
using namespace monocard::cuda;

CudaDevice::~CudaDevice() {
  if (!Context)
    return;
  // Teardown errors are ignored: there is nothing left to report them to,
  // and the driver reclaims everything when the context goes anyway.
  const CudaDriverApi &A = Driver.api();
  A.cuCtxSetCurrent(Context);
  if (Stream)
    A.cuStreamSynchronize(Stream);
  for (CUdeviceptr P : {Weights, Kv, Arena, Io})
    if (P)
      A.cuMemFree(P);
  if (Module)
    A.cuModuleUnload(Module);
  if (TimerStart)
    A.cuEventDestroy(TimerStart);
  if (TimerStop)
    A.cuEventDestroy(TimerStop);
  if (Stream)
    A.cuStreamDestroy(Stream);
  A.cuDevicePrimaryCtxRelease(Device);
}

bool CudaDevice::open(int Ordinal, std::string &Error) {
  if (!Driver.loaded()) {
    Error = "the NVIDIA driver is not loaded";
    return false;
  }
  if (Context) {
    Error = "the GPU is already open";
    return false;
  }
  const CudaDriverApi &A = Driver.api();
  std::string Where = "the NVIDIA driver (" + Driver.library() + ", CUDA " +
                      formatCudaVersion(Driver.version()) + ")";
  CUresult R = A.cuInit(0);
  int Count = 0;
  if (R == CUDA_SUCCESS)
    R = A.cuDeviceGetCount(&Count);
  if (R == CUDA_ERROR_NO_DEVICE || (R == CUDA_SUCCESS && Count == 0)) {
    Error = "no CUDA GPU found: " + Where + " sees none";
    return false;
  }
  // The toolkit's link-time stub answers every call with this; it is what
  // gets loaded when lib64/stubs leaks into the loader's search path.
  if (R == CUDA_ERROR_STUB_LIBRARY) {
    Error = "cannot use the NVIDIA driver (" + Driver.library() +
            "): it is the CUDA toolkit's stub library, not the driver";
    return false;
  }
  if (!Driver.check(R, "cuInit", Error))
    return false;
  if (Ordinal < 0 || Ordinal >= Count) {
    Error = "GPU " + std::to_string(Ordinal) + " does not exist: " + Where +
            " sees " + std::to_string(Count) + " (0.." +
            std::to_string(Count - 1) + ")";
    return false;
  }

  MONOCARD_CU(cuDeviceGet, &Device, Ordinal);
  char Name[256] = {0};
  MONOCARD_CU(cuDeviceGetName, Name, sizeof(Name) - 1, Device);
  Props.Ordinal = Ordinal;
  Props.Name = Name;
  MONOCARD_CU(cuDeviceGetAttribute, &Props.Major,
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, Device);
  MONOCARD_CU(cuDeviceGetAttribute, &Props.Minor,
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, Device);
  MONOCARD_CU(cuDeviceGetAttribute, &Props.MultiprocessorCount,
              CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, Device);
  MONOCARD_CU(cuDeviceGetAttribute, &Props.MaxSharedPerBlockOptin,
              CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, Device);
  size_t Total = 0;
  MONOCARD_CU(cuDeviceTotalMem, &Total, Device);
  Props.TotalBytes = Total;

  if (std::make_pair(Props.Major, Props.Minor) <
      std::make_pair(MinMajor, MinMinor)) {
    std::string Cap =
        std::to_string(Props.Major) + "." + std::to_string(Props.Minor);
    Error = "GPU " + std::to_string(Ordinal) + " (" + Props.Name +
            ") has compute capability " + Cap + " (sm_" +
            std::to_string(Props.Major * 10 + Props.Minor) +
            "); Monocard's CUDA target needs 8.0 (sm_80) or newer";
    return false;
  }

  // The primary context is the one the CUDA runtime and libraries would
  // use too, so anything else in the process shares it instead of paying
  // for a second one.
  CUcontext Ctx = nullptr;
  MONOCARD_CU(cuDevicePrimaryCtxRetain, &Ctx, Device);
  Context = Ctx;
  MONOCARD_CU(cuCtxSetCurrent, Context);
  // A blocking stream: the synchronous copies, which run on the legacy
  // default stream, stay ordered with the kernels.
  MONOCARD_CU(cuStreamCreate, &Stream, CU_STREAM_DEFAULT);
  MONOCARD_CU(cuEventCreate, &TimerStart, CU_EVENT_DEFAULT);
  MONOCARD_CU(cuEventCreate, &TimerStop, CU_EVENT_DEFAULT);
  if (!freeBytes(BaselineFree, Error))
    return false;
  PeakUsed = 0;
  return true;
}

bool CudaDevice::freeBytes(uint64_t &Free, std::string &Error) {
  size_t F = 0, T = 0;
  MONOCARD_CU(cuMemGetInfo, &F, &T);
  Free = F;
  return true;
}

bool CudaDevice::sampleMemory(std::string &Error) {
  uint64_t Free = 0;
  if (!freeBytes(Free, Error))
    return false;
  if (BaselineFree > Free)
    PeakUsed = std::max(PeakUsed, BaselineFree - Free);
  return true;
}

std::string CudaDevice::outOfMemory(const DeviceMemoryPlan &P,
                                    uint64_t Free) const {
  return "out of GPU memory: the plan needs weights " +
         std::to_string(P.WeightsBytes) + " + KV cache " +
         std::to_string(P.KvBytes) + " + arena " +
         std::to_string(P.ArenaBytes) + " + I/O " + std::to_string(P.IoBytes) +
         " = " + std::to_string(P.totalBytes()) + " bytes, the GPU has " +
         std::to_string(Free) + " free";
}

bool CudaDevice::allocate(const DeviceMemoryPlan &NewPlan, std::string &Error) {
  if (!Context) {
    Error = "the GPU is not open";
    return false;
  }
  if (Weights || Kv || Arena || Io) {
    Error = "the GPU buffers are already allocated";
    return false;
  }
  uint64_t Free = 0;
  if (!freeBytes(Free, Error))
    return false;
  // Refuse up front with the whole plan in the message rather than fail on
  // whichever buffer happens to be the one that no longer fits.
  if (NewPlan.totalBytes() > Free) {
    Error = outOfMemory(NewPlan, Free);
    return false;
  }
  const CudaDriverApi &A = Driver.api();
  std::pair<CUdeviceptr *, uint64_t> Buffers[] = {
      {&Weights, NewPlan.WeightsBytes},
      {&Kv, NewPlan.KvBytes},
      {&Arena, NewPlan.ArenaBytes},
      {&Io, NewPlan.IoBytes}};
  for (auto &[Ptr, Bytes] : Buffers) {
    if (Bytes == 0)
      continue; // cuMemAlloc refuses 0 bytes; a null pointer is never read.
    CUresult R = A.cuMemAlloc(Ptr, Bytes);
    if (R == CUDA_SUCCESS)
      continue;
    for (auto &B : Buffers) {
      if (*B.first)
        A.cuMemFree(*B.first);
      *B.first = 0;
    }
    // Fragmentation or another process can make a plan that fit the free
    // count fail anyway; that is still out of memory, not a driver error.
    if (R == CUDA_ERROR_OUT_OF_MEMORY && freeBytes(Free, Error))
      Error = outOfMemory(NewPlan, Free) + " but refused a block of " +
              std::to_string(Bytes);
    else
      Error = Driver.failure("cuMemAlloc", R);
    return false;
  }
  Plan = NewPlan;
  // The launcher's contract: the KV cache starts zeroed (runtime-abi.md).
  if (!fill(Kv, 0, Plan.KvBytes, Error) || !fill(Io, 0, Plan.IoBytes, Error))
    return false;
  return sampleMemory(Error);
}

bool CudaDevice::copyToDevice(CUdeviceptr Dst, const void *Src, uint64_t Bytes,
                              std::string &Error) {
  if (Bytes == 0)
    return true;
  MONOCARD_CU(cuStreamSynchronize, Stream);
  MONOCARD_CU(cuMemcpyHtoD, Dst, Src, Bytes);
  return true;
}

bool CudaDevice::copyFromDevice(void *Dst, CUdeviceptr Src, uint64_t Bytes,
                                std::string &Error) {
  if (Bytes == 0)
    return true;
  MONOCARD_CU(cuStreamSynchronize, Stream);
  MONOCARD_CU(cuMemcpyDtoH, Dst, Src, Bytes);
  return true;
}

bool CudaDevice::fill(CUdeviceptr Dst, unsigned char Byte, uint64_t Bytes,
                      std::string &Error) {
  if (Bytes == 0)
    return true;
  MONOCARD_CU(cuStreamSynchronize, Stream);
  MONOCARD_CU(cuMemsetD8, Dst, Byte, Bytes);
  return true;
}
