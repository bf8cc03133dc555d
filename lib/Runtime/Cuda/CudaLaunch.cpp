//===- CudaLaunch.cpp - CudaDevice: module, launches, graphs, timing ------===//

#include "monocard/Runtime/Cuda/CudaDevice.h"

#include "CudaCall.h"

#include <cstring>
#include <vector>

using namespace monocard;
using namespace monocard::cuda;

void CudaGraph::reset() {
  if (Exec)
    Driver->api().cuGraphExecDestroy(Exec);
  Exec = nullptr;
  Launches = 0;
}

/// The first non-empty line of a JIT log, trimmed.
static std::string firstLine(const char *Log) {
  std::string S(Log);
  size_t B = S.find_first_not_of(" \t\r\n");
  if (B == std::string::npos)
    return {};
  size_t E = S.find_first_of("\r\n", B);
  S = S.substr(B, E == std::string::npos ? std::string::npos : E - B);
  while (!S.empty() && (S.back() == ' ' || S.back() == '\t'))
    S.pop_back();
  return S;
}

bool CudaDevice::loadModule(std::string_view Ptx, std::string_view Cubin,
                            std::string &Error) {
  if (!Context) {
    Error = "the GPU is not open";
    return false;
  }
  if (Module) {
    Error = "a module is already loaded";
    return false;
  }
  const CudaDriverApi &A = Driver.api();
  std::string Rejected;
  if (!Cubin.empty()) {
    // The driver parses the ELF image in place; give it 8-byte alignment,
    // which an embedded byte array need not have.
    std::vector<uint64_t> Image((Cubin.size() + 7) / 8);
    std::memcpy(Image.data(), Cubin.data(), Cubin.size());
    CUmodule M = nullptr;
    CUresult R = A.cuModuleLoadDataEx(&M, Image.data(), 0, nullptr, nullptr);
    if (R == CUDA_SUCCESS) {
      Module = M;
      ModuleSource = "cubin";
      return sampleMemory(Error);
    }
    if (Ptx.empty())
      return Driver.check(R, "cuModuleLoadDataEx", Error);
    // A cubin built for another GPU: the PTX is the portable fallback.
    Rejected = Driver.describe(R);
    Rejected = Rejected.substr(0, Rejected.find(' '));
  }

  std::string Text(Ptx); // the driver wants a NUL-terminated string
  char ErrorLog[8192] = {0};
  int Options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *Values[] = {ErrorLog, reinterpret_cast<void *>(sizeof(ErrorLog) - 1)};
  CUmodule M = nullptr;
  CUresult R = A.cuModuleLoadDataEx(&M, Text.c_str(), 2, Options, Values);
  if (R != CUDA_SUCCESS) {
    Error = Driver.failure("cuModuleLoadDataEx", R);
    ErrorLog[sizeof(ErrorLog) - 1] = 0;
    std::string Why = firstLine(ErrorLog);
    if (!Why.empty())
      Error += ": " + Why;
    return false;
  }
  Module = M;
  ModuleSource =
      Rejected.empty() ? "ptx" : "ptx (cubin rejected: " + Rejected + ")";
  return sampleMemory(Error);
}

bool CudaDevice::function(const std::string &Name, CUfunction &Out,
                          std::string &Error) {
  CudaKernel *K = nullptr;
  if (!kernel(Name, K, Error))
    return false;
  Out = K->Fn;
  return true;
}

bool CudaDevice::kernel(const std::string &Name, CudaKernel *&Out,
                        std::string &Error) {
  auto It = Kernels.find(Name);
  if (It != Kernels.end()) {
    Out = &It->second;
    return true;
  }
  if (!Module) {
    Error = "no GPU module is loaded (kernel '" + Name + "')";
    return false;
  }
  CUfunction F = nullptr;
  CUresult R = Driver.api().cuModuleGetFunction(&F, Module, Name.c_str());
  if (R == CUDA_ERROR_NOT_FOUND) {
    Error = "kernel '" + Name + "' is not in the GPU module";
    return false;
  }
  if (!Driver.check(R, "cuModuleGetFunction", Error))
    return false;
  CudaKernel &K = Kernels[Name];
  K.Name = Name;
  K.Fn = F;
  Out = &K;
  return true;
}

