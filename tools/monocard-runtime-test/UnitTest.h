//===- UnitTest.h - The unit tests' CHECK and tally -------------*- C++ -*-===//
//
// Each room's tests live in <Room>Tests.cpp and run with
// `monocard-runtime-test unit <room>`; a failed CHECK prints its file and
// line, and the run ends with the line "N passed, M failed".
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TOOLS_MONOCARD_RUNTIME_TEST_UNITTEST_H
#define MONOCARD_TOOLS_MONOCARD_RUNTIME_TEST_UNITTEST_H

#include <cstdio>

namespace monocard::unittest {
extern int Passed, Failed;
} // namespace monocard::unittest

#define CHECK(Cond)                                                            \
  do {                                                                         \
    if (Cond) {                                                                \
      ++monocard::unittest::Passed;                                            \
    } else {                                                                   \
      ++monocard::unittest::Failed;                                            \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #Cond);              \
    }                                                                          \
  } while (0)

// One entry point per room.
void runSupportTests();
void runProgramTests();
void runCpuTests();
void runCliTests();

#endif // MONOCARD_TOOLS_MONOCARD_RUNTIME_TEST_UNITTEST_H
