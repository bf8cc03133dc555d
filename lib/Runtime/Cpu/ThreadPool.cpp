//===- ThreadPool.cpp - Worker threads behind monocard_parallel_for -------===//
//
// One job at a time. The whole dispatch state is one 64-bit atomic ticket:
//
//   bits 63..32  job generation   (workers wait for it to change)
//   bits 31..16  number of chunks of the job
//   bits 15..0   next unclaimed chunk
//
// Threads claim chunks by compare-and-swap on the ticket, so a worker that
// wakes late (or was descheduled) cannot take a chunk of a job it did not
// see, and a chunk whose worker is slow to start is taken by whoever is free.
// The job's body/ctx/n are written before the ticket is published and are
// only read after a successful claim, while that job is still unfinished, so
// they never change under a reader.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cpu/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace monocard;

namespace {

using Body = void (*)(void *, int64_t, int64_t);

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long an idle worker polls before it blocks: long enough to bridge the
// serial code between two loops of a step (tens of microseconds), short
// enough not to burn a core between tokens or after generation ends.
constexpr int SpinIterations = 1 << 14;
constexpr int MaxThreads = 0xffff; // chunk counts must fit in 16 bits

// Set on pool workers (always) and on a caller while it runs a job, so that
// a nested monocard_parallel_for runs inline instead of deadlocking.
thread_local bool InsideLoop = false;

uint32_t generationOf(uint64_t T) { return static_cast<uint32_t>(T >> 32); }

class Pool {
public:
  ~Pool() { stop(); }

  void configure(int Threads) {
    std::lock_guard<std::mutex> L(DispatchMutex);
    stopLocked();
    Requested = Threads;
  }

  int threadCount() {
    std::lock_guard<std::mutex> L(DispatchMutex);
    return effectiveThreads();
  }

  void stop() {
    std::lock_guard<std::mutex> L(DispatchMutex);
    stopLocked();
  }

  void run(int64_t N, Body B, void *Ctx) {
    // A second thread dispatching while a job runs (the launcher never does
    // this) gets the serial path rather than waiting.
    std::unique_lock<std::mutex> L(DispatchMutex, std::try_to_lock);
    if (!L.owns_lock() || effectiveThreads() == 1) {
      L = {};
      runInline(N, B, Ctx);
      return;
    }
    if (!Started)
      start();
    int64_t Chunks = std::min<int64_t>(N, effectiveThreads());
    JobBody = B;
    JobCtx = Ctx;
    JobN = N;
    ChunksDone.store(0, std::memory_order_relaxed);
    uint32_t Gen = generationOf(Ticket.load(std::memory_order_relaxed)) + 1;
    // seq_cst store + seq_cst load of Sleepers pairs with the worker's
    // increment-then-check, so a worker about to block either sees this job
    // or is counted and woken.
    Ticket.store(static_cast<uint64_t>(Gen) << 32 |
                 static_cast<uint64_t>(Chunks) << 16);
    if (Sleepers.load() > 0) {
      {
        std::lock_guard<std::mutex> SL(SleepMutex);
      }
      Wake.notify_all();
    }
    InsideLoop = true;
    runChunks(Gen);
    InsideLoop = false;
    // Every outstanding chunk is held by a running thread, so yielding (not
    // blocking) is enough here.
    for (int Spins = 0; ChunksDone.load(std::memory_order_acquire) != Chunks;
         ++Spins) {
      if (Spins < SpinIterations)
        cpuRelax();
      else
        std::this_thread::yield();
    }
  }

  static void runInline(int64_t N, Body B, void *Ctx) {
    bool Outer = InsideLoop;
    InsideLoop = true;
    B(Ctx, 0, N);
    InsideLoop = Outer;
  }

private:
  int effectiveThreads() const {
    int T = Requested;
    if (T <= 0)
      T = static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(T, 1, MaxThreads);
  }

  void start() {
    Stopping.store(false);
    int Workers = effectiveThreads() - 1;
    for (int I = 0; I < Workers; ++I)
      Threads.emplace_back([this] { workerLoop(); });
    Started = true;
  }

  void stopLocked() {
    if (!Started)
      return;
    {
      std::lock_guard<std::mutex> SL(SleepMutex);
      Stopping.store(true);
    }
    Wake.notify_all();
    for (std::thread &T : Threads)
      T.join();
    Threads.clear();
    Started = false;
  }

  /// Claims and runs chunks of job \p Gen until none is left.
  void runChunks(uint32_t Gen) {
    uint64_t T = Ticket.load(std::memory_order_acquire);
    for (;;) {
      if (generationOf(T) != Gen)
        return;
      uint64_t Chunks = (T >> 16) & 0xffff, Next = T & 0xffff;
      if (Next >= Chunks)
        return;
      if (!Ticket.compare_exchange_weak(T, T + 1, std::memory_order_acq_rel,
                                        std::memory_order_acquire))
        continue;
      int64_t C = static_cast<int64_t>(Chunks);
      int64_t I = static_cast<int64_t>(Next);
      int64_t Begin = JobN * I / C, End = JobN * (I + 1) / C;
      if (Begin < End)
        JobBody(JobCtx, Begin, End);
      ChunksDone.fetch_add(1, std::memory_order_release);
      T = Ticket.load(std::memory_order_acquire);
    }
  }

  void workerLoop() {
    InsideLoop = true;
    uint32_t Seen = generationOf(Ticket.load(std::memory_order_acquire));
    for (;;) {
      uint64_t T;
      for (int Spins = 0;; ++Spins) {
        T = Ticket.load(std::memory_order_acquire);
        if (generationOf(T) != Seen || Stopping.load(std::memory_order_relaxed))
          break;
        if (Spins < SpinIterations) {
          cpuRelax();
          continue;
        }
        std::unique_lock<std::mutex> L(SleepMutex);
        Sleepers.fetch_add(1);
        Wake.wait(L, [&] {
          return generationOf(Ticket.load()) != Seen || Stopping.load();
        });
        Sleepers.fetch_sub(1);
        Spins = 0;
      }
      if (Stopping.load())
        return;
      Seen = generationOf(T);
      runChunks(Seen);
    }
  }

  std::mutex DispatchMutex; // held by the dispatching thread for a whole job
  std::mutex SleepMutex;
  std::condition_variable Wake;
  std::atomic<uint64_t> Ticket{0};
  std::atomic<int64_t> ChunksDone{0};
  std::atomic<int> Sleepers{0};
  std::atomic<bool> Stopping{false};
  Body JobBody = nullptr;
  void *JobCtx = nullptr;
  int64_t JobN = 0;
  std::vector<std::thread> Threads;
  bool Started = false;
  int Requested = 0;
};

Pool &pool() {
  static Pool P;
  return P;
}

} // namespace

extern "C" void monocard_parallel_for(int64_t n, Body body, void *ctx) {
  if (n <= 0)
    return;
  if (n == 1 || InsideLoop) {
    Pool::runInline(n, body, ctx);
    return;
  }
  pool().run(n, body, ctx);
}

void monocard::setThreadCount(int Threads) { pool().configure(Threads); }

int monocard::getThreadCount() { return pool().threadCount(); }

void monocard::shutdownThreadPool() { pool().stop(); }
