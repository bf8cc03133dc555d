//===- GemvBuilder.h - the decode GEMV's layout and builder -----*- C++ -*-===//
//
// The layout of one fused decode GEMV (GemvLayout) and the class that emits
// its body (GemvBuilder), shared by the files that hold its stages; the
// kernel's design is described at the top of FusedGemv.cpp, which also holds
// the pipelined main loop and fusedGemv:
//
//   GemvLayout.cpp      the layout's numbers from the spec and GemvConfig
//   GemvLoads.cpp       a warp's pairs and iterations, their weight loads
//   GemvStaging.cpp     x: staged in shared memory (normalized) or read
//   GemvDotProduct.cpp  an iteration's arithmetic, int8/int4 dequantization
//   GemvEpilogue.cpp    bias, SwiGLU, qkv RoPE + cache scatter, residual
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_TARGET_CUDA_KERNELS_GEMVBUILDER_H
#define MONOCARD_LIB_TARGET_CUDA_KERNELS_GEMVBUILDER_H

#include "monocard/Target/Cuda/Kernels/KernelConfig.h"
#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <array>
#include <functional>

namespace monocard::gpu_kernels::gemv {

using llvm::ArrayRef;
using llvm::cast;
using llvm::SmallVector;
using llvm::StringRef;
using mlir::ImplicitLocOpBuilder;
using mlir::MemRefType;
using mlir::ValueRange;
using mlir::VectorType;

constexpr int64_t kGemvWarps = GemvConfig::kWarps; // a row pair per warp
constexpr int64_t kGemvBlock = kGemvWarps * 32;

inline Value i32Const(ImplicitLocOpBuilder &b, int64_t v) {
  return mlir::arith::ConstantIntOp::create(b, b.getI32Type(), int32_t(v));
}

/// PRMT: bytes of {hi, lo} picked by the selector's nibbles.
inline Value prmt(ImplicitLocOpBuilder &b, Value lo, Value hi, Value selector) {
  return mlir::LLVM::CallIntrinsicOp::create(b, b.getI32Type(),
                                             b.getStringAttr("llvm.nvvm.prmt"),
                                             ValueRange{lo, hi, selector})
      .getResult(0);
}

/// A 16-byte (or narrower) vector of `n` elements of `mem` as stored.
inline Value loadRaw(ImplicitLocOpBuilder &b, Value mem, Value i, int64_t n) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
  return mlir::vector::LoadOp::create(
      b, VectorType::get({n}, elt), mem, ValueRange{i}, /*nontemporal=*/false,
      llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
}

inline Value toF32(ImplicitLocOpBuilder &b, Value v) {
  auto vt = cast<VectorType>(v.getType());
  if (vt.getElementType().isF32())
    return v;
  return mlir::arith::ExtFOp::create(
      b, VectorType::get(vt.getShape(), b.getF32Type()), v);
}

inline Value extract(ImplicitLocOpBuilder &b, Value v, int64_t i) {
  return mlir::vector::ExtractOp::create(b, v, ArrayRef<int64_t>{i});
}

/// What one GEMV kernel's code depends on besides the spec: the chunking of
/// the rows, where x lives, the unrolling and the shared-memory buffers,
/// derived from the spec and its GemvConfig.
struct GemvLayout {
  bool quant = false, norm = false;
  int64_t epv = 0;    // weight elements per 16-byte chunk
  int64_t chunks = 0; // per row, with a short last chunk when `tail`
  bool tail = false;
  // x in shared memory: `slotsPerChunk` 16-byte slots of 4 f32 per chunk,
  // plus the zero chunk, rounded up to whole swizzle groups of 8 slots.
  int64_t slotsPerChunk = 0, slots = 0, sharedFloats = 0;
  int64_t pairs = 0, maxPairs = 0;
  /// Warps of the grid when it is fixed at compile time, else 0 (the kernel
  /// reads the grid size).
  int64_t totalWarps = 0;
  // int4 with 16-bit activations: the cheap dequantization, which needs
  // each chunk's sum of x (`cheapInt4` when x is staged).
  bool fastInt4 = false, cheapInt4 = false, shared = false;
  int64_t sumFloats = 0, zFloats = 0;
  int64_t unroll = 0, stepChunks = 0, steps = 0;
  // The last step of a row has chunk slots past it: their loads are
  // clamped into the row and their x is zero.
  bool partial = false;
  int64_t groups = 1, rowBytes = 0, chunksPerGroup = 1;
  bool hoistParams = false;
  int64_t xw = 0; // x vector width when read from global memory
  // Values per chunk slot and before the slots (hoisted params).
  int64_t perSlot = 0, nHoisted = 0;
  // Indices of the workgroup buffers (-1: absent).
  int xsIndex = -1, scratchIndex = -1, sumsIndex = -1, zIndex = -1;

