//===- KernelEmitter.cpp - building blocks of the CUDA kernel builders ----===//

#include "monocard/Target/Cuda/Kernels/KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace monocard::gpu_kernels;

std::string monocard::gpu_kernels::typeName(Type t) {
  if (t.isF32())
    return "f32";
  if (t.isF16())
    return "f16";
  if (t.isBF16())
    return "bf16";
  if (t.isInteger(32))
    return "i32";
  return "unknown";
}

Value KernelEmitter::idx(int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}
Value KernelEmitter::i32(int64_t v) {
  return arith::ConstantIntOp::create(b, b.getI32Type(), v);
}
Value KernelEmitter::f32(double v) {
  return arith::ConstantFloatOp::create(b, b.getF32Type(),
                                        APFloat(float(v)));
}

Value KernelEmitter::add(Value a, Value c) {
  return arith::AddIOp::create(b, a, c);
}
Value KernelEmitter::sub(Value a, Value c) {
  return arith::SubIOp::create(b, a, c);
}
Value KernelEmitter::mul(Value a, Value c) {
  return arith::MulIOp::create(b, a, c);
}
Value KernelEmitter::div(Value a, Value c) {
  return arith::DivUIOp::create(b, a, c);
}
Value KernelEmitter::rem(Value a, Value c) {
  return arith::RemUIOp::create(b, a, c);
}
Value KernelEmitter::min(Value a, Value c) {
  return arith::MinUIOp::create(b, a, c);
}
Value KernelEmitter::lt(Value a, Value c) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, a, c);
}
Value KernelEmitter::ge(Value a, Value c) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::uge, a, c);
}
Value KernelEmitter::eq(Value a, Value c) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, a, c);
}
Value KernelEmitter::land(Value a, Value c) {
  return arith::AndIOp::create(b, a, c);
}
Value KernelEmitter::select(Value cond, Value a, Value c) {
  return arith::SelectOp::create(b, cond, a, c);
}

Value KernelEmitter::fadd(Value a, Value c) {
  return arith::AddFOp::create(b, a, c);
}
Value KernelEmitter::fsub(Value a, Value c) {
  return arith::SubFOp::create(b, a, c);
}
Value KernelEmitter::fmul(Value a, Value c) {
  return arith::MulFOp::create(b, a, c);
}
Value KernelEmitter::fdiv(Value a, Value c) {
  return arith::DivFOp::create(b, a, c);
}
Value KernelEmitter::fmax(Value a, Value c) {
  return arith::MaximumFOp::create(b, a, c);
}
Value KernelEmitter::fma(Value a, Value c, Value d) {
  // An explicit fused multiply-add: PTX's mul.rn/add.rn pairs are never
  // contracted by ptxas.
  return LLVM::FMAOp::create(b, a, c, d);
}
Value KernelEmitter::fgt(Value a, Value c) {
  return arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, a, c);
}
Value KernelEmitter::feq(Value a, Value c) {
  return arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, a, c);
}

Value KernelEmitter::callIntrinsic(StringRef name, Value x) {
  return LLVM::CallIntrinsicOp::create(b, x.getType(),
                                       b.getStringAttr(name), ValueRange{x})
      .getResult(0);
}

Value KernelEmitter::exp(Value x) {
  return callIntrinsic("llvm.nvvm.ex2.approx.f32",
                       fmul(x, f32(1.4426950408889634)));
}
Value KernelEmitter::exp2(Value x) {
  return callIntrinsic("llvm.nvvm.ex2.approx.f32", x);
}
Value KernelEmitter::log(Value x) {
  return fmul(callIntrinsic("llvm.nvvm.lg2.approx.f", x),
              f32(0.6931471805599453));
}
Value KernelEmitter::sqrt(Value x) {
  return callIntrinsic("llvm.nvvm.sqrt.rn.f", x);
}

