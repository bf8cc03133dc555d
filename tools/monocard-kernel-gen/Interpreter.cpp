//===- Interpreter.cpp - run a gpu.func kernel on the CPU -----------------===//

#include "Interpreter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <functional>
#include <map>
#include <random>
#include <ucontext.h>

using namespace mlir;
using namespace monocard::kernelgen;

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

static unsigned widthOf(Type t) {
  return t.isIndex() ? 64 : t.getIntOrFloatBitWidth();
}

static int64_t normalize(int64_t v, unsigned w) {
  if (w >= 64)
    return v;
  uint64_t mask = (uint64_t(1) << w) - 1, u = uint64_t(v) & mask;
  if (w > 1 && (u >> (w - 1)) & 1)
    u |= ~mask;
  return int64_t(u);
}

static uint64_t zext(int64_t v, unsigned w) {
  return w >= 64 ? uint64_t(v) : uint64_t(v) & ((uint64_t(1) << w) - 1);
}

/// The bit pattern of a scalar of type t.
static uint64_t toBits(double d, int64_t i, Type t) {
  if (isa<FloatType>(t)) {
    llvm::APFloat a(d);
    bool lost;
    a.convert(semantics(t), llvm::APFloat::rmNearestTiesToEven, &lost);
    return a.bitcastToAPInt().getZExtValue();
  }
  return zext(i, widthOf(t));
}

