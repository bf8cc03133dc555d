//===- UnitTests.cpp - Runs the unit tests of the launcher's rooms --------===//
//
// Pure functions with exact expected values, one source per room of
// lib/Runtime (<Room>Tests.cpp). Rooms without unit tests here are tested
// through their tools: Tokenizer (monocard-tokenizer-test), Weights
// (monocard-runtime-test pack/open/ckpt), Cuda (monocard-cuda-smoke and
// monocard-runtime-test cuda).
//
//===----------------------------------------------------------------------===//

#include "UnitTest.h"

#include <string>

int monocard::unittest::Passed = 0;
int monocard::unittest::Failed = 0;

/// Runs the tests of \p Room ("support", "program", "cpu", "cli"), or of all
/// rooms when it is empty. Returns 2 for an unknown room.
int runUnitTests(const std::string &Room) {
  struct {
    const char *Name;
    void (*Run)();
  } Rooms[] = {{"support", runSupportTests},
               {"program", runProgramTests},
               {"cpu", runCpuTests},
               {"cli", runCliTests}};
  bool Known = false;
  for (const auto &R : Rooms)
    if (Room.empty() || Room == R.Name) {
      R.Run();
      Known = true;
    }
  if (!Known) {
    std::fprintf(stderr, "unknown room '%s'\n", Room.c_str());
    return 2;
  }
  std::printf("%d passed, %d failed\n", monocard::unittest::Passed,
              monocard::unittest::Failed);
  return monocard::unittest::Failed != 0;
}
