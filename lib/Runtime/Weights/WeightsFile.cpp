//===- WeightsFile.cpp - The packed .weights file -------------------------===//

#include "monocard/Runtime/Weights/WeightsFile.h"

#include "monocard/Runtime/Program/ModelInfo.h"
#include "monocard/Runtime/Weights/Checksum.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace monocard;

static void putU64(unsigned char *P, uint64_t V) {
  for (int I = 0; I < 8; ++I)
    P[I] = static_cast<unsigned char>(V >> (8 * I));
}

static uint64_t alignTo64(uint64_t V) { return (V + 63) / 64 * 64; }

static uint64_t getU64(const unsigned char *P) {
  uint64_t V = 0;
  for (int I = 7; I >= 0; --I)
    V = V << 8 | P[I];
  return V;
}

void monocard::encodeWeightsHeader(const WeightsHeader &H, unsigned char *Out) {
  std::memcpy(Out, WeightsMagic, 16);
  const uint64_t Fields[] = {H.Version,    H.Fingerprint,     H.DataOffset,
                             H.DataBytes,  H.TokenizerOffset, H.TokenizerBytes,
                             H.BlockBytes, H.TableOffset,     H.Checksum};
  for (size_t I = 0; I < 9; ++I)
    putU64(Out + 16 + 8 * I, Fields[I]);
}

WeightsHeader monocard::decodeWeightsHeader(const unsigned char *In) {
  WeightsHeader H;
  uint64_t *Fields[] = {&H.Version,    &H.Fingerprint,     &H.DataOffset,
                        &H.DataBytes,  &H.TokenizerOffset, &H.TokenizerBytes,
                        &H.BlockBytes, &H.TableOffset,     &H.Checksum};
  for (size_t I = 0; I < 9; ++I)
    *Fields[I] = getU64(In + 16 + 8 * I);
  return H;
}

uint64_t monocard::weightsTokenizerOffset(uint64_t DataBytes) {
  return alignTo64(WeightsDataOffset + DataBytes);
}

uint64_t monocard::weightsTableOffset(uint64_t TokenizerOffset,
                                      uint64_t TokenizerBytes) {
  return alignTo64(TokenizerOffset + TokenizerBytes);
}

WeightsFile::~WeightsFile() {
  if (Base)
    ::munmap(const_cast<unsigned char *>(Base), Size);
}

std::string_view WeightsFile::tokenizerJson() const {
  if (!Base || Header.TokenizerBytes == 0)
    return {};
  return std::string_view(
      reinterpret_cast<const char *>(Base + Header.TokenizerOffset),
      Header.TokenizerBytes);
}

/// Checks every field of \p H against the model and the file's size: each
/// field is where the format puts it, so a damaged header is one line naming
/// the field, not a run on the wrong bytes.
bool WeightsFile::checkHeader(const WeightsHeader &H, uint64_t FileSize,
                              const ModelInfo &Info, std::string &Error) const {
  auto Fail = [&](const std::string &Msg) {
    Error = Name + Msg;
    return false;
  };
  auto Damaged = [&](const char *Field, uint64_t Value,
                     const std::string &Want) {
    return Fail(" has a damaged header: " + std::string(Field) + " is " +
                std::to_string(Value) + ", " + Want);
  };
  if (H.Fingerprint != Info.FingerprintValue)
    return Fail(" belongs to another model (fingerprint " +
                formatFingerprint(H.Fingerprint) + ", expected " +
                Info.Fingerprint + ")");
  if (H.DataOffset != WeightsDataOffset)
    return Damaged("data_offset", H.DataOffset,
                   "but the format puts the data at " +
                       std::to_string(WeightsDataOffset));
  if (H.DataBytes != Info.WeightsBytes)
    return Fail(" has " + std::to_string(H.DataBytes) +
                " bytes of tensor data, but the model needs " +
                std::to_string(Info.WeightsBytes));
  uint64_t TokOffset = weightsTokenizerOffset(H.DataBytes);
  if (H.TokenizerOffset != TokOffset)
    return Damaged("tokenizer_offset", H.TokenizerOffset,
                   "but the format puts the tokenizer at " +
                       std::to_string(TokOffset));
  if (H.BlockBytes != WeightsChecksumBlock)
    return Damaged("block_bytes", H.BlockBytes,
                   "but the format's checksum blocks are " +
                       std::to_string(WeightsChecksumBlock) + " bytes");
  // tokenizer_bytes is bounded by the file, so the sums below cannot wrap.
  if (H.TokenizerBytes > FileSize ||
      H.TableOffset != weightsTableOffset(TokOffset, H.TokenizerBytes))
    return Fail(" has a damaged header: tokenizer_bytes (" +
                std::to_string(H.TokenizerBytes) + ") and table_offset (" +
                std::to_string(H.TableOffset) +
                ") disagree: the checksum table starts at the first "
                "64-aligned byte after the tokenizer");
  uint64_t Expected =
      H.TableOffset + 8 * checksumBlocks(H.TableOffset - H.DataOffset);
  if (FileSize < Expected)
    return Fail(" is truncated: expected " + std::to_string(Expected) +
                " bytes, found " + std::to_string(FileSize));
  if (FileSize > Expected)
    return Fail(" has " + std::to_string(FileSize) + " bytes, more than the " +
                std::to_string(Expected) + " its header describes");
  return true;
}

