//===- KernelLibrary.h - C++ builders of the CUDA kernels ------*- C++ -*-===//
//
// Each builder emits one `gpu.func` kernel, specialised to the shapes and
// storage types it is given (every extent is a compile-time constant), into
// the module's `gpu.module @monocard_kernels`, once per distinct
// specialisation, and returns it with the grid and block to launch it with.
//
// Conventions shared by every kernel:
// - every parameter is a flat, statically shaped memref (`memref<N x T>`),
//   lowered with the bare-pointer convention to one device pointer;
// - floats are stored as f32, f16 or bf16 and computed in f32;
// - dynamic step inputs (position, valid rows, sampler settings) are read
//   from the step's scalar block, a `memref<8xi32>` view of the I/O buffer
//   (indices below), so a captured CUDA graph replays with new values.
//
// The library's files (lib/Target/Cuda/Kernels) form a DAG: each uses only
// the files below it (calls into KernelLibrary's private builders count):
//
//   LinearKernels.cpp     linear / fusedLinear: picks one of
//     PlainLinear.cpp       the unfused GEMV and GEMM
//     FusedGemv.cpp         the fused decode GEMV: its main loop, on
//       GemvEpilogue.cpp      bias, SwiGLU, qkv RoPE + caches, residual
//       GemvDotProduct.cpp    an iteration's FMAs, int8/int4 dequant
//       GemvStaging.cpp       x in shared memory, the RMSNorm
//       GemvLoads.cpp         a warp's row pairs, the weight loads
//       GemvLayout.cpp        chunking, unrolling, shared buffers
//       GemvBuilder.h         the builder class and the layout
//     GemmKernels.cpp       the fused prefill GEMM: its pipeline, on
//       GemmEpilogue.cpp      bias, residual, SwiGLU, qkv RoPE + caches
//       GemmMultiply.cpp      mma.sync / SIMT inner product
//       GemmStaging.cpp       x and W tiles to shared memory, the RMSNorm
//       GemmChunks.cpp        a chunk of x or W, int8/int4 dequant
//       GemmBuilder.h         the builder class
//     LinearSignature.h/.cpp  what both fused kernels share: parameters, names
//   AttentionKernel.cpp   attention: picks one of
//     AttentionDecode.cpp   one query row          --+-> AttentionCommon.h/.cpp
//     AttentionPrefill.cpp  a chunk of rows        --'   (constants, name)
//   RowKernels.cpp        embedding, rmsNorm, rope, kvAppend, copyRows,
//                         elementwise
//   SampleKernel.cpp      sample
//   -----------------------------------------------------------------------
//   KernelLibrary.cpp     the kernel module: getOrBuild, constant tables
//   KernelConfig.h/.cpp   launch shapes for the target (TargetDescription)
//   KernelEmitter.h/.cpp  the vocabulary the kernels are written in
// and this header, used by all of them.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_CUDA_KERNELS_KERNELLIBRARY_H
#define MONOCARD_TARGET_CUDA_KERNELS_KERNELLIBRARY_H

#include "monocard/Target/Cuda/Kernels/KernelConfig.h"
#include "monocard/Target/Cuda/Kernels/KernelEmitter.h"

#include "monocard/Runtime/Contract.h"

#include "mlir/IR/BuiltinOps.h"

#include <array>

