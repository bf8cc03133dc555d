//===- Interpreter.cpp - run a gpu.func kernel on the CPU -----------------===//
//
// The scalars and buffers, the driver (interpret) and the per-thread
// execution of blocks and control flow; the ops of each family are in the
// files InterpreterThread.h lists.
//
//===----------------------------------------------------------------------===//

#include "InterpreterThread.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/APFloat.h"

#include <cstring>

using namespace mlir;
using namespace monocard::kernelgen;
using namespace monocard::kernelgen::interp;

//===----------------------------------------------------------------------===//
// Scalars and buffers
//===----------------------------------------------------------------------===//

static const llvm::fltSemantics &semantics(Type t) {
  if (t.isF16())
    return llvm::APFloat::IEEEhalf();
  if (t.isBF16())
    return llvm::APFloat::BFloat();
  if (t.isF32())
    return llvm::APFloat::IEEEsingle();
  return llvm::APFloat::IEEEdouble();
}

double monocard::kernelgen::roundTo(double v, Type t) {
  if (t.isF64())
    return v;
  if (t.isF32())
    return double(float(v));
  llvm::APFloat a(v);
  bool lost;
  a.convert(semantics(t), llvm::APFloat::rmNearestTiesToEven, &lost);
  a.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return a.convertToDouble();
}

unsigned interp::widthOf(Type t) {
  return t.isIndex() ? 64 : t.getIntOrFloatBitWidth();
}

int64_t interp::normalize(int64_t v, unsigned w) {
  if (w >= 64)
    return v;
  uint64_t mask = (uint64_t(1) << w) - 1, u = uint64_t(v) & mask;
  if (w > 1 && (u >> (w - 1)) & 1)
    u |= ~mask;
  return int64_t(u);
}

uint64_t interp::zext(int64_t v, unsigned w) {
  return w >= 64 ? uint64_t(v) : uint64_t(v) & ((uint64_t(1) << w) - 1);
}

uint64_t interp::toBits(double d, int64_t i, Type t) {
  if (isa<FloatType>(t)) {
    llvm::APFloat a(d);
    bool lost;
    a.convert(semantics(t), llvm::APFloat::rmNearestTiesToEven, &lost);
    return a.bitcastToAPInt().getZExtValue();
  }
  return zext(i, widthOf(t));
}

void interp::fromBits(uint64_t bits, Type t, double &d, int64_t &i) {
  if (isa<FloatType>(t)) {
    unsigned w = t.getIntOrFloatBitWidth();
    llvm::APFloat a(semantics(t), llvm::APInt(w, bits));
    bool lost;
    a.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
              &lost);
    d = a.convertToDouble();
    return;
  }
  i = normalize(int64_t(bits), widthOf(t));
}

Buffer::Buffer(std::string name, Type elt, int64_t count)
    : name(std::move(name)), elt(elt), count(count),
      data(size_t(count * eltBytes()), 0) {}

int64_t Buffer::eltBytes() const {
  return std::max<int64_t>(1, elt.getIntOrFloatBitWidth() / 8);
}

static uint64_t readBits(const Buffer &b, int64_t i) {
  uint64_t v = 0;
  std::memcpy(&v, b.data.data() + i * b.eltBytes(), size_t(b.eltBytes()));
  return v;
}
static void writeBits(Buffer &b, int64_t i, uint64_t v) {
  std::memcpy(b.data.data() + i * b.eltBytes(), &v, size_t(b.eltBytes()));
}

double Buffer::getF(int64_t i) const {
  double d = 0;
  int64_t n = 0;
  fromBits(readBits(*this, i), elt, d, n);
  return isa<FloatType>(elt) ? d : double(n);
}
int64_t Buffer::getI(int64_t i) const {
  double d = 0;
  int64_t n = 0;
  fromBits(readBits(*this, i), elt, d, n);
  return n;
}
void Buffer::setF(int64_t i, double v) { writeBits(*this, i, toBits(v, 0, elt)); }
void Buffer::setI(int64_t i, int64_t v) { writeBits(*this, i, toBits(0, v, elt)); }

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

Scheduler *Scheduler::active = nullptr;

