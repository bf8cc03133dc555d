//===- WeightsFile.cpp - The packed .weights file -------------------------===//

#include "monocard/Runtime/Weights/WeightsFile.h"

#include "monocard/Runtime/Program/ModelInfo.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace monocard;

static void putU64(unsigned char *P, uint64_t V) {
  for (int I = 0; I < 8; ++I)
    P[I] = static_cast<unsigned char>(V >> (8 * I));
}

static uint64_t getU64(const unsigned char *P) {
  uint64_t V = 0;
  for (int I = 7; I >= 0; --I)
    V = V << 8 | P[I];
  return V;
}

void monocard::encodeWeightsHeader(const WeightsHeader &H, unsigned char *Out) {
  std::memcpy(Out, WeightsMagic, 16);
  putU64(Out + 16, H.Version);
  putU64(Out + 24, H.Fingerprint);
  putU64(Out + 32, H.DataOffset);
  putU64(Out + 40, H.DataBytes);
  putU64(Out + 48, H.TokenizerOffset);
  putU64(Out + 56, H.TokenizerBytes);
}

WeightsHeader monocard::decodeWeightsHeader(const unsigned char *In) {
  WeightsHeader H;
  H.Version = getU64(In + 16);
  H.Fingerprint = getU64(In + 24);
  H.DataOffset = getU64(In + 32);
  H.DataBytes = getU64(In + 40);
  H.TokenizerOffset = getU64(In + 48);
  H.TokenizerBytes = getU64(In + 56);
  return H;
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

bool WeightsFile::open(const std::string &Path, const ModelInfo &Info,
                       std::string &Error) {
  std::string Name = "weights file '" + Path + "'";
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
  if (FileSize < WeightsHeaderSize)
    return Fail(Name + " is truncated: expected " +
                std::to_string(WeightsHeaderSize) + " bytes, found " +
                std::to_string(FileSize));
  WeightsHeader H = decodeWeightsHeader(Head);
  if (H.Version != WeightsVersion)
    return Fail(Name + " has version " + std::to_string(H.Version) +
                "; this program reads version " +
                std::to_string(WeightsVersion));
  if (H.Fingerprint != Info.FingerprintValue)
    return Fail(Name + " belongs to another model (fingerprint " +
                formatFingerprint(H.Fingerprint) + ", expected " +
                Info.Fingerprint + ")");
  if (H.DataOffset < WeightsHeaderSize || H.DataOffset % 64 != 0)
    return Fail(Name + " has a bad data offset " +
                std::to_string(H.DataOffset));
  if (H.DataBytes != Info.WeightsBytes)
    return Fail(Name + " has " + std::to_string(H.DataBytes) +
                " bytes of tensor data, but the model needs " +
                std::to_string(Info.WeightsBytes));
  // Sizes from the header are untrusted: guard the additions.
  if (H.DataBytes > UINT64_MAX - H.DataOffset ||
      H.TokenizerBytes > UINT64_MAX - H.TokenizerOffset)
    return Fail(Name + " has a corrupt header");
  if (H.TokenizerBytes && H.TokenizerOffset < H.DataOffset + H.DataBytes)
    return Fail(Name + " has a corrupt header (tokenizer overlaps the data)");
  uint64_t Expected = H.DataOffset + H.DataBytes;
  if (H.TokenizerBytes)
    Expected = H.TokenizerOffset + H.TokenizerBytes;
  if (FileSize < Expected)
    return Fail(Name + " is truncated: expected " + std::to_string(Expected) +
                " bytes, found " + std::to_string(FileSize));

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