std::pair<Value, Value> KernelEmitter::sinCos(Value angle) {
  // fdlibm's kernels on [-pi/4, pi/4] after a Cody-Waite reduction by
  // pi/2, all in f64. Angles here are pos * inv_freq >= 0.
  Type f64 = b.getF64Type();
  auto d = [&](double v) -> Value {
    return arith::ConstantFloatOp::create(b, cast<FloatType>(f64),
                                          APFloat(v));
  };
  Value x = arith::ExtFOp::create(b, f64, angle);
  Value y = fadd(fmul(x, d(0.63661977236758134308)), d(0.5));
  Value k = arith::FPToSIOp::create(b, b.getI64Type(), y);
  Value kf = arith::SIToFPOp::create(b, f64, k);
  Value r = fsub(fsub(x, fmul(kf, d(1.57079632673412561417e+00))),
                 fmul(kf, d(6.07710050650619224932e-11)));
  Value z = fmul(r, r);
  auto poly = [&](std::initializer_list<double> c) {
    // Horner from the highest coefficient.
    std::vector<double> cs(c);
    Value acc = d(cs.back());
    for (int i = int(cs.size()) - 2; i >= 0; --i)
      acc = fadd(fmul(acc, z), d(cs[i]));
    return acc;
  };
  Value s = fadd(r, fmul(fmul(r, z),
                         poly({-1.66666666666666324348e-01,
                               8.33333333332248946124e-03,
                               -1.98412698298579493134e-04,
                               2.75573137070700676789e-06,
                               -2.50507602534068634195e-08,
                               1.58969099521155010221e-10})));
  Value c = fadd(fsub(d(1.0), fmul(d(0.5), z)),
                 fmul(fmul(z, z),
                      poly({4.16666666666666019037e-02,
                            -1.38888888888741095749e-03,
                            2.48015872894767294178e-05,
                            -2.75573143513906633035e-07,
                            2.08757232129817482790e-09,
                            -1.13596475577881948265e-11})));
  // Quadrant k mod 4: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s).
  Value q = arith::AndIOp::create(
      b, k, arith::ConstantIntOp::create(b, b.getI64Type(), 3));
  auto isQ = [&](int64_t v) {
    return arith::CmpIOp::create(
        b, arith::CmpIPredicate::eq, q,
        arith::ConstantIntOp::create(b, b.getI64Type(), v));
  };
  Value ns = arith::NegFOp::create(b, s), nc = arith::NegFOp::create(b, c);
  Value q1 = isQ(1), q2 = isQ(2), q3 = isQ(3);
  Value sinV = select(q1, c, select(q2, ns, select(q3, nc, s)));
  Value cosV = select(q1, ns, select(q2, nc, select(q3, s, c)));
  Type f32t = b.getF32Type();
  return {arith::TruncFOp::create(b, f32t, sinV),
          arith::TruncFOp::create(b, f32t, cosV)};
}

Value KernelEmitter::indexToF32(Value i) {
  Value v = arith::IndexCastUIOp::create(b, b.getI64Type(), i);
  return arith::UIToFPOp::create(b, b.getF32Type(), v);
}
Value KernelEmitter::i32ToIndex(Value v) {
  return arith::IndexCastOp::create(b, b.getIndexType(), v);
}

Value KernelEmitter::threadId(gpu::Dimension dim) {
  return gpu::ThreadIdOp::create(b, dim);
}
Value KernelEmitter::blockId(gpu::Dimension dim) {
  return gpu::BlockIdOp::create(b, dim);
}

Value KernelEmitter::load(Value mem, Value i) {
  Value v = memref::LoadOp::create(b, mem, ValueRange{i});
  if (isa<FloatType>(v.getType()) && !v.getType().isF32())
    v = arith::ExtFOp::create(b, b.getF32Type(), v);
  return v;
}

void KernelEmitter::store(Value mem, Value i, Value v) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  if (elt != v.getType())
    v = arith::TruncFOp::create(b, elt, v);
  memref::StoreOp::create(b, v, mem, ValueRange{i});
}

Value KernelEmitter::loadVector(Value mem, Value i, int64_t n) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
  auto type = VectorType::get({n}, elt);
  Value v = vector::LoadOp::create(b, type, mem, ValueRange{i},
                                   /*nontemporal=*/false,
                                   llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
  if (!elt.isF32())
    v = arith::ExtFOp::create(b, VectorType::get({n}, b.getF32Type()), v);
  return v;
}

Value KernelEmitter::loadVectorRaw(Value mem, Value i, int64_t n) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
  return vector::LoadOp::create(
      b, VectorType::get({n}, elt), mem, ValueRange{i},
      /*nontemporal=*/false, llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
}

Value KernelEmitter::extToF32(Value v) {
  auto type = cast<VectorType>(v.getType());
  if (type.getElementType().isF32())
    return v;
  return arith::ExtFOp::create(
      b, VectorType::get(type.getShape(), b.getF32Type()), v);
}

void KernelEmitter::storeVector(Value mem, Value i, Value v) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  auto type = cast<VectorType>(v.getType());
  int64_t n = type.getNumElements();
  if (type.getElementType() != elt)
    v = arith::TruncFOp::create(b, VectorType::get({n}, elt), v);
  int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
  vector::StoreOp::create(b, v, mem, ValueRange{i}, /*nontemporal=*/false,
                          llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
}