bool CudaDevice::launch(const std::string &Name, const LaunchDims &D,
                        void **Args, std::string &Error) {
  CudaKernel *K = nullptr;
  return kernel(Name, K, Error) && launch(*K, D, Args, Error);
}

bool CudaDevice::reserveShared(CudaKernel &K, unsigned Bytes,
                               std::string &Error) {
  if (Bytes <= K.SharedLimit)
    return true;
  // Beyond 48 KiB a kernel must opt in, up to the GPU's per-block limit.
  if (Bytes > static_cast<unsigned>(Props.MaxSharedPerBlockOptin)) {
    Error = "kernel '" + K.Name + "' needs " + std::to_string(Bytes) +
            " bytes of shared memory; the GPU allows " +
            std::to_string(Props.MaxSharedPerBlockOptin) + " per block";
    return false;
  }
  MONOCARD_CU(cuFuncSetAttribute, K.Fn,
              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
              static_cast<int>(Bytes));
  K.SharedLimit = Bytes;
  return true;
}

bool CudaDevice::launch(CudaKernel &K, const LaunchDims &D, void **Args,
                        std::string &Error) {
  if (!reserveShared(K, D.SharedBytes, Error))
    return false;
  CUresult R = Driver.api().cuLaunchKernel(
      K.Fn, D.Grid[0], D.Grid[1], D.Grid[2], D.Block[0], D.Block[1], D.Block[2],
      D.SharedBytes, Stream, Args, nullptr);
  if (R != CUDA_SUCCESS) {
    Error = "cuLaunchKernel failed for kernel '" + K.Name +
            "': " + Driver.describe(R);
    return false;
  }
  ++CaptureLaunches;
  return true;
}

bool CudaDevice::capture(const std::function<bool(std::string &)> &Body,
                         CudaGraph &Out, std::string &Error) {
  Out.reset();
  const CudaDriverApi &A = Driver.api();
  // Thread-local mode: only this thread's unsafe calls break the capture.
  MONOCARD_CU(cuStreamBeginCapture, Stream,
              CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  CaptureLaunches = 0;
  bool Ok = Body(Error);
  // End the capture even after a failure, or the stream stays unusable.
  CUgraph G = nullptr;
  CUresult R = A.cuStreamEndCapture(Stream, &G);
  if (!Ok || !Driver.check(R, "cuStreamEndCapture", Error)) {
    if (G)
      A.cuGraphDestroy(G);
    return false;
  }
  CUgraphExec Exec = nullptr;
  R = A.cuGraphInstantiateWithFlags(&Exec, G, 0);
  // The executable graph is a copy; the template is not needed any more.
  A.cuGraphDestroy(G);
  if (!Driver.check(R, "cuGraphInstantiateWithFlags", Error))
    return false;
  Out.Driver = &Driver;
  Out.Exec = Exec;
  Out.Launches = CaptureLaunches;
  return sampleMemory(Error);
}

bool CudaDevice::replay(const CudaGraph &Graph, std::string &Error) {
  if (!Graph.valid()) {
    Error = "replay of an empty CUDA graph";
    return false;
  }
  MONOCARD_CU(cuGraphLaunch, Graph.Exec, Stream);
  return true;
}

bool CudaDevice::synchronize(std::string &Error) {
  MONOCARD_CU(cuStreamSynchronize, Stream);
  return true;
}

bool CudaDevice::startTimer(std::string &Error) {
  MONOCARD_CU(cuEventRecord, TimerStart, Stream);
  return true;
}

bool CudaDevice::stopTimer(float &Milliseconds, std::string &Error) {
  MONOCARD_CU(cuEventRecord, TimerStop, Stream);
  MONOCARD_CU(cuEventSynchronize, TimerStop);
  MONOCARD_CU(cuEventElapsedTime, &Milliseconds, TimerStart, TimerStop);
  return true;
}
