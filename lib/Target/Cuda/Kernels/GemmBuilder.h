//===- GemmBuilder.h - the prefill GEMM's builder ---------------*- C++ -*-===//
//
// The class that emits the body of one fused prefill GEMM, shared by the
// files that hold its stages; the kernel's design is described at the top of
// GemmKernels.cpp, which also holds the pipeline (build) and fusedGemm:
//
//   GemmStaging.cpp   x and W tiles to shared memory, the RMSNorm's sums of
//                     squares on the way and its row factors
//   GemmChunks.cpp    one chunk of x or W: loads, x * normW, int8/int4
//                     dequantization
//   GemmMultiply.cpp  the inner product: mma.sync or SIMT FMAs
//   GemmEpilogue.cpp  bias, residual, SwiGLU, the qkv RoPE + cache scatter
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_TARGET_CUDA_KERNELS_GEMMBUILDER_H
#define MONOCARD_LIB_TARGET_CUDA_KERNELS_GEMMBUILDER_H

#include "monocard/Target/Cuda/Kernels/KernelConfig.h"
#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

#include <utility>

namespace monocard::gpu_kernels::gemm {

using llvm::ArrayRef;
using llvm::cast;
using llvm::dyn_cast;
using llvm::SmallVector;
using llvm::StringRef;
using mlir::getElementTypeOrSelf;
using mlir::ImplicitLocOpBuilder;
using mlir::MemRefType;
using mlir::ValueRange;
using mlir::VectorType;

constexpr int64_t kThreads = 256;
constexpr int64_t kChunk = 8; // k elements per staging load

/// One block's share of the output and how its threads split it, as
/// KernelConfig chose it.
using Tiling = GemmConfig;

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Builds the body of one GEMM kernel.
class GemmBuilder {
public:
  GemmBuilder(KernelEmitter &e, const LinearSpec &s, const Tiling &t,
              StringRef freqTable)
      : e(e), b(e.builder()), s(s), t(t), freqTable(freqTable),
        vecK(s.k % kChunk == 0), f32(b.getF32Type()) {}

  void build(ValueRange args, ValueRange wg);

private:
  // Staging: raw loads of one chunk (kept in registers across the
  // multiply), then conversion to vector<8xf32> and the shared store.
  SmallVector<Value> loadX(Value row, Value kc);
  /// x * normW as vector<8xf32>, and x (for the sum of squares).
  std::pair<Value, Value> convertX(ValueRange raw, Value row, Value kc);
  SmallVector<Value> loadW(Value nrow, Value kc);
  Value convertW(ValueRange raw, Value nrow, Value kc);
  SmallVector<Value> loadFloat(Value mem, Value row, int64_t rows, Value kc);
  Value widenFloat(ValueRange raw, Value row, int64_t rows, Value kc);
  Value maskTail(Value v, Value kc);
  /// Loads of the whole next tile: per x chunk, then per W chunk.
  SmallVector<Value> loadTile(Value k0);
  /// Converts and stores a tile loaded by loadTile; with the norm, returns
  /// each x pass's running sum of squares (`squares` in).
  SmallVector<Value> storeTile(ValueRange raw, Value k0, ValueRange squares,
                               Value buffer);
  /// The chunk (row, k offset) of staging pass p of this thread.
  std::pair<Value, Value> chunkOf(int64_t p, int64_t chunks);
  void storeChunk(Value shared, Value offset, int64_t tileRows, Value rowLocal,
                  Value kcLocal, Value v);
  Value rawIsMmaType(ValueRange raw, Value ok);

  /// Combines the sums of squares into r per tile row (shared memory).
  void normFactors(ValueRange squares);
  int64_t xPasses() const { return ceilDiv(t.bm * t.bk / kChunk, kThreads); }
  SmallVector<Value> multiplySimt(ValueRange acc, Value buffer);
  SmallVector<Value> multiplyMma(ValueRange acc, Value buffer);
  /// Elements of one x or W tile buffer in shared memory (two of each).
  int64_t xTileSize() const { return t.mma ? t.bm * t.ldw() : t.bk * t.bm; }
  int64_t wTileSize() const { return t.mma ? t.bn * t.ldw() : t.bk * t.bn; }
  void epilogueSimt(ValueRange acc);
  /// z * r of the tile row with the norm prologue, else z.
  Value scaleRow(Value z, Value rowLocal);
  void epilogueMma(ValueRange acc);
  /// Output columns col, col + 1 (col even) of row `row`.
  void emitPair(Value row, Value col, Value z0, Value z1);
  void emitColumn(Value row, Value col, Value z);

  VectorType vecType(int64_t n, Type elt) { return VectorType::get({n}, elt); }
  Value splat(Value v, int64_t n) {
    return mlir::vector::BroadcastOp::create(b, vecType(n, v.getType()), v);
  }
  Value extract(Value v, int64_t i) {
    return mlir::vector::ExtractOp::create(b, v, ArrayRef<int64_t>{i});
  }
  Value rawLoad(Value mem, Value i) {
    return mlir::memref::LoadOp::create(b, mem, ValueRange{i});
  }
  Value rawVector(Value mem, Value i, int64_t n) {
    Type elt = cast<MemRefType>(mem.getType()).getElementType();
    int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
    return mlir::vector::LoadOp::create(
        b, vecType(n, elt), mem, ValueRange{i},
        /*nontemporal=*/false, llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
  }
  Value toF32(Value v) {
    Type elt = getElementTypeOrSelf(v.getType());
    if (elt.isF32())
      return v;
    Type to = f32;
    if (auto vt = dyn_cast<VectorType>(v.getType()))
      to = vecType(vt.getNumElements(), f32);
    return mlir::arith::ExtFOp::create(b, to, v);
  }

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  const LinearSpec &s;
  Tiling t;
  StringRef freqTable;
  bool vecK;
  Type f32;

  Value x, w, codes, params, bias, normW, residual, y, kCache, vCache, scalars;
  Value invRows, xs, ws;
  Value tid, m0, n0;
  Value freqs, pos; // qkv: the RoPE table and the chunk's first position
  // The number of raw values of one x chunk and one W chunk.
  size_t xRaw = 0, wRaw = 0;
};

} // namespace monocard::gpu_kernels::gemm

#endif // MONOCARD_LIB_TARGET_CUDA_KERNELS_GEMMBUILDER_H