bool WeightsFile::open(const std::string &Path, const ModelInfo &Info,
                       std::string &Error, const std::string &Program) {
  Name = "weights file '" + Path + "'";
  int Fd = ::open(Path.c_str(), O_RDONLY | O_CLOEXEC);
  if (Fd < 0) {
    Error = "cannot open " + Name + ": " + std::strerror(errno);
    if (errno == ENOENT)
      Error += " (create it with --pack MODEL_DIR)";
    return false;
  }
  struct stat St;
  if (::fstat(Fd, &St) != 0 || !S_ISREG(St.st_mode)) {
    ::close(Fd);
    Error = Name + " is not a regular file";
    return false;
  }
  uint64_t FileSize = static_cast<uint64_t>(St.st_size);
  // Check the header with pread before mapping: an empty or foreign file
  // gets a precise message and a zero-length mmap never happens.
  unsigned char Head[WeightsHeaderSize] = {};
  ssize_t Got = ::pread(Fd, Head, sizeof(Head), 0);
  if (Got < 0) {
    Error = "cannot read " + Name + ": " + std::strerror(errno);
    ::close(Fd);
    return false;
  }
  auto Fail = [&](const std::string &Msg) {
    ::close(Fd);
    Error = Msg;
    return false;
  };
  size_t MagicBytes = std::min<size_t>(static_cast<size_t>(Got), 16);
  if (Got == 0 || std::memcmp(Head, WeightsMagic, MagicBytes) != 0)
    return Fail(Name + " is not a Monocard weights file (bad magic)");
  WeightsHeader H = decodeWeightsHeader(Head);
  // Version 1 files are larger than any header: tell their readers to
  // repack before talking about sizes.
  if (H.Version == 1 && FileSize >= WeightsDataOffset)
    return Fail(Name +
                " was packed by an older Monocard (format version 1); "
                "repack it with " +
                (Program.empty() ? std::string("--pack MODEL_DIR")
                                 : "`" + Program + " --pack MODEL_DIR`"));
  if (FileSize < WeightsHeaderSize)
    return Fail(Name + " is truncated: expected " +
                std::to_string(WeightsHeaderSize) + " bytes, found " +
                std::to_string(FileSize));
  if (H.Version != WeightsVersion)
    return Fail(Name + " has version " + std::to_string(H.Version) +
                "; this program reads version " +
                std::to_string(WeightsVersion));
  if (!checkHeader(H, FileSize, Info, Error)) {
    ::close(Fd);
    return false;
  }

  void *A = ::mmap(nullptr, static_cast<size_t>(FileSize), PROT_READ,
                   MAP_PRIVATE, Fd, 0);
  ::close(Fd);
  if (A == MAP_FAILED) {
    Error = "cannot map " + Name + ": " + std::strerror(errno);
    return false;
  }
  // Start reading the tensors in now: the first step touches all of them.
  ::madvise(static_cast<unsigned char *>(A) + H.DataOffset / 4096 * 4096,
            static_cast<size_t>(H.DataBytes), MADV_WILLNEED);
  Base = static_cast<const unsigned char *>(A);
  Size = static_cast<size_t>(FileSize);
  Header = H;
  return true;
}

bool WeightsFile::verify(uint64_t &Checked, std::string &Error) const {
  const WeightsHeader &H = Header;
  uint64_t Bytes = H.TableOffset - H.DataOffset;
  std::vector<uint64_t> Table(checksumBlocks(Bytes));
  for (size_t I = 0; I < Table.size(); ++I)
    Table[I] = getU64(Base + H.TableOffset + 8 * I);
  // The table first: a damaged table would blame good blocks.
  uint64_t TableHash = combineBlockHashes(Table, Bytes);
  if (TableHash != H.Checksum) {
    Error = Name + " has a damaged checksum table (it hashes to " +
            formatFingerprint(TableHash) + ", the header records " +
            formatFingerprint(H.Checksum) + ")";
    return false;
  }
  std::vector<uint64_t> Now = hashMemoryBlocks(Base + H.DataOffset, Bytes);
  for (size_t I = 0; I < Now.size(); ++I) {
    if (Now[I] == Table[I])
      continue;
    uint64_t Begin = H.DataOffset + I * WeightsChecksumBlock;
    uint64_t End = std::min(Begin + WeightsChecksumBlock, H.TableOffset);
    Error = Name + " is damaged: bytes [" + std::to_string(Begin) + ", " +
            std::to_string(End) + ") (checksum block " + std::to_string(I) +
            " of " + std::to_string(Now.size()) +
            ") differ from what was packed";
    return false;
  }
  Checked = Bytes;
  return true;
}
