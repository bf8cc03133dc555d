//===- ThreadPool.h - Worker threads behind monocard_parallel_for -*- C++ -*-=//
//
// The compiled step functions call monocard_parallel_for hundreds of times
// per token, so dispatch must cost about as much as a few atomic operations:
// the workers are created once, spin briefly waiting for the next job (the
// serial gap between two parallel loops is usually microseconds) and only
// then block on a condition variable. The calling thread runs chunks too.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CPU_THREADPOOL_H
#define MONOCARD_RUNTIME_CPU_THREADPOOL_H

#include <cstdint>

extern "C" {
/// The contract's entry point (docs/runtime-abi.md): runs body(ctx, b, e)
/// over [0, n) split into at most one chunk per thread, and returns when all
/// chunks are done. n <= 1, a one-thread pool and calls made from inside a
/// body (nested loops) run body(ctx, 0, n) directly on the calling thread.
void monocard_parallel_for(int64_t n,
                           void (*body)(void *ctx, int64_t begin, int64_t end),
                           void *ctx);
}

namespace monocard {

/// Sets the number of threads monocard_parallel_for uses, the caller
/// included (so 1 means no workers). Threads <= 0 means the hardware
/// concurrency. Call before the first parallel loop or between loops, never
/// from inside one. Without a call the first loop starts the default pool.
void setThreadCount(int Threads);

/// The number of threads loops run on now (at least 1).
int getThreadCount();

/// Stops and joins the workers (also done at exit). A later loop restarts
/// them with the last configured count.
void shutdownThreadPool();

} // namespace monocard

#endif // MONOCARD_RUNTIME_CPU_THREADPOOL_H
