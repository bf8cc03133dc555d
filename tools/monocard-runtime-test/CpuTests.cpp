//===- CpuTests.cpp - Unit tests of the Cpu room --------------------------===//
//
// The thread pool: every index runs once, at several thread counts, and a
// nested parallel loop runs inline.
//
//===----------------------------------------------------------------------===//

#include "UnitTest.h"

#include "monocard/Runtime/Cpu/ThreadPool.h"

#include <atomic>
#include <vector>

using namespace monocard;

static void body(void *Ctx, int64_t B, int64_t E) {
  auto *Hits = static_cast<std::vector<std::atomic<int>> *>(Ctx);
  for (int64_t I = B; I < E; ++I)
    ++(*Hits)[I];
}

static void nested(void *Ctx, int64_t B, int64_t E) {
  for (int64_t I = B; I < E; ++I)
    monocard_parallel_for(3, body, Ctx); // runs inline
}

static void testThreadPool() {
  for (int Threads : {1, 2, 5}) {
    setThreadCount(Threads);
    CHECK(getThreadCount() == Threads);
    for (int64_t N : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> Hits(N + 1);
      for (int Rep = 0; Rep < 200; ++Rep)
        monocard_parallel_for(N, body, &Hits);
      bool Ok = Hits[N] == 0;
      for (int64_t I = 0; I < N; ++I)
        Ok &= Hits[I] == 200;
      CHECK(Ok);
    }
    std::vector<std::atomic<int>> Hits(3);
    monocard_parallel_for(4, nested, &Hits);
    CHECK(Hits[0] == 4 && Hits[2] == 4);
  }
  shutdownThreadPool();
}

void runCpuTests() { testThreadPool(); }
