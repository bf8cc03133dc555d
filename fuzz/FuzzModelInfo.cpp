//===- FuzzModelInfo.cpp - the model info reader under libFuzzer ---------===//
//
// The model info is the JSON a compiled program carries (and the packer
// reads): its reader, the recipe and the CUDA launch plan included, must
// turn any input into a one-line error or a checked model, never a crash.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Program/ModelInfo.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  std::string_view Text(reinterpret_cast<const char *>(Data), Size);
  monocard::ModelInfo Info;
  std::string Error;
  (void)monocard::parseModelInfo(Text, Info, Error);
  return 0;
}
