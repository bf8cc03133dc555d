//===- WeightsFile.h - The packed .weights file -----------------*- C++ -*-===//
//
// Layout (docs/packed-weights-format.md): an 88-byte header of a 16-byte
// magic and nine little-endian u64 fields, zero padding up to data_offset
// (4096), the packed tensors, the model's tokenizer.json verbatim, then the
// checksum table (one u64 hash per 1 MiB block of everything from
// data_offset to the table). The launcher maps the file read-only and hands
// the compiled code a pointer to the tensor data.
//
// Every header field is checked on open against what the model info implies
// (cheap); the checksums only by verify(), which reads the whole file.
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
/// 2 added the checksum table (block_bytes, table_offset, checksum).
constexpr uint64_t WeightsVersion = 2;
constexpr uint64_t WeightsDataOffset = 4096;
constexpr size_t WeightsHeaderSize = 88;

struct WeightsHeader {
  uint64_t Version = WeightsVersion;
  uint64_t Fingerprint = 0;
  uint64_t DataOffset = WeightsDataOffset;
  uint64_t DataBytes = 0;
  uint64_t TokenizerOffset = 0;
  uint64_t TokenizerBytes = 0;
  uint64_t BlockBytes = 0;  // checksum block size (WeightsChecksumBlock)
  uint64_t TableOffset = 0; // the checksum table, after the tokenizer
  uint64_t Checksum = 0;    // combineBlockHashes of the table
};

/// Serialises \p H (magic included) into \p Out[WeightsHeaderSize].
void encodeWeightsHeader(const WeightsHeader &H, unsigned char *Out);
/// Reads the fields after the magic (the caller checks the magic).
WeightsHeader decodeWeightsHeader(const unsigned char *In);

/// Where the format puts the tokenizer and the checksum table: each
/// 64-aligned after what precedes it.
uint64_t weightsTokenizerOffset(uint64_t DataBytes);
uint64_t weightsTableOffset(uint64_t TokenizerOffset, uint64_t TokenizerBytes);

/// A .weights file mapped read-only and checked against a model.
class WeightsFile {
public:
  WeightsFile() = default;
  ~WeightsFile();
  WeightsFile(const WeightsFile &) = delete;
  WeightsFile &operator=(const WeightsFile &) = delete;

  /// Maps \p Path and checks magic, version, fingerprint and every header
  /// field against \p Info and the file's size. On failure sets \p Error to
  /// one line, e.g. "weights file 'x.weights' is truncated: expected 8192
  /// bytes, found 4100". \p Program (argv[0]) names the program in the
  /// advice to repack an old file.
  bool open(const std::string &Path, const ModelInfo &Info, std::string &Error,
            const std::string &Program = "");

  /// Recomputes the checksums (a full read of the file, on all cores). On a
  /// mismatch returns false with one line naming the first bad block's byte
  /// range; else sets \p Checked to the bytes hashed.
  bool verify(uint64_t &Checked, std::string &Error) const;

  /// The packed tensors (data_offset into the file; 4096-aligned).
  const void *data() const { return Base ? Base + Header.DataOffset : nullptr; }
  uint64_t dataBytes() const { return Header.DataBytes; }
  /// The tokenizer.json text; empty if the file has none.
  std::string_view tokenizerJson() const;
  const WeightsHeader &header() const { return Header; }
  uint64_t fileSize() const { return Size; }

private:
  bool checkHeader(const WeightsHeader &H, uint64_t FileSize,
                   const ModelInfo &Info, std::string &Error) const;

  std::string Name; // "weights file 'PATH'", for messages
  const unsigned char *Base = nullptr;
  size_t Size = 0;
  WeightsHeader Header;
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_WEIGHTS_WEIGHTSFILE_H
