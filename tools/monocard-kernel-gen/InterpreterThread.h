//===- InterpreterThread.h - the interpreter's threads ----------*- C++ -*-===//
//
// The interpreter's (Interpreter.h) runtime values, fiber scheduler,
// barriers and per-block state, and the Thread that executes ops, one
// family of ops per file:
//
//   Interpreter.cpp        scalars and buffers, Thread::run and exec, scf,
//                          interpret()
//   InterpreterArith.cpp   arith: arithmetic, comparisons, casts
//   InterpreterMemory.cpp  vector ops, loads and stores, globals
//   InterpreterGpu.cpp     gpu, LLVM and NVVM ops, mma.sync
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TOOLS_KERNELGEN_INTERPRETERTHREAD_H
#define MONOCARD_TOOLS_KERNELGEN_INTERPRETERTHREAD_H

#include "Interpreter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <ucontext.h>

namespace monocard::kernelgen::interp {

using namespace mlir;

// Scalars (Interpreter.cpp).
unsigned widthOf(Type t);
/// v sign-extended from its low w bits.
int64_t normalize(int64_t v, unsigned w);
/// The low w bits of v.
uint64_t zext(int64_t v, unsigned w);
/// The bit pattern of a scalar of type t.
uint64_t toBits(double d, int64_t i, Type t);
void fromBits(uint64_t bits, Type t, double &d, int64_t &i);

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

inline Type eltOf(Value v) { return getElementTypeOrSelf(v.getType()); }

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


} // namespace monocard::kernelgen::interp

#endif // MONOCARD_TOOLS_KERNELGEN_INTERPRETERTHREAD_H
