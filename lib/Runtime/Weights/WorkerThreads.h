//===- WorkerThreads.h - the Weights room's worker threads ------*- C++ -*-===//
//
// Packing and checksumming split their work into tasks that threads take
// from a shared counter. These two functions are the whole thread handling
// of both, so they size and start threads the same way.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_RUNTIME_WEIGHTS_WORKERTHREADS_H
#define MONOCARD_LIB_RUNTIME_WEIGHTS_WORKERTHREADS_H

#include <cstddef>
#include <functional>

namespace monocard {

/// Threads for \p Tasks tasks: MONOCARD_PACK_THREADS if set to a positive
/// number (at most 256), else the hardware's (at most 32); never more than
/// the tasks, at least one.
unsigned workerThreads(size_t Tasks);

/// Runs \p Fn on \p Threads threads, this one included, and joins them. A
/// thread that cannot be started is left out: \p Fn takes its tasks from a
/// shared counter, so fewer threads do the same work.
void runOnThreads(unsigned Threads, const std::function<void()> &Fn);

} // namespace monocard

#endif // MONOCARD_LIB_RUNTIME_WEIGHTS_WORKERTHREADS_H
