//===- WorkerThreads.cpp - the Weights room's worker threads --------------===//

#include "WorkerThreads.h"

#include <algorithm>
#include <cstdlib>
#include <system_error>
#include <thread>
#include <vector>

unsigned monocard::workerThreads(size_t Tasks) {
  constexpr unsigned MaxDefaultThreads = 32, MaxThreads = 256;
  unsigned N = std::min(std::max(std::thread::hardware_concurrency(), 1u),
                        MaxDefaultThreads);
  if (const char *Env = std::getenv("MONOCARD_PACK_THREADS")) {
    char *End = nullptr;
    long V = std::strtol(Env, &End, 10);
    if (End != Env && *End == '\0' && V > 0)
      N = static_cast<unsigned>(std::min<long>(V, MaxThreads));
  }
  return static_cast<unsigned>(
      std::max<size_t>(1, std::min<size_t>(N, Tasks)));
}

void monocard::runOnThreads(unsigned Threads,
                            const std::function<void()> &Fn) {
  std::vector<std::thread> Workers;
  for (unsigned I = 1; I < Threads; ++I) {
    try {
      Workers.emplace_back(Fn);
    } catch (const std::system_error &) {
      break; // fewer threads, same work
    }
  }
  Fn();
  for (std::thread &W : Workers)
    W.join();
}
