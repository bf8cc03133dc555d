//===- Packer.h - Building a .weights file from a checkpoint ----*- C++ -*-===//
//
// Applies a model's packing recipe to a Hugging Face checkpoint directory and
// writes the .weights file the launcher maps. Used both by the generated
// executable (`./model --pack DIR`) and by monocard-compile, so it prints
// nothing and only reports through its return value.
//
// Each recipe entry is built as docs/packed-weights-format.md says: its
// sources concatenated along axis 0, rows paired, then converted or
// quantized (i8 per channel, i4 per group).
//
// Memory stays bounded whatever the model size: tensors are converted a few
// MiB at a time from the mmap'ed checkpoint and written at their offsets
// with pwrite. The chunks (about 2^20 elements: a run of elements, or of
// output rows) are independent and run on a pool of threads, as many as
// the hardware has (at most 32) or MONOCARD_PACK_THREADS; the bytes do not
// depend on the count, and the recipe and checkpoint are validated before
// any thread starts. The output goes to a temporary file in the same
// directory, checksummed, flushed (fsync) and only then renamed over the
// target, so a failed or interrupted pack (an error, a full disk, Ctrl-C)
// leaves the old file, or none, and removes the temporary file.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_WEIGHTS_PACKER_H
#define MONOCARD_RUNTIME_WEIGHTS_PACKER_H

#include <cstdint>
#include <string>

namespace monocard {

struct ModelInfo;

struct PackReport {
  uint64_t Tensors = 0;        // recipe entries written
  uint64_t FileBytes = 0;      // size of the .weights file
  uint64_t TokenizerBytes = 0; // 0 when the model dir has no tokenizer.json
};

/// Packs the checkpoint in \p ModelDir into \p OutPath following \p Info's
/// recipe. On failure returns false with a one-line \p Error (naming the
/// tensor, file or shape at fault) and leaves \p OutPath untouched.
bool packWeights(const ModelInfo &Info, const std::string &ModelDir,
                 const std::string &OutPath, std::string &Error,
                 PackReport *Report = nullptr);

} // namespace monocard

#endif // MONOCARD_RUNTIME_WEIGHTS_PACKER_H
