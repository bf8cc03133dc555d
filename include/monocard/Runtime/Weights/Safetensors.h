//===- Safetensors.h - Reading safetensors checkpoints ----------*- C++ -*-===//
//
// A checkpoint directory holds either one `model.safetensors` or shards
// listed by `model.safetensors.index.json`. Each file is an 8-byte
// little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the tensor data. Files are mmap'ed, so
// reading a tensor costs no copy and a 70B checkpoint needs no RAM up front.
//
// Every header is validated on open: the header fits the file, every tensor's
// byte range lies inside the data section and matches dtype x shape, and no
// two tensors overlap.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_WEIGHTS_SAFETENSORS_H
#define MONOCARD_RUNTIME_WEIGHTS_SAFETENSORS_H

#include "monocard/Runtime/Support/DType.h" // formatShape

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace monocard {

struct SafetensorsTensor {
  std::string Name;
  std::string DType; // as written: "F32", "BF16", "I64", ...
  std::vector<int64_t> Shape;
  const unsigned char *Data = nullptr; // inside the file's mapping
  uint64_t Bytes = 0;
  std::string File; // the file it lives in (for messages)
};

class Checkpoint {
public:
  Checkpoint();
  ~Checkpoint();
  Checkpoint(const Checkpoint &) = delete;
  Checkpoint &operator=(const Checkpoint &) = delete;

  /// Opens the checkpoint in directory \p Dir. On failure sets \p Error to
  /// one line naming the file and the problem.
  bool open(const std::string &Dir, std::string &Error);

  /// Opens a single .safetensors file.
  bool openFile(const std::string &Path, std::string &Error);

  /// The tensor named \p Name, or nullptr.
  const SafetensorsTensor *find(const std::string &Name) const;

  const std::map<std::string, SafetensorsTensor> &tensors() const {
    return Tensors;
  }

private:
  struct Mapping;
  bool mapFile(const std::string &Path, std::string &Error);

  std::vector<std::unique_ptr<Mapping>> Files;
  std::map<std::string, SafetensorsTensor> Tensors;
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_WEIGHTS_SAFETENSORS_H
