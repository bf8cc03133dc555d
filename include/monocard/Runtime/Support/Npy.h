//===- Npy.h - Writing float32 .npy files -----------------------*- C++ -*-===//
//
// --logits-out writes one row of logits per generated position. Rows are
// streamed as they are produced (a long run with a large vocabulary would
// otherwise hold every row in memory); the header is written with a fixed
// width and rewritten with the final row count on close.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_SUPPORT_NPY_H
#define MONOCARD_RUNTIME_SUPPORT_NPY_H

#include <cstdint>
#include <cstdio>
#include <string>

namespace monocard {

/// The .npy v1.0 header (magic, version, length, dict, padding) of a
/// little-endian float32 C-order array of shape [Rows, Cols]. Its size is
/// fixed (128 bytes) whatever the shape, so it can be rewritten in place.
std::string npyHeaderF32(uint64_t Rows, uint64_t Cols);

/// Writes a float32 [rows, Cols] array row by row.
class NpyWriter {
public:
  NpyWriter() = default;
  ~NpyWriter();
  NpyWriter(const NpyWriter &) = delete;
  NpyWriter &operator=(const NpyWriter &) = delete;

  /// Creates \p Path (truncating it) for rows of \p Cols floats.
  bool open(const std::string &Path, uint64_t Cols, std::string &Error);
  bool isOpen() const { return File != nullptr; }
  /// Appends one row of Cols floats.
  bool appendRow(const float *Row, std::string &Error);
  /// Rewrites the header with the number of rows appended and closes.
  bool close(std::string &Error);

private:
  std::FILE *File = nullptr;
  std::string Path;
  uint64_t Cols = 0;
  uint64_t Rows = 0;
};

/// Writes a whole float32 [Rows, Cols] array to \p Path.
bool writeNpyF32(const std::string &Path, const float *Data, uint64_t Rows,
                 uint64_t Cols, std::string &Error);

} // namespace monocard

#endif // MONOCARD_RUNTIME_SUPPORT_NPY_H