static void fromBits(uint64_t bits, Type t, double &d, int64_t &i) {
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

namespace {

union Slot {
  double d;
  int64_t i;
};

struct RtVal {
  SmallVector<Slot, 4> e;
  Buffer *mem = nullptr;
};

/// The threads of a block are fibers of one OS thread, switched only where
/// they wait (barriers, warp collectives): deterministic and cheap.
struct Scheduler {
  struct Fiber {
    ucontext_t ctx;
    bool done = false;
  };
  ucontext_t main;
  std::vector<Fiber> fibers;
  std::vector<std::unique_ptr<char[]>> stacks;
  size_t current = 0;
  uint64_t progress = 0; // ops executed, to notice a deadlock
  std::mt19937 rng{12345};
  std::function<void(int64_t)> body;

  static constexpr size_t kStack = 256 * 1024;
  static Scheduler *active;

  void yield() { swapcontext(&fibers[current].ctx, &main); }

  static void trampoline() {
    Scheduler *s = active;
    s->body(int64_t(s->current));
    s->fibers[s->current].done = true;
    // Returning resumes uc_link, the scheduler.
  }

  /// Runs body(tid) for n fibers to completion; false on a deadlock.
  bool run(int64_t n, std::function<void(int64_t)> fn) {
    body = std::move(fn);
    fibers.assign(size_t(n), Fiber());
    while (stacks.size() < size_t(n))
      stacks.push_back(std::make_unique<char[]>(kStack));
    active = this;
    for (size_t i = 0; i < fibers.size(); ++i) {
      getcontext(&fibers[i].ctx);
      fibers[i].ctx.uc_stack.ss_sp = stacks[i].get();
      fibers[i].ctx.uc_stack.ss_size = kStack;
      fibers[i].ctx.uc_link = &main;
      makecontext(&fibers[i].ctx, &Scheduler::trampoline, 0);
    }
    // Each round resumes the fibers in a new random order, so the stretches
    // between barriers interleave differently and the race detector sees
    // more orders.
    std::vector<size_t> order(fibers.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    for (;;) {
      bool any = false;
      uint64_t before = progress;
      std::shuffle(order.begin(), order.end(), rng);
      for (size_t i : order) {
        current = i;
        if (fibers[current].done)
          continue;
        any = true;
        swapcontext(&main, &fibers[current].ctx);
      }
      if (!any)
        return true;
      if (progress == before)
        return false; // everyone waits for someone who never comes
    }
  }
};
Scheduler *Scheduler::active = nullptr;

class Barrier {
public:
  Barrier(int64_t n, std::atomic<bool> &abort) : n(n), abort(abort) {}
  void wait() {
    uint64_t gen = generation;
    if (++count == n) {
      count = 0;
      ++generation;
      return;
    }
    while (gen == generation && !abort)
      Scheduler::active->yield();
  }
  void wake() {}
  /// Completed barriers so far: the epoch of shared-memory accesses.
  uint64_t epoch() const { return generation; }

private:
  int64_t n, count = 0;
  uint64_t generation = 0;
  std::atomic<bool> &abort;
};

struct Warp {
  Warp(std::atomic<bool> &abort) : bar(32, abort), slots(32) {}
  Barrier bar;
  std::vector<SmallVector<double, 16>> slots;
};

struct Shared {
  std::atomic<bool> abort{false};
  std::mutex errMu;
  std::string error;
  llvm::StringMap<Buffer> globals;
  std::mutex globalsMu;
};

struct BlockState {
  BlockState(Shared &sh, int64_t size) : sh(sh), bar(size, sh.abort) {
    for (int64_t w = 0; w < (size + 31) / 32; ++w)
      warps.push_back(std::make_unique<Warp>(sh.abort));
  }
  Shared &sh;
  Barrier bar;
  std::vector<std::unique_ptr<Warp>> warps;
  std::array<int64_t, 3> bid{0, 0, 0};
  std::array<int64_t, 3> grid{1, 1, 1};
  int64_t size = 0;
  /// Per element of each workgroup buffer, who touched it since the last
  /// barrier: a race detector.
  struct Access {
    uint64_t epoch = ~uint64_t(0);
    int64_t writer = -1, reader = -1; // -2: several readers
    uint64_t bits = 0;
  };
  std::map<const Buffer *, std::vector<Access>> tracked;
};

Type eltOf(Value v) { return getElementTypeOrSelf(v.getType()); }

class Thread {
public:
  /// `values` persists across blocks: SSA values are always defined
  /// before use, so stale entries are never read, and the map stops growing.
  Thread(BlockState &blk, int64_t tid, llvm::DenseMap<Value, RtVal> &values)
      : blk(blk), tid(tid), vals(values) {}

  /// Runs `block` with `args`; `out` receives the terminator's operands.
  bool run(Block &block, ArrayRef<RtVal> args, SmallVector<RtVal> &out);
  void bind(Value v, RtVal r) { vals[v] = std::move(r); }

private:
  /// Executes `op`: false when the kernel failed (fail says why) or another
  /// thread aborted.
  bool exec(Operation &op);
  // One family of ops each: nullopt when `op` is not of the family, else
  // what exec returns.
  /// Elementwise float and integer arithmetic (scalars or vectors),
  /// constants, comparisons, selects.
  std::optional<bool> execArith(Operation &op);
  /// Conversions between float, integer and index types; bitcasts.
  std::optional<bool> execCast(Operation &op);
  std::optional<bool> execVector(Operation &op);
  /// Loads and stores (bounds, alignment and races checked), globals.
  std::optional<bool> execMemory(Operation &op);
  /// Thread and block ids, barriers, warp shuffles.
  std::optional<bool> execGpu(Operation &op);
  /// LLVM and NVVM: intrinsics, extractvalue, mma.sync.
  std::optional<bool> execLlvm(Operation &op);
  /// The warp's m16n8k16 MMA, through the warp's slots.
  bool execMma(NVVM::MmaOp mma);
  /// scf.for and scf.if, run in this thread.
  std::optional<bool> execScf(Operation &op);
  bool fail(Operation &op, const Twine &msg) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "thread " << tid << " of block (" << blk.bid[0] << ","
       << blk.bid[1] << "," << blk.bid[2] << "): " << op.getName() << ": "
       << msg;
    {
      std::lock_guard<std::mutex> lock(blk.sh.errMu);
      if (blk.sh.error.empty())
        blk.sh.error = os.str();
    }
    blk.sh.abort = true;
    blk.bar.wake();
    for (auto &w : blk.warps)
      w->bar.wake();
    return false;
  }
  const RtVal &get(Value v) { return vals[v]; }
  double f(Value v, unsigned i = 0) { return vals[v].e[i].d; }
  int64_t iv(Value v, unsigned i = 0) { return vals[v].e[i].i; }
  static size_t lanes(Type t) {
    if (auto vt = dyn_cast<VectorType>(t))
      return size_t(vt.getNumElements());
    return 1;
  }
  void setF(Value r, ArrayRef<double> ds) {
    RtVal v;
    for (double d : ds) {
      Slot s;
      s.d = d;
      v.e.push_back(s);
    }
    vals[r] = std::move(v);
  }
  void setI(Value r, ArrayRef<int64_t> is) {
    RtVal v;
    for (int64_t i : is) {
      Slot s;
      s.i = i;
      v.e.push_back(s);
    }
    vals[r] = std::move(v);
  }
  bool access(Operation &op, Buffer *b, int64_t i, int64_t n,
              std::optional<uint64_t> align) {
    if (!b)
      return fail(op, "not a buffer");
    if (i < 0 || i + n > b->count)
      return fail(op, "out of bounds: " + b->name + "[" + Twine(i) + ", +" +
                          Twine(n) + ") of " + Twine(b->count));
    if (align && (i * b->eltBytes()) % int64_t(*align))
      return fail(op, "misaligned: " + b->name + "[" + Twine(i) +
                          "] for alignment " + Twine(*align));
    return true;
  }
  /// Element i of b read (write: stored `bits`) by this thread: a race if
  /// another thread wrote it, or read it before this write, since the last
  /// barrier (equal values stored twice are fine).
  bool track(Operation &op, Buffer *b, int64_t i, bool write, uint64_t bits) {
    auto it = blk.tracked.find(b);
    if (it == blk.tracked.end())
      return true;
    BlockState::Access &a = it->second[size_t(i)];
    uint64_t ep = blk.bar.epoch();
    if (a.epoch != ep) {
      a = BlockState::Access();
      a.epoch = ep;
    }
    auto race = [&](const Twine &what) {
      return fail(op, "shared-memory race on " + b->name + "[" + Twine(i) +
                          "]: " + what);
    };
    if (!write) {
      if (a.writer >= 0 && a.writer != tid)
        return race("read after a write by thread " + Twine(a.writer) +
                    " with no barrier between");
      a.reader = a.reader == -1 || a.reader == tid ? tid : -2;
      return true;
    }
    if (a.reader == -2 || (a.reader >= 0 && a.reader != tid))
      return race("write after a read by another thread with no barrier "
                  "between");
    if (a.writer >= 0 && a.writer != tid && a.bits != bits)
      return race("different values written by threads " +
                  Twine(a.writer) + " and " + Twine(tid));
    a.writer = tid;
    a.bits = bits;
    return true;
  }
  bool warpSync() {
    blk.warps[tid / 32]->bar.wait();
    return !blk.sh.abort;
  }

  BlockState &blk;
  int64_t tid;
  llvm::DenseMap<Value, RtVal> &vals;
};

} // namespace

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

static double floatBinary(Operation &op, Type t, double a, double b) {
  auto apply = [&](auto x, auto y) -> double {
    if (isa<arith::AddFOp>(op))
      return x + y;
    if (isa<arith::SubFOp>(op))
      return x - y;
    if (isa<arith::MulFOp>(op))
      return x * y;
    if (isa<arith::DivFOp>(op))
      return x / y;
    if (isa<arith::MaximumFOp>(op))
      return (std::isnan(x) || std::isnan(y)) ? NAN : std::max(x, y);
    if (isa<arith::MinimumFOp>(op))
      return (std::isnan(x) || std::isnan(y)) ? NAN : std::min(x, y);
    return NAN;
  };
  if (t.isF32())
    return apply(float(a), float(b));
  return roundTo(apply(a, b), t);
}

static bool intBinary(Operation &op, Type t, int64_t a, int64_t b,
                      int64_t &r) {
  unsigned w = widthOf(t);
  uint64_t ua = zext(a, w), ub = zext(b, w);
  if (isa<arith::AddIOp>(op))
    r = a + b;
  else if (isa<arith::SubIOp>(op))
    r = a - b;
  else if (isa<arith::MulIOp>(op))
    r = int64_t(uint64_t(a) * uint64_t(b));
  else if (isa<arith::DivUIOp>(op) || isa<arith::RemUIOp>(op)) {
    if (ub == 0)
      return false;
    r = int64_t(isa<arith::DivUIOp>(op) ? ua / ub : ua % ub);
  } else if (isa<arith::DivSIOp>(op) || isa<arith::RemSIOp>(op)) {
    if (b == 0)
      return false;
    r = isa<arith::DivSIOp>(op) ? a / b : a % b;
  } else if (isa<arith::MinUIOp>(op))
    r = int64_t(std::min(ua, ub));
  else if (isa<arith::MaxUIOp>(op))
    r = int64_t(std::max(ua, ub));
  else if (isa<arith::MinSIOp>(op))
    r = std::min(a, b);
  else if (isa<arith::MaxSIOp>(op))
    r = std::max(a, b);
  else if (isa<arith::AndIOp>(op))
    r = a & b;
  else if (isa<arith::OrIOp>(op))
    r = a | b;
  else if (isa<arith::XOrIOp>(op))
    r = a ^ b;
  else if (isa<arith::ShLIOp>(op))
    r = ub >= w ? 0 : int64_t(ua << ub);
  else if (isa<arith::ShRUIOp>(op))
    r = ub >= w ? 0 : int64_t(ua >> ub);
  else if (isa<arith::ShRSIOp>(op))
    r = a >> std::min<uint64_t>(ub, 63);
  else
    return false;
  r = normalize(r, w);
  return true;
}

static bool cmpI(arith::CmpIPredicate p, Type t, int64_t a, int64_t b) {
  unsigned w = widthOf(t);
  uint64_t ua = zext(a, w), ub = zext(b, w);
  switch (p) {
  case arith::CmpIPredicate::eq: return a == b;
  case arith::CmpIPredicate::ne: return a != b;
  case arith::CmpIPredicate::slt: return a < b;
  case arith::CmpIPredicate::sle: return a <= b;
  case arith::CmpIPredicate::sgt: return a > b;
  case arith::CmpIPredicate::sge: return a >= b;
  case arith::CmpIPredicate::ult: return ua < ub;
  case arith::CmpIPredicate::ule: return ua <= ub;
  case arith::CmpIPredicate::ugt: return ua > ub;
  case arith::CmpIPredicate::uge: return ua >= ub;
  }
  return false;
}

static bool cmpF(arith::CmpFPredicate p, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  switch (p) {
  case arith::CmpFPredicate::OEQ: return !unordered && a == b;
  case arith::CmpFPredicate::OGT: return !unordered && a > b;
  case arith::CmpFPredicate::OGE: return !unordered && a >= b;
  case arith::CmpFPredicate::OLT: return !unordered && a < b;
  case arith::CmpFPredicate::OLE: return !unordered && a <= b;
  case arith::CmpFPredicate::ONE: return !unordered && a != b;
  case arith::CmpFPredicate::UNE: return unordered || a != b;
  case arith::CmpFPredicate::UGT: return unordered || a > b;
  case arith::CmpFPredicate::ULT: return unordered || a < b;
  default: return false;
  }
}

std::optional<bool> Thread::execArith(Operation &op) {
  if (isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
          arith::MaximumFOp, arith::MinimumFOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (size_t i = 0; i < lanes(op.getResult(0).getType()); ++i)
      r.push_back(floatBinary(op, t, f(op.getOperand(0), i),
                              f(op.getOperand(1), i)));
    setF(op.getResult(0), r);
    return true;
  }
  if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivUIOp,
          arith::RemUIOp, arith::DivSIOp, arith::RemSIOp, arith::MinUIOp,
          arith::MaxUIOp, arith::MinSIOp, arith::MaxSIOp, arith::AndIOp,
          arith::OrIOp, arith::XOrIOp, arith::ShLIOp, arith::ShRUIOp,
          arith::ShRSIOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<int64_t> r;
    for (size_t i = 0; i < lanes(op.getResult(0).getType()); ++i) {
      int64_t v;
      if (!intBinary(op, t, iv(op.getOperand(0), i), iv(op.getOperand(1), i),
                     v))
        return fail(op, "division by zero or unsupported");
      r.push_back(v);
    }
    setI(op.getResult(0), r);
    return true;
  }
  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    Attribute a = c.getValue();
    Type t = eltOf(c.getResult());
    if (auto ia = dyn_cast<IntegerAttr>(a)) {
      setI(c.getResult(), {normalize(ia.getValue().getSExtValue(),
                                     widthOf(t))});
      return true;
    }
    if (auto fa = dyn_cast<FloatAttr>(a)) {
      setF(c.getResult(), {fa.getValueAsDouble()});
      return true;
    }
    if (auto da = dyn_cast<DenseElementsAttr>(a)) {
      if (isa<FloatType>(t)) {
        SmallVector<double> r;
        for (APFloat v : da.getValues<APFloat>()) {
          bool lost;
          v.convert(llvm::APFloat::IEEEdouble(),
                    llvm::APFloat::rmNearestTiesToEven, &lost);
          r.push_back(v.convertToDouble());
        }
        setF(c.getResult(), r);
      } else {
        SmallVector<int64_t> r;
        for (APInt v : da.getValues<APInt>())
          r.push_back(normalize(v.getSExtValue(), widthOf(t)));
        setI(c.getResult(), r);
      }
      return true;
    }
    return fail(op, "unsupported constant");
  }
  if (auto c = dyn_cast<arith::CmpIOp>(op)) {
    Type t = eltOf(c.getLhs());
    SmallVector<int64_t> r;
    for (size_t i = 0; i < lanes(c.getLhs().getType()); ++i)
      r.push_back(cmpI(c.getPredicate(), t, iv(c.getLhs(), i),
                       iv(c.getRhs(), i)));
    setI(c.getResult(), r);
    return true;
  }
  if (auto c = dyn_cast<arith::CmpFOp>(op)) {
    SmallVector<int64_t> r;
    for (size_t i = 0; i < lanes(c.getLhs().getType()); ++i)
      r.push_back(cmpF(c.getPredicate(), f(c.getLhs(), i), f(c.getRhs(), i)));
    setI(c.getResult(), r);
    return true;
  }
  if (auto s = dyn_cast<arith::SelectOp>(op)) {
    RtVal r;
    const RtVal &cond = get(s.getCondition());
    const RtVal &a = get(s.getTrueValue()), &b = get(s.getFalseValue());
    for (size_t i = 0; i < a.e.size(); ++i) {
      bool c = cond.e.size() == 1 ? cond.e[0].i : cond.e[i].i;
      r.e.push_back(c ? a.e[i] : b.e[i]);
    }
    r.mem = a.mem;
    vals[s.getResult()] = r;
    return true;
  }
  if (isa<arith::NegFOp>(op)) {
    SmallVector<double> r;
    for (Slot s : get(op.getOperand(0)).e)
      r.push_back(-s.d);
    setF(op.getResult(0), r);
    return true;
  }
  return std::nullopt;
}

