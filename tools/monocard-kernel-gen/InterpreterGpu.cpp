//===- InterpreterGpu.cpp - gpu, LLVM and NVVM ops in the interpreter -----===//
//
// Thread and block ids, barriers, warp shuffles, LLVM intrinsics and
// structs, and the warp's mma.sync through the warp's slots
// (InterpreterThread.h).
//
//===----------------------------------------------------------------------===//

#include "InterpreterThread.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <cmath>

using namespace mlir;
using namespace monocard::kernelgen;
using namespace monocard::kernelgen::interp;

std::optional<bool> Thread::execGpu(Operation &op) {
  if (auto t = dyn_cast<gpu::ThreadIdOp>(op)) {
    setI(t.getResult(), {t.getDimension() == gpu::Dimension::x ? tid : 0});
    return true;
  }
  if (auto bl = dyn_cast<gpu::BlockIdOp>(op)) {
    setI(bl.getResult(), {blk.bid[size_t(bl.getDimension())]});
    return true;
  }
  if (auto gd = dyn_cast<gpu::GridDimOp>(op)) {
    setI(gd.getResult(), {blk.grid[size_t(gd.getDimension())]});
    return true;
  }
  if (isa<gpu::BarrierOp>(op)) {
    blk.bar.wait();
    return !blk.sh.abort;
  }
  if (auto sh = dyn_cast<gpu::ShuffleOp>(op)) {
    Warp &w = *blk.warps[size_t(tid / 32)];
    int64_t lane = tid % 32;
    w.slots[size_t(lane)] = {f(sh.getValue())};
    if (!warpSync())
      return false;
    int64_t off = iv(sh.getOffset()), width = iv(sh.getWidth()), src = lane;
    switch (sh.getMode()) {
    case gpu::ShuffleMode::XOR: src = lane ^ off; break;
    case gpu::ShuffleMode::IDX: src = off; break;
    case gpu::ShuffleMode::DOWN: src = lane + off; break;
    case gpu::ShuffleMode::UP: src = lane - off; break;
    }
    bool valid = src >= 0 && src < width;
    double v = valid ? w.slots[size_t(src)][0] : f(sh.getValue());
    if (!warpSync())
      return false;
    setF(sh.getShuffleResult(), {v});
    setI(sh.getValid(), {valid});
    return true;
  }
  return std::nullopt;
}

std::optional<bool> Thread::execLlvm(Operation &op) {
  if (auto call = dyn_cast<LLVM::CallIntrinsicOp>(op);
      call && call.getIntrin() == "llvm.nvvm.prmt") {
    // PRMT: result byte j is byte (nibble j of the selector) & 7 of
    // {hi, lo}, or that byte's sign replicated when the nibble's bit 3 is
    // set.
    uint64_t bytes = uint64_t(uint32_t(iv(call.getArgs()[0]))) |
                     uint64_t(uint32_t(iv(call.getArgs()[1]))) << 32;
    uint32_t sel = uint32_t(iv(call.getArgs()[2])), r = 0;
    for (int j = 0; j < 4; ++j) {
      uint32_t nib = (sel >> (4 * j)) & 15;
      uint32_t byte = uint32_t(bytes >> (8 * (nib & 7))) & 0xff;
      if (nib & 8)
        byte = byte & 0x80 ? 0xff : 0;
      r |= byte << (8 * j);
    }
    setI(call.getResult(0), {int64_t(int32_t(r))});
    return true;
  }
  if (auto call = dyn_cast<LLVM::CallIntrinsicOp>(op)) {
    StringRef name = call.getIntrin();
    double a = f(call.getArgs()[0]);
    double r;
    if (name == "llvm.nvvm.ex2.approx.f32" || name == "llvm.nvvm.ex2.approx.ftz.f")
      r = double(std::exp2(float(a)));
    else if (name == "llvm.nvvm.lg2.approx.f")
      r = double(std::log2(float(a)));
    else if (name == "llvm.nvvm.sqrt.rn.f")
      r = double(std::sqrt(float(a)));
    else
      return fail(op, "unknown intrinsic " + name);
    setF(call.getResult(0), {r});
    return true;
  }
  if (auto ev = dyn_cast<LLVM::ExtractValueOp>(op)) {
    ArrayRef<int64_t> pos = ev.getPosition();
    RtVal r;
    r.e.push_back(get(ev.getContainer()).e[size_t(pos[0])]);
    vals[ev.getResult()] = r;
    return true;
  }
  if (auto mma = dyn_cast<NVVM::MmaOp>(op))
    return execMma(mma);
  return std::nullopt;
}

bool Thread::execMma(NVVM::MmaOp mma) {
  Operation &op = *mma.getOperation();
  auto shape = mma.getShape();
  if (shape.getM() != 16 || shape.getN() != 8 || shape.getK() != 16)
    return fail(op, "only m16n8k16");
  // Each operand register as its two halves (lower index in the lower
  // bits), the accumulators as they are.
  auto halves = [&](Value v, SmallVector<double, 16> &out) {
    const RtVal &r = get(v);
    if (isa<VectorType>(v.getType())) {
      for (Slot s : r.e)
        out.push_back(s.d);
      return;
    }
    std::optional<NVVM::MMATypes> pt = mma.getMultiplicandAPtxType();
    Type half = (pt && *pt == NVVM::MMATypes::bf16)
                    ? Type(BFloat16Type::get(op.getContext()))
                    : Type(Float16Type::get(op.getContext()));
    for (int k = 0; k < 2; ++k) {
      double d;
      int64_t i;
      fromBits((uint64_t(r.e[0].i) >> (16 * k)) & 0xffff, half, d, i);
      out.push_back(d);
    }
  };
  SmallVector<double, 16> mine;
  for (Value v : mma.getOperandA())
    halves(v, mine); // 8: a0..a3
  for (Value v : mma.getOperandB())
    halves(v, mine); // 4: b0, b1
  for (Value v : mma.getOperandC())
    mine.push_back(f(v)); // 4
  if (mine.size() != 16)
    return fail(op, "unexpected operands");
  Warp &w = *blk.warps[size_t(tid / 32)];
  int64_t lane = tid % 32, g = lane / 4, tig = lane % 4;
  w.slots[size_t(lane)] = mine;
  if (!warpSync())
    return false;
  // A[r][k]: lane (r % 8) * 4 + (k % 8) / 2, register (r >= 8) + 2 (k >=
  // 8), half k % 2. B[k][c]: lane c * 4 + (k % 8) / 2, register (k >= 8),
  // half k % 2 (after A's 8 halves).
  auto aAt = [&](int64_t r, int64_t k) {
    int64_t l = (r % 8) * 4 + (k % 8) / 2;
    int64_t reg = (r >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
    return w.slots[size_t(l)][size_t(reg * 2 + k % 2)];
  };
  auto bAt = [&](int64_t k, int64_t c) {
    int64_t l = c * 4 + (k % 8) / 2;
    int64_t reg = k >= 8 ? 1 : 0;
    return w.slots[size_t(l)][size_t(8 + reg * 2 + k % 2)];
  };
  double d[4];
  for (int q = 0; q < 4; ++q) {
    int64_t r = g + (q >= 2 ? 8 : 0), c = tig * 2 + q % 2;
    double s = mine[size_t(12 + q)];
    for (int64_t k = 0; k < 16; ++k)
      s += aAt(r, k) * bAt(k, c);
    d[q] = double(float(s));
  }
  if (!warpSync())
    return false;
  setF(mma.getResult(), {d[0], d[1], d[2], d[3]});
  return true;
}
