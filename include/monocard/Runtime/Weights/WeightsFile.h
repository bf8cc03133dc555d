//===- WeightsFile.h - The packed .weights file -----------------*- C++ -*-===//
//
// Layout (docs/runtime-abi.md): a 64-byte header of a 16-byte magic and six
// little-endian u64 fields, zero padding up to data_offset (4096), the packed
// tensors, then the model's tokenizer.json verbatim. The launcher maps the
// file read-only and hands the compiled code a pointer to the tensor data.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_WEIGHTS_WEIGHTSFILE_H
#define MONOCARD_RUNTIME_WEIGHTS_WEIGHTSFILE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace monocard {

struct ModelInfo;

constexpr char WeightsMagic[16] = {'M', 'O', 'N', 'O', 'C', 'A', 'R', 'D',
                                   '-', 'W', 'E', 'I', 'G', 'H', 'T', 'S'};
constexpr uint64_t WeightsVersion = 1;
constexpr uint64_t WeightsDataOffset = 4096;
constexpr size_t WeightsHeaderSize = 64;

struct WeightsHeader {
  uint64_t Version = WeightsVersion;
  uint64_t Fingerprint = 0;
  uint64_t DataOffset = WeightsDataOffset;
  uint64_t DataBytes = 0;
  uint64_t TokenizerOffset = 0;
  uint64_t TokenizerBytes = 0;
};

/// Serialises \p H (magic included) into \p Out[WeightsHeaderSize].
void encodeWeightsHeader(const WeightsHeader &H, unsigned char *Out);
/// Reads the fields after the magic (the caller checks the magic).
WeightsHeader decodeWeightsHeader(const unsigned char *In);

/// A .weights file mapped read-only and checked against a model.
class WeightsFile {
public:
  WeightsFile() = default;
  ~WeightsFile();
  WeightsFile(const WeightsFile &) = delete;
  WeightsFile &operator=(const WeightsFile &) = delete;

  /// Maps \p Path and checks magic, version, fingerprint and sizes against
  /// \p Info. On failure sets \p Error to one line, e.g. "weights file
  /// 'x.weights' is truncated: expected 8192 bytes, found 4100".
  bool open(const std::string &Path, const ModelInfo &Info, std::string &Error);

  /// The packed tensors (data_offset into the file; 4096-aligned).
  const void *data() const { return Base ? Base + Header.DataOffset : nullptr; }
  uint64_t dataBytes() const { return Header.DataBytes; }
  /// The tokenizer.json text; empty if the file has none.
  std::string_view tokenizerJson() const;
  const WeightsHeader &header() const { return Header; }
  uint64_t fileSize() const { return Size; }

private:
  const unsigned char *Base = nullptr;
  size_t Size = 0;
  WeightsHeader Header;
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_WEIGHTS_WEIGHTSFILE_H