std::optional<bool> Thread::execCast(Operation &op) {
  if (isa<arith::ExtFOp, arith::TruncFOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (Slot s : get(op.getOperand(0)).e)
      r.push_back(roundTo(s.d, t));
    setF(op.getResult(0), r);
    return true;
  }
  if (isa<arith::ExtUIOp, arith::ExtSIOp, arith::TruncIOp,
          arith::IndexCastOp, arith::IndexCastUIOp>(op)) {
    Type from = eltOf(op.getOperand(0)), to = eltOf(op.getResult(0));
    bool unsignedSrc = isa<arith::ExtUIOp, arith::IndexCastUIOp>(op);
    SmallVector<int64_t> r;
    for (Slot s : get(op.getOperand(0)).e) {
      int64_t v = unsignedSrc ? int64_t(zext(s.i, widthOf(from))) : s.i;
      r.push_back(normalize(v, widthOf(to)));
    }
    setI(op.getResult(0), r);
    return true;
  }
  if (isa<arith::UIToFPOp, arith::SIToFPOp>(op)) {
    Type from = eltOf(op.getOperand(0)), to = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (Slot s : get(op.getOperand(0)).e) {
      double v = isa<arith::UIToFPOp>(op) ? double(zext(s.i, widthOf(from)))
                                          : double(s.i);
      r.push_back(roundTo(v, to));
    }
    setF(op.getResult(0), r);
    return true;
  }
  if (isa<arith::FPToSIOp>(op)) {
    Type to = eltOf(op.getResult(0));
    SmallVector<int64_t> r;
    for (Slot s : get(op.getOperand(0)).e)
      r.push_back(normalize(int64_t(std::trunc(s.d)), widthOf(to)));
    setI(op.getResult(0), r);
    return true;
  }
  if (isa<arith::BitcastOp, vector::BitCastOp, LLVM::BitcastOp>(op)) {
    // Through the bytes, little endian.
    Value in = op.getOperand(0), res = op.getResult(0);
    Type from = eltOf(in), to = eltOf(res);
    std::vector<uint8_t> bytes;
    for (Slot s : get(in).e) {
      uint64_t bits = toBits(s.d, s.i, from);
      unsigned n = std::max(1u, from.getIntOrFloatBitWidth() / 8);
      for (unsigned k = 0; k < n; ++k)
        bytes.push_back(uint8_t(bits >> (8 * k)));
    }
    unsigned n = std::max(1u, to.getIntOrFloatBitWidth() / 8);
    RtVal r;
    for (size_t at = 0; at + n <= bytes.size(); at += n) {
      uint64_t bits = 0;
      for (unsigned k = 0; k < n; ++k)
        bits |= uint64_t(bytes[at + k]) << (8 * k);
      Slot s;
      s.i = 0;
      fromBits(bits, to, s.d, s.i);
      r.e.push_back(s);
    }
    vals[res] = r;
    return true;
  }
  return std::nullopt;
}