  GemvLayout(const LinearSpec &s, const GemvConfig &c);
  SmallVector<int64_t> workgroup() const;
};

/// Builds the body of one GEMV kernel, stage by stage (build()).
class GemvBuilder {
public:
  GemvBuilder(KernelEmitter &e, const LinearSpec &s, const GemvConfig &tune,
              const GemvLayout &l, StringRef table)
      : e(e), b(e.builder()), s(s), tune(tune), l(l), table(table),
        f32(b.getF32Type()), i32(b.getI32Type()) {}

  void build(ValueRange args, ValueRange workgroup);

private:
  // Stages, in build order.
  void bindArgs(ValueRange a);
  /// This warp's pairs gw, gw + totalWarps, ... and its iterations.
  void assignWork();
  /// Stages x (normalized) in shared memory; computes 1/rms with a norm.
  void stageX();
  SmallVector<Value> stageRound(Value round, Value sumSquares);
  void mainLoop(ValueRange first);
  SmallVector<Value> iteration(Value it, ValueRange carried, size_t nacc);
  /// The epilogues, a lane per pair of this warp.
  void epilogues();

  // Index helpers. The main loop's index arithmetic is 32-bit (`I`
  // constants, `ix` at each memory access): every extent is a compile-time
  // constant below 2^31, and 64-bit multiplies and divisions by constants
  // would otherwise be a large share of the loop's instructions.
  Value I(int64_t v) { return e.i32(v); }
  Value ix(Value v) {
    return mlir::arith::IndexCastUIOp::create(b, b.getIndexType(), v);
  }
  Value toI32(Value v) { return mlir::arith::IndexCastUIOp::create(b, i32, v); }
  /// The grid's warps, as i32 and as index.
  Value warpsI32() { return l.totalWarps ? I(l.totalWarps) : runtimeWarps; }
  Value warpsIndex() {
    return l.totalWarps ? e.idx(l.totalWarps) : ix(runtimeWarps);
  }
  Value pairOf(Value it);
  Value stepOf(Value it);
  std::array<Value, 2> rowsOf32(Value pair);
  std::array<Value, 2> rowsOf(Value pair);
  Value zeroBias(Value zero);
  Value chunkOf(Value step, int64_t u);

  // The loads of iteration `it`.
  SmallVector<Value> loadHoisted(Value it);
  SmallVector<Value> loadSlot(Value it, int64_t u);
  SmallVector<Value> loadIter(Value it);

  /// x's 16-byte slot L lives at L ^ ((L >> 3) & 7): the lanes' reads of
  /// consecutive chunks hit distinct banks.
  Value swizzle(Value slot) {
    Value hi = mlir::arith::AndIOp::create(
        b, mlir::arith::ShRUIOp::create(b, slot, e.idx(3)), e.idx(7));
    return mlir::arith::XOrIOp::create(b, slot, hi);
  }
  Value rsqrtMean(Value sumSquares);
  SmallVector<Value> xChunk(Value c, Value &ss);
  SmallVector<Value> computeIter(Value step, ValueRange loaded,
                                 ValueRange accIn,
                                 const std::function<void(int64_t)> &afterSlot);
  /// Adds row r's products of chunk slot `xs` to racc (4 chains).
  void dotQuantized(ArrayRef<Value> xs, Value xsum, Value raw, Value scale,
                    Value zero, Value *racc);

  /// Where the dot product of row r of this warp's finished pair `local`
  /// waits in shared memory for the epilogues.
  Value zSlot(Value local, int r) {
    return ix(
        e.add(e.mul(e.add(e.mul(warp, I(l.maxPairs)), local), I(2)), I(r)));
  }
  void finishPair(Value local, ValueRange acc);
  void epilogue(Value pair, Value local);
  void epilogueQkv(Value row0, Value z[2]);
  void ropePair(Value pos, Value rel, Value z[2], Value &h, Value &i, Value &lo,
                Value &hi);

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  const LinearSpec &s;
  const GemvConfig &tune;
  const GemvLayout &l;
  StringRef table;
  Type f32, i32;
  SmallVector<Value> wg;
  // Parameters, in LinearSpec's order (absent ones null).
  Value x, w, params, bias, normW, residual, y, keyCache, valueCache, scalars;
  Value tid, tid32, lane, warp, gw, runtimeWarps, myPairs, total;
  Value inv; // 1 / rms, with a norm prologue and staging
  Value magic, halfBits, nibbles;
};

} // namespace monocard::gpu_kernels::gemv

#endif // MONOCARD_LIB_TARGET_CUDA_KERNELS_GEMVBUILDER_H
