//===- SafetensorsIndex.h - safetensors headers, never the data -*- C++ -*-===//

#ifndef MONOCARD_FRONTEND_SAFETENSORSINDEX_H
#define MONOCARD_FRONTEND_SAFETENSORSINDEX_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace monocard {

/// One tensor as a safetensors header describes it.
struct TensorInfo {
  std::string dtype; // "F32", "F16", "BF16", ... as written in the file
  llvm::SmallVector<int64_t> shape;
  std::string file;     // the .safetensors file holding it
  uint64_t begin = 0;   // data offsets, relative to the end of the header
  uint64_t end = 0;
};

/// Reads the headers of a checkpoint directory: `model.safetensors`, or the
/// shards named by `model.safetensors.index.json`. Validates every header
/// (length, JSON, dtype sizes, offsets inside the file, no overlaps) and
/// reads only the first 8 + header bytes of each file.
llvm::Expected<llvm::StringMap<TensorInfo>>
readSafetensorsIndex(llvm::StringRef dir);

/// Reads and validates the header of one safetensors file.
llvm::Error readSafetensorsHeader(llvm::StringRef path,
                                  llvm::StringMap<TensorInfo> &tensors);

} // namespace monocard

#endif // MONOCARD_FRONTEND_SAFETENSORSINDEX_H