std::optional<bool> Thread::execVector(Operation &op) {
  if (auto bc = dyn_cast<vector::BroadcastOp>(op)) {
    RtVal r;
    Slot s = get(bc.getSource()).e[0];
    r.e.assign(lanes(bc.getType()), s);
    vals[bc.getResult()] = r;
    return true;
  }
  if (auto ex = dyn_cast<vector::ExtractOp>(op)) {
    ArrayRef<int64_t> pos = ex.getStaticPosition();
    if (pos.size() != 1 || ShapedType::isDynamic(pos[0]))
      return fail(op, "only static 1-D positions");
    RtVal r;
    r.e.push_back(get(ex.getSource()).e[size_t(pos[0])]);
    vals[ex.getResult()] = r;
    return true;
  }
  if (auto fe = dyn_cast<vector::FromElementsOp>(op)) {
    RtVal r;
    for (Value v : fe.getElements())
      r.e.push_back(get(v).e[0]);
    vals[fe.getResult()] = r;
    return true;
  }
  if (auto sh = dyn_cast<vector::ShuffleOp>(op)) {
    const RtVal &a = get(sh.getV1()), &b = get(sh.getV2());
    RtVal r;
    for (int64_t m : sh.getMask())
      r.e.push_back(size_t(m) < a.e.size() ? a.e[size_t(m)]
                                           : b.e[size_t(m) - a.e.size()]);
    vals[sh.getResult()] = r;
    return true;
  }
  if (isa<vector::FMAOp, LLVM::FMAOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (size_t i = 0; i < lanes(op.getResult(0).getType()); ++i) {
      double a = f(op.getOperand(0), i), b = f(op.getOperand(1), i),
             c = f(op.getOperand(2), i);
      r.push_back(t.isF32() ? double(std::fma(float(a), float(b), float(c)))
                            : roundTo(std::fma(a, b, c), t));
    }
    setF(op.getResult(0), r);
    return true;
  }
  if (auto red = dyn_cast<vector::ReductionOp>(op)) {
    if (red.getKind() != vector::CombiningKind::ADD || red.getAcc())
      return fail(op, "only add reductions");
    float s = 0;
    for (Slot v : get(red.getVector()).e)
      s += float(v.d);
    setF(red.getResult(), {double(s)});
    return true;
  }
  return std::nullopt;
}