bool Thread::run(Block &block, ArrayRef<RtVal> args,
                 SmallVector<RtVal> &out) {
  for (auto [a, v] : llvm::zip(block.getArguments(), args))
    vals[a] = v;
  for (Operation &op : block) {
    if (blk.sh.abort)
      return false;
    if (op.hasTrait<OpTrait::IsTerminator>()) {
      out.clear();
      for (Value v : op.getOperands())
        out.push_back(get(v));
      return true;
    }
    ++Scheduler::active->progress;
    if (!exec(op))
      return false;
  }
  return true;
}

std::optional<bool> Thread::execScf(Operation &op) {
  if (auto loop = dyn_cast<scf::ForOp>(op)) {
    int64_t lb = iv(loop.getLowerBound()), ub = iv(loop.getUpperBound()),
            step = iv(loop.getStep());
    SmallVector<RtVal> carried;
    for (Value v : loop.getInitArgs())
      carried.push_back(get(v));
    for (int64_t i = lb; i < ub; i += step) {
      SmallVector<RtVal> args;
      RtVal ivv;
      Slot s;
      s.i = i;
      ivv.e.push_back(s);
      args.push_back(ivv);
      args.append(carried);
      SmallVector<RtVal> out;
      if (!run(*loop.getBody(), args, out))
        return false;
      carried = out;
    }
    for (auto [r, v] : llvm::zip(loop.getResults(), carried))
      vals[r] = v;
    return true;
  }
  if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
    bool c = iv(ifOp.getCondition());
    Region &region = c ? ifOp.getThenRegion() : ifOp.getElseRegion();
    if (region.empty())
      return true;
    SmallVector<RtVal> out;
    if (!run(region.front(), {}, out))
      return false;
    for (auto [r, v] : llvm::zip(ifOp.getResults(), out))
      vals[r] = v;
    return true;
  }
  return std::nullopt;
}

bool Thread::exec(Operation &op) {
  for (auto family : {&Thread::execArith, &Thread::execCast,
                      &Thread::execVector, &Thread::execMemory,
                      &Thread::execGpu, &Thread::execLlvm, &Thread::execScf})
    if (std::optional<bool> done = (this->*family)(op))
      return *done;
  return fail(op, "unsupported op");
}

std::string monocard::kernelgen::interpret(gpu::GPUFuncOp fn,
                                           const std::vector<Buffer *> &args,
                                           std::array<int64_t, 3> grid,
                                           int64_t block) {
  Shared sh;
  Scheduler sched;
  std::vector<llvm::DenseMap<Value, RtVal>> values(static_cast<size_t>(block));
  if (args.size() != fn.getNumArguments())
    return "argument count mismatch";
  for (int64_t bz = 0; bz < grid[2]; ++bz)
    for (int64_t by = 0; by < grid[1]; ++by)
      for (int64_t bx = 0; bx < grid[0]; ++bx) {
        BlockState blk(sh, block);
        blk.bid = {bx, by, bz};
        blk.grid = grid;
        blk.size = block;
        // Workgroup memory starts as garbage (NaN patterns).
        std::vector<std::unique_ptr<Buffer>> shared;
        for (BlockArgument a : fn.getWorkgroupAttributions()) {
          auto t = cast<MemRefType>(a.getType());
          auto buf = std::make_unique<Buffer>(
              "workgroup" + std::to_string(a.getArgNumber()),
              t.getElementType(), t.getNumElements());
          std::fill(buf->data.begin(), buf->data.end(), 0xff);
          blk.tracked[buf.get()].resize(size_t(buf->count));
          shared.push_back(std::move(buf));
        }
        bool finished = sched.run(block, [&](int64_t tid) {
          Thread th(blk, tid, values[size_t(tid)]);
          Block &entry = fn.getBody().front();
          SmallVector<RtVal> entryArgs;
          for (size_t i = 0; i < args.size(); ++i) {
            RtVal r;
            r.mem = args[i];
            entryArgs.push_back(r);
          }
          for (auto &s : shared) {
            RtVal r;
            r.mem = s.get();
            entryArgs.push_back(r);
          }
          SmallVector<RtVal> out;
          th.run(entry, entryArgs, out);
        });
        if (!finished && !sh.abort)
          return "deadlock: threads wait at a barrier or warp collective "
                 "that the others never reach";
        if (sh.abort)
          return sh.error.empty() ? "aborted" : sh.error;
      }
  return "";
}
