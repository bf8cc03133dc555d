//===- CudaPipeline.h - tfm -> kernels (PTX) + launch sequence --*- C++ -*-===//
//
// The CUDA target in three consecutive stages, each a list of registered
// passes (so `monocard-opt` can run any of them):
//
//   Gpu      tfm-fuse, [tfm-quantize,] tfm-layout-weights,
//            tfm-lower-to-gpu: launches of gpu.func
//            kernels over the device ABI
//   Memplan  tfm-plan-memory: intermediates -> the arena
//   Ptx      nvvm-attach-target, the kernels to the NVVM/LLVM dialects
//            (bare pointers), gpu-module-to-binary: PTX
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_CUDA_CUDAPIPELINE_H
#define MONOCARD_TARGET_CUDA_CUDAPIPELINE_H

#include "monocard/Target/ModelPasses.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Error.h"

#include <string>

namespace monocard {

enum class CudaStage { Gpu, Memplan, Ptx };

struct CudaTargetOptions {
  /// Fusion and quantization before the weights are laid out.
  ModelPassOptions model;
  /// The PTX targets this chip; newer GPUs JIT it (sm_80: the oldest the
  /// kernels support, bf16 conversions and cp.async).
  std::string ptxChip = "sm_80";
  std::string ptxFeatures = "+ptx80";
  /// The cubin embedded next to the PTX, where ptxas is available.
  std::string cubinChip = "sm_90";
  /// tfm-lower-to-gpu's options: the GPU the launch shapes are chosen for
  /// (--gpu; empty: every sm_80+ GPU) and the tuning overrides.
  std::string gpu, gemvTune, gemmTile;
};

void addCudaStage(mlir::OpPassManager &pm, CudaStage stage,
                  const CudaTargetOptions &options = {});

/// The PTX text of the `gpu.binary @monocard_kernels` that the Ptx stage
/// produced.
llvm::Expected<std::string> extractPtx(mlir::ModuleOp module);

/// The "cuda" member of the model info (docs/runtime-abi.md): the I/O
/// layout, the kernel names and, per step, the launches in order with their
/// grid, block and arguments as (buffer, byte offset). Needs the planned
/// module (after the Memplan stage); the launches survive the Ptx stage.
llvm::Expected<std::string>
buildCudaModelInfoJson(mlir::ModuleOp module, const CudaTargetOptions &options,
                       bool haveCubin);

/// Kernels launched per step, for `--emit=kernels`: one line per launch.
llvm::Expected<std::string> describeKernels(mlir::ModuleOp module);

} // namespace monocard

#endif // MONOCARD_TARGET_CUDA_CUDAPIPELINE_H
