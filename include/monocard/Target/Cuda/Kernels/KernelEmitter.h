//===- KernelEmitter.h - building blocks of the CUDA kernel builders ------===//
//
// The kernel builders (KernelLibrary.h) write each kernel as a `gpu.func`
// of scf, arith, vector, memref, gpu and nvvm/llvm ops. This class is the
// vocabulary they share: index arithmetic, loads that widen any float
// storage type to f32 and stores that narrow it back, 16-byte vector loads,
// warp and block reductions, and the few transcendental functions the
// kernels need.
//
// Why not math.exp and friends: convert-gpu-to-nvvm lowers them to calls
// into libdevice, which only a CUDA toolkit has. The kernels use the
// hardware's approximate ex2/lg2 (relative error ~2^-22) and compute RoPE's
// sine and cosine with a double-precision polynomial, so compiling needs no
// toolkit and RoPE angles of large positions stay accurate.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_CUDA_KERNELS_KERNELEMITTER_H
#define MONOCARD_TARGET_CUDA_KERNELS_KERNELEMITTER_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>

namespace monocard::gpu_kernels {

using mlir::Type;
using mlir::Value;

class KernelEmitter {
public:
  KernelEmitter(mlir::ImplicitLocOpBuilder &b) : b(b) {}

  mlir::ImplicitLocOpBuilder &builder() { return b; }

  // Constants.
  Value idx(int64_t v);
  Value i32(int64_t v);
  Value f32(double v);

  // Index arithmetic (unsigned division and remainder: every index here is
  // non-negative).
  Value add(Value a, Value c);
  Value sub(Value a, Value c);
  Value mul(Value a, Value c);
  Value div(Value a, Value c);
  Value rem(Value a, Value c);
  Value min(Value a, Value c);
  Value lt(Value a, Value c);
  Value ge(Value a, Value c);
  Value eq(Value a, Value c);
  Value land(Value a, Value c);
  Value select(Value cond, Value a, Value c);

  // f32 arithmetic.
  Value fadd(Value a, Value c);
  Value fsub(Value a, Value c);
  Value fmul(Value a, Value c);
  Value fdiv(Value a, Value c);
  Value fmax(Value a, Value c);
  Value fma(Value a, Value c, Value d);
  Value fgt(Value a, Value c);
  Value feq(Value a, Value c);
  /// e^x through ex2.approx.
  Value exp(Value x);
  /// 2^x through ex2.approx (2^-inf = 0).
  Value exp2(Value x);
  /// ln x through lg2.approx.
  Value log(Value x);
  /// sqrt.rn (IEEE).
  Value sqrt(Value x);
  /// The sine and cosine of an f32 angle, accurate to f32 rounding for any
  /// angle a context length produces (range reduction in f64).
  std::pair<Value, Value> sinCos(Value angle);

  Value indexToF32(Value i);
  Value i32ToIndex(Value v);

  // Thread geometry.
  Value threadId(mlir::gpu::Dimension d = mlir::gpu::Dimension::x);
  Value blockId(mlir::gpu::Dimension d = mlir::gpu::Dimension::x);

  // Memory. `load` widens a float element to f32 (i32 elements are returned
  // as they are); `store` narrows an f32 to the element type.
  Value load(Value mem, Value i);
  void store(Value mem, Value i, Value v);
  /// `n` consecutive elements from `i` as vector<n x f32>; the load is one
  /// aligned vector access (16 bytes at most per instruction after
  /// lowering), so `i` must be a multiple of `n`.
  Value loadVector(Value mem, Value i, int64_t n);
  /// The same load without widening: vector<n x storage type>.
  Value loadVectorRaw(Value mem, Value i, int64_t n);
  /// Widens a float vector to f32 (a no-op for f32).
  Value extToF32(Value v);
  /// Stores vector<n x f32> `v` at `i` (narrowed to the element type), one
  /// aligned vector access as for loadVector.
  void storeVector(Value mem, Value i, Value v);
  /// Element `l` of a vector.
  Value extract(Value v, int64_t l);
  /// A vector<n x f32> with every element `s`.
  Value splat(Value s, int64_t n);
  Value vectorSum(Value v);
  Value zeroVector(int64_t n);
  Value vfma(Value a, Value c, Value acc);

  // Reductions. Warp reductions use butterfly shuffles: every lane ends
  // with the result. Block reductions go through `scratch`, a workgroup
  // memref of at least `warps` f32, and broadcast the result to all threads.
  Value warpSum(Value v);
  Value warpMax(Value v);
  /// Butterfly reductions over aligned groups of `width` lanes (a power of
  /// two up to 32): every lane of a group ends with the group's result.
  Value groupSum(Value v, int64_t width);
  Value groupMax(Value v, int64_t width);
  Value blockSum(Value v, Value scratch, int64_t warps);
  Value blockMax(Value v, Value scratch, int64_t warps);
  void barrier();

  // Structured control flow.
  void forRange(Value lb, Value ub, Value step,
                const std::function<void(Value)> &body);
  mlir::SmallVector<Value>
  forRange(Value lb, Value ub, Value step, mlir::ValueRange init,
           const std::function<mlir::SmallVector<Value>(
               Value, mlir::ValueRange)> &body);
  void ifThen(Value cond, const std::function<void()> &then);
  void ifThenElse(Value cond, const std::function<void()> &then,
                  const std::function<void()> &otherwise);

private:
  Value blockReduce(Value v, Value scratch, int64_t warps, bool isMax);
  Value callIntrinsic(llvm::StringRef name, Value x);

  mlir::ImplicitLocOpBuilder &b;
};

/// Storage type names used in kernel names: f32, f16, bf16, i32.
std::string typeName(Type t);

} // namespace monocard::gpu_kernels

#endif // MONOCARD_TARGET_CUDA_KERNELS_KERNELEMITTER_H