namespace monocard::gpu_kernels {

/// Slots of the scalar block (i32 each; temperature holds f32 bits): the
/// compiler-runtime contract's, which the launcher writes.
using contract::kCounter;
using contract::kNextToken;
using contract::kNumScalars;
using contract::kNValid;
using contract::kPos;
using contract::kSeed;
using contract::kTemperature;
using contract::ScalarSlot;

/// A grid the launcher sizes from the device: grid.x = blocksPerSM x the
/// device's SM count, clamped to [minBlocks, maxBlocks] (the kernel reads
/// its grid size). blocksPerSM 0: the grid is the compiled one.
struct PersistentGrid {
  int64_t blocksPerSM = 0, minBlocks = 0, maxBlocks = 0;
  explicit operator bool() const { return blocksPerSM != 0; }
};

struct KernelLaunch {
  mlir::gpu::GPUFuncOp func;
  /// With `persistent`, grid.x is the size for the target's SM count.
  std::array<int64_t, 3> grid{1, 1, 1};
  std::array<int64_t, 3> block{1, 1, 1};
  /// Dynamic shared memory (bytes) the launch passes; 0: none.
  int64_t sharedBytes = 0;
  PersistentGrid persistent = {};
};

/// The shape and types of one `tfm.attention`.
struct AttentionSpec {
  int64_t rows, heads, kvHeads, dim, capacity;
  double scale;
  bool causal, hasValidRows;
  Type qT, kvT, outT;
};

enum class ElementwiseKind { Add, Mul, Silu, SwiGlu };

/// A quantized weight's bytes (docs/packed-weights-format.md): codes of
/// `bits` bits, rows `rowBytes` apart, passed as a flat i8 memref; then the
/// [N, groups, 2] plane of (scale, zero) pairs of `scaleT`.
/// w[n, k] = (q - zero) * scale with (scale, zero) of group k / group.
struct QuantLayout {
  int64_t bits = 0; // 0: W is a float tensor
  int64_t group = 0;
  Type scaleT;
  int64_t rowBytes = 0;
  int64_t groups(int64_t k) const { return (k + group - 1) / group; }
  explicit operator bool() const { return bits != 0; }
};

/// What one linear kernel computes, with its fused prologue and epilogue
/// (tfm.linear, tfm.fused_linear, tfm.fused_qkv):
///   x' = norm ? x * rsqrt(mean(x^2) + eps) * normW : x   (per row, f32)
///   z  = x' . W^T (+ bias)                                 ([m, n], f32)
/// then exactly one of
///   plain:   y = z (+ residual)                            ([m, n])
///   swiglu:  y[:, i] = silu(z[:, 2i]) * z[:, 2i+1] (+ residual) ([m, n/2])
///   qkv:     z's columns are [q | k | v] heads of headDim, q and k in pair
///            order (column 2i, 2i+1 of a head = rotate-half partners i,
///            i + headDim/2); q is roped at position pos + r and stored to
///            y ([m, heads, headDim], rotate-half layout); k is roped and
///            stored to keyCache[h, pos + r, :], v to valueCache[h, pos+r, :]
///            (rows with pos + r >= capacity are dropped, as kvAppend does).
///
/// Kernel arguments, in this order (absent ones are skipped):
///   x [m*k], W [n*k] (float) | codes [n*rowBytes] (i8) + params
///   [n*groups*2] (scaleT), bias [n], normW [k], residual [m*width],
///   y [m*width], keyCache, valueCache [kvHeads*capacity*headDim] and the
///   scalar block (qkv only; pos is kPos).
struct LinearSpec {
  int64_t m = 1, n = 0, k = 0;
  Type xT, wT, biasT, yT; // wT unused when quantized; biasT null: no bias
  QuantLayout quant;
  Type normT;             // null: no norm prologue
  double eps = 0;
  bool swiglu = false;
  Type residualT;         // null: no residual epilogue
  bool qkv = false;
  int64_t heads = 0, kvHeads = 0, headDim = 0, capacity = 0;
  llvm::SmallVector<float> invFreqs; // RoPE, headDim / 2 of them
  Type cacheT;
  /// Output columns per row: n, n / 2 with swiglu, heads * headDim with qkv.
  int64_t width() const {
    return qkv ? heads * headDim : swiglu ? n / 2 : n;
  }
};

/// Elements per 16-byte load of type `t` that also divide `k`.
inline int64_t vectorWidth(Type t, int64_t k) {
  int64_t w = 128 / t.getIntOrFloatBitWidth();
  while (w > 1 && k % w)
    w /= 2;
  return w;
}

class KernelLibrary {
public:
  /// Uses (or creates) `gpu.module @monocard_kernels` in `module`; the
  /// linear and attention kernels' launch shapes come from `config`.
  explicit KernelLibrary(mlir::ModuleOp module,
                         KernelConfig config = KernelConfig());