std::optional<bool> Thread::execMemory(Operation &op) {
  if (auto ld = dyn_cast<memref::LoadOp>(op)) {
    Buffer *b = get(ld.getMemRef()).mem;
    int64_t i = iv(ld.getIndices()[0]);
    if (!access(op, b, i, 1, std::nullopt) || !track(op, b, i, false, 0))
      return false;
    if (isa<FloatType>(b->elt))
      setF(ld.getResult(), {b->getF(i)});
    else
      setI(ld.getResult(), {b->getI(i)});
    return true;
  }
  if (auto st = dyn_cast<memref::StoreOp>(op)) {
    Buffer *b = get(st.getMemRef()).mem;
    int64_t i = iv(st.getIndices()[0]);
    Slot s = get(st.getValueToStore()).e[0];
    if (!access(op, b, i, 1, std::nullopt) ||
        !track(op, b, i, true, toBits(s.d, s.i, b->elt)))
      return false;
    if (isa<FloatType>(b->elt))
      b->setF(i, s.d);
    else
      b->setI(i, s.i);
    return true;
  }
  if (auto ld = dyn_cast<vector::LoadOp>(op)) {
    Buffer *b = get(ld.getBase()).mem;
    int64_t i = iv(ld.getIndices()[0]);
    int64_t n = ld.getVectorType().getNumElements();
    std::optional<uint64_t> align;
    if (auto a = ld.getAlignment())
      align = *a;
    if (!access(op, b, i, n, align))
      return false;
    RtVal r;
    for (int64_t k = 0; k < n; ++k) {
      if (!track(op, b, i + k, false, 0))
        return false;
      Slot s;
      if (isa<FloatType>(b->elt))
        s.d = b->getF(i + k);
      else
        s.i = b->getI(i + k);
      r.e.push_back(s);
    }
    vals[ld.getResult()] = r;
    return true;
  }
  if (auto st = dyn_cast<vector::StoreOp>(op)) {
    Buffer *b = get(st.getBase()).mem;
    int64_t i = iv(st.getIndices()[0]);
    int64_t n = st.getVectorType().getNumElements();
    std::optional<uint64_t> align;
    if (auto a = st.getAlignment())
      align = *a;
    if (!access(op, b, i, n, align))
      return false;
    const RtVal &v = get(st.getValueToStore());
    for (int64_t k = 0; k < n; ++k) {
      Slot sk = v.e[size_t(k)];
      if (!track(op, b, i + k, true, toBits(sk.d, sk.i, b->elt)))
        return false;
      if (isa<FloatType>(b->elt))
        b->setF(i + k, v.e[size_t(k)].d);
      else
        b->setI(i + k, v.e[size_t(k)].i);
    }
    return true;
  }
  if (auto gg = dyn_cast<memref::GetGlobalOp>(op)) {
    std::lock_guard<std::mutex> lock(blk.sh.globalsMu);
    auto it = blk.sh.globals.find(gg.getName());
    if (it == blk.sh.globals.end()) {
      auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
          &op, gg.getNameAttr());
      if (!global || !global.getInitialValue())
        return fail(op, "no initialised global");
      auto dense = cast<DenseElementsAttr>(*global.getInitialValue());
      Buffer buf(gg.getName().str(), global.getType().getElementType(),
                 global.getType().getNumElements());
      int64_t k = 0;
      for (APFloat v : dense.getValues<APFloat>()) {
        bool lost;
        v.convert(llvm::APFloat::IEEEdouble(),
                  llvm::APFloat::rmNearestTiesToEven, &lost);
        buf.setF(k++, v.convertToDouble());
      }
      it = blk.sh.globals.insert({gg.getName(), std::move(buf)}).first;
    }
    RtVal r;
    r.mem = &it->second;
    vals[gg.getResult()] = r;
    return true;
  }
  return std::nullopt;
}

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
