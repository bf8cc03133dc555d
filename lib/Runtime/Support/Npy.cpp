//===- Npy.cpp - Writing float32 .npy files -------------------------------===//

#include "monocard/Runtime/Support/Npy.h"

#include <cerrno>
#include <cstring>

using namespace monocard;

// Magic (6) + version (2) + header length (2) + dict, padded with spaces and
// a final newline; 128 is a multiple of 64 (what numpy aligns to) and holds
// the dict for any 64-bit shape.
static constexpr size_t NpyHeaderSize = 128;

std::string monocard::npyHeaderF32(uint64_t Rows, uint64_t Cols) {
  std::string Dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                     std::to_string(Rows) + ", " + std::to_string(Cols) +
                     "), }";
  size_t DictLen = NpyHeaderSize - 10;
  Dict.resize(DictLen - 1, ' ');
  Dict += '\n';
  std::string H("\x93NUMPY\x01\x00", 8);
  H += static_cast<char>(DictLen & 0xff);
  H += static_cast<char>(DictLen >> 8);
  return H + Dict;
}

static bool isLittleEndian() {
  uint16_t X = 1;
  unsigned char B;
  std::memcpy(&B, &X, 1);
  return B == 1;
}

NpyWriter::~NpyWriter() {
  if (File)
    std::fclose(File);
}

bool NpyWriter::open(const std::string &P, uint64_t C, std::string &Error) {
  if (!isLittleEndian()) {
    Error = "writing .npy files needs a little-endian machine";
    return false;
  }
  Path = P;
  Cols = C;
  Rows = 0;
  File = std::fopen(P.c_str(), "wb");
  if (!File) {
    Error = "cannot create '" + P + "': " + std::strerror(errno);
    return false;
  }
  std::string H = npyHeaderF32(0, Cols);
  if (std::fwrite(H.data(), 1, H.size(), File) != H.size()) {
    Error = "cannot write '" + P + "': " + std::strerror(errno);
    return false;
  }
  return true;
}

bool NpyWriter::appendRow(const float *Row, std::string &Error) {
  if (std::fwrite(Row, sizeof(float), Cols, File) != Cols) {
    Error = "cannot write '" + Path + "': " + std::strerror(errno);
    return false;
  }
  ++Rows;
  return true;
}

bool NpyWriter::close(std::string &Error) {
  if (!File)
    return true;
  std::string H = npyHeaderF32(Rows, Cols);
  bool Ok = std::fseek(File, 0, SEEK_SET) == 0 &&
            std::fwrite(H.data(), 1, H.size(), File) == H.size();
  Ok = std::fclose(File) == 0 && Ok;
  File = nullptr;
  if (!Ok)
    Error = "cannot write '" + Path + "': " + std::strerror(errno);
  return Ok;
}

bool monocard::writeNpyF32(const std::string &Path, const float *Data,
                           uint64_t Rows, uint64_t Cols, std::string &Error) {
  NpyWriter W;
  if (!W.open(Path, Cols, Error))
    return false;
  for (uint64_t R = 0; R < Rows; ++R)
    if (!W.appendRow(Data + R * Cols, Error))
      return false;
  return W.close(Error);
}
