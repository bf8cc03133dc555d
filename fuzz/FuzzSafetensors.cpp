//===- FuzzSafetensors.cpp - the packer's safetensors reader -------------===//
//
// The packer (`PROGRAM --pack DIR`) opens checkpoint files from the
// internet: an 8-byte header length, a JSON header of tensor names, dtypes,
// shapes and data offsets, then the data. Each input is written to a file
// (the reader maps files) and opened; it must be refused with one line or
// give tensors whose bytes lie inside the file.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Weights/Safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

static std::string scratchPath() {
  const char *Dir = std::getenv("TMPDIR");
  return std::string(Dir && *Dir ? Dir : "/tmp") + "/monocard-fuzz-" +
         std::to_string(getpid()) + ".safetensors";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  static const std::string Path = scratchPath();
  FILE *F = std::fopen(Path.c_str(), "wb");
  if (!F)
    return 0;
  std::fwrite(Data, 1, Size, F);
  std::fclose(F);
  monocard::Checkpoint Ckpt;
  std::string Error;
  if (!Ckpt.openFile(Path, Error))
    return 0;
  // Touch every accepted byte: ASan reports any tensor outside the mapping.
  unsigned Sum = 0;
  for (const auto &[Name, T] : Ckpt.tensors())
    for (uint64_t I = 0; I < T.Bytes; ++I)
      Sum += T.Data[I];
  volatile unsigned Sink = Sum;
  (void)Sink;
  return 0;
}
