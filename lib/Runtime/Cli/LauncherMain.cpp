//===- LauncherMain.cpp - main() of a compiled model executable -----------===//
//
// Linked after the object monocard-compile generates, which defines the
// three symbols below (docs/runtime-abi.md); everything else is in
// MonocardRuntime.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cli/Launcher.h"

extern "C" {
extern const char monocard_model_info[];
void monocard_prefill(void *weights, void *kv, void *arena,
                      const int32_t *tokens, int64_t pos, int64_t n_valid,
                      float *logits);
void monocard_decode(void *weights, void *kv, void *arena, const int32_t *token,
                     int64_t pos, float *logits);
}

int main(int argc, char **argv) {
  monocard::StepFunctions Steps;
  Steps.Prefill = monocard_prefill;
  Steps.Decode = monocard_decode;
  return monocard::runLauncher(argc, argv, monocard_model_info, Steps);
}