  /// out[r, :] = table[ids[r], :] (ids clamped into the vocabulary).
  KernelLaunch embedding(int64_t vocab, int64_t hidden, int64_t rows,
                         Type tableT, Type outT);
  /// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w.
  KernelLaunch rmsNorm(int64_t rows, int64_t hidden, double eps, Type xT,
                       Type wT, Type outT);
  /// y[m, n] = sum_k x[m, k] w[n, k] (+ bias[n]): the decode GEMV when
  /// m == 1 (a warp per output row, 16-byte loads, shuffle reduction),
  /// else the tiled prefill GEMM. `biasT` is null without a bias.
  KernelLaunch linear(int64_t m, int64_t n, int64_t k, Type xT, Type wT,
                      Type biasT, Type yT);
  /// The fused linear of `spec`: the GEMV when m == 1, else the GEMM.
  KernelLaunch fusedLinear(const LinearSpec &spec);
  /// Why the fused linear kernels cannot compute `spec` (a quantized layout
  /// they do not read), or an empty string when they can. Callers check
  /// this first and report it at the op.
  static std::string linearUnsupported(const LinearSpec &spec);
  /// Rotate-half RoPE of rows at positions pos + r.
  KernelLaunch rope(int64_t rows, int64_t heads, int64_t dim,
                    llvm::ArrayRef<float> invFreqs, Type xT, Type outT);
  /// cache[h, pos + r, :] = rows[r, h, :] for pos + r < capacity.
  KernelLaunch kvAppend(int64_t rows, int64_t kvHeads, int64_t dim,
                        int64_t capacity, Type rowT, Type cacheT);
  /// Attention of `rows` queries at positions pos + r over the cache
  /// (causal: row r sees keys 0 .. pos + r, else 0 .. pos + rows - 1), GQA
  /// by head groups, online softmax in f32 with no bound on the context.
  /// One row (decode): a block per query head whose warps split the keys;
  /// more rows (prefill): flash-style tiles of queries and keys in dynamic
  /// shared memory. With `hasValidRows`, rows >= n_valid are padding and
  /// get zeros. Returns a null func (and sets `why`) for head dims it does
  /// not support.
  KernelLaunch attention(const AttentionSpec &spec, std::string &why);
  KernelLaunch elementwise(ElementwiseKind kind, int64_t n, Type aT, Type bT,
                           Type outT);
  /// out = in[row0 : row0 + count, :] with row0 = offset, or
  /// n_valid + offset when `fromValidRows`.
  KernelLaunch copyRows(int64_t rows, int64_t width, int64_t count,
                        int64_t offset, bool fromValidRows, Type inT,
                        Type outT);
  /// The next token from f32 logits: argmax (lowest index on ties) when the
  /// temperature slot is 0, else Gumbel-max sampling at that temperature
  /// from the (seed, counter) random stream. Writes the next-token slot.
  KernelLaunch sample(int64_t vocab);

  static mlir::MemRefType flat(int64_t n, Type t);
  mlir::MemRefType scalarsType();

private:
  using Body = std::function<void(KernelEmitter &, mlir::ValueRange args,
                                  mlir::ValueRange workgroup)>;
  /// The kernel `name`, built by `body` the first time it is asked for.
  mlir::gpu::GPUFuncOp getOrBuild(llvm::StringRef name,
                                  llvm::ArrayRef<Type> args,
                                  llvm::ArrayRef<int64_t> workgroupF32,
                                  int64_t blockSize, const Body &body,
                                  llvm::ArrayRef<Type> workgroupOther = {});
  KernelLaunch gemv(int64_t n, int64_t k, Type xT, Type wT, Type biasT,
                    Type yT);
  KernelLaunch gemm(int64_t m, int64_t n, int64_t k, Type xT, Type wT,
                    Type biasT, Type yT);
  /// FusedGemv.cpp: the decode GEMV of a LinearSpec.
  KernelLaunch fusedGemv(const LinearSpec &spec, const GemvConfig &config);
  /// GemmKernels.cpp: the prefill GEMM of a LinearSpec.
  KernelLaunch fusedGemm(const LinearSpec &spec, const GemmConfig &config);
  KernelLaunch attentionDecode(const AttentionSpec &spec);
  KernelLaunch attentionPrefill(const AttentionSpec &spec, std::string &why);
  /// A constant table in the kernel module (RoPE frequencies).
  std::string constantTable(llvm::StringRef prefix,
                            llvm::ArrayRef<float> values);

  mlir::ModuleOp module;
  mlir::gpu::GPUModuleOp kernels;
  KernelConfig config;
};

} // namespace monocard::gpu_kernels

#endif // MONOCARD_TARGET_CUDA_KERNELS_KERNELLIBRARY_H