Value KernelEmitter::extract(Value v, int64_t l) {
  return vector::ExtractOp::create(b, v, ArrayRef<int64_t>{l});
}

Value KernelEmitter::splat(Value s, int64_t n) {
  return vector::BroadcastOp::create(b, VectorType::get({n}, s.getType()), s);
}

Value KernelEmitter::vectorSum(Value v) {
  return vector::ReductionOp::create(b, vector::CombiningKind::ADD, v);
}
Value KernelEmitter::zeroVector(int64_t n) {
  auto type = VectorType::get({n}, b.getF32Type());
  return arith::ConstantOp::create(b, type, DenseElementsAttr::get(
                                                type, APFloat(0.0f)));
}
Value KernelEmitter::vfma(Value a, Value c, Value acc) {
  return vector::FMAOp::create(b, a, c, acc);
}

static Value warpReduce(ImplicitLocOpBuilder &b, Value v, bool isMax,
                        int64_t lanes = 32) {
  Value width = arith::ConstantIntOp::create(b, b.getI32Type(), 32);
  for (int64_t offset = lanes / 2; offset >= 1; offset /= 2) {
    Value off = arith::ConstantIntOp::create(b, b.getI32Type(), offset);
    Value other =
        gpu::ShuffleOp::create(b, v, off, width, gpu::ShuffleMode::XOR)
            .getShuffleResult();
    v = isMax ? Value(arith::MaximumFOp::create(b, v, other))
              : Value(arith::AddFOp::create(b, v, other));
  }
  return v;
}

Value KernelEmitter::warpSum(Value v) { return warpReduce(b, v, false); }
Value KernelEmitter::warpMax(Value v) { return warpReduce(b, v, true); }
Value KernelEmitter::groupSum(Value v, int64_t width) {
  return warpReduce(b, v, false, width);
}
Value KernelEmitter::groupMax(Value v, int64_t width) {
  return warpReduce(b, v, true, width);
}

Value KernelEmitter::blockReduce(Value v, Value scratch, int64_t warps,
                                 bool isMax) {
  if (warps == 1)
    return warpReduce(b, v, isMax);
  Value tid = threadId();
  Value lane = rem(tid, idx(32)), warp = div(tid, idx(32));
  Value r = warpReduce(b, v, isMax);
  ifThen(eq(lane, idx(0)), [&] { memref::StoreOp::create(b, r, scratch,
                                                         ValueRange{warp}); });
  barrier();
  Value identity =
      f32(isMax ? -std::numeric_limits<float>::infinity() : 0.0);
  Value safeLane = min(lane, idx(warps - 1));
  Value t = memref::LoadOp::create(b, scratch, ValueRange{safeLane});
  t = select(lt(lane, idx(warps)), t, identity);
  Value total = warpReduce(b, t, isMax);
  // The scratch may be reused by the next reduction.
  barrier();
  return total;
}

Value KernelEmitter::blockSum(Value v, Value scratch, int64_t warps) {
  return blockReduce(v, scratch, warps, false);
}
Value KernelEmitter::blockMax(Value v, Value scratch, int64_t warps) {
  return blockReduce(v, scratch, warps, true);
}
void KernelEmitter::barrier() { gpu::BarrierOp::create(b); }

void KernelEmitter::forRange(Value lb, Value ub, Value step,
                             const std::function<void(Value)> &body) {
  auto loop = scf::ForOp::create(b, lb, ub, step);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

SmallVector<Value> KernelEmitter::forRange(
    Value lb, Value ub, Value step, ValueRange init,
    const std::function<SmallVector<Value>(Value, ValueRange)> &body) {
  auto loop = scf::ForOp::create(b, lb, ub, step, init);
  {
    OpBuilder::InsertionGuard guard(b);
    Block *block = loop.getBody();
    if (!block->empty() && block->back().hasTrait<OpTrait::IsTerminator>())
      block->back().erase();
    b.setInsertionPointToEnd(block);
    SmallVector<Value> next =
        body(loop.getInductionVar(), loop.getRegionIterArgs());
    scf::YieldOp::create(b, next);
  }
  return SmallVector<Value>(loop.getResults());
}

void KernelEmitter::ifThen(Value cond, const std::function<void()> &then) {
  auto op = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op.thenBlock()->getTerminator());
  then();
}

void KernelEmitter::ifThenElse(Value cond, const std::function<void()> &then,
                               const std::function<void()> &otherwise) {
  auto op = scf::IfOp::create(b, cond, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op.thenBlock()->getTerminator());
  then();
  b.setInsertionPoint(op.elseBlock()->getTerminator());
  otherwise();
}
