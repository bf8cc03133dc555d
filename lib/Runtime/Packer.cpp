//===- Packer.cpp - Building a .weights file from a checkpoint ------------===//

#include "monocard/Runtime/Packer.h"

#include "monocard/Runtime/DType.h"
#include "monocard/Runtime/ModelInfo.h"
#include "monocard/Runtime/Safetensors.h"
#include "monocard/Runtime/WeightsFile.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace monocard;

namespace {

// Elements per chunk: big enough to amortise syscalls, small enough that
// packing a 70B model needs only a few MiB of RAM.
constexpr size_t ChunkElements = 1 << 20;
// pwrite may write less than asked past ~2 GiB; loop in bounded pieces.
constexpr size_t MaxWrite = 1 << 30;

uint64_t alignTo(uint64_t V, uint64_t A) { return (V + A - 1) / A * A; }

/// A recipe entry with what the packer worked out about it.
struct Planned {
  const RecipeEntry *Entry;
  DType To;
  uint64_t Elements;
  uint64_t Bytes;
};

bool writeAll(int Fd, const void *Buf, uint64_t Len, uint64_t Offset,
              const std::string &Path, std::string &Error) {
  const auto *P = static_cast<const unsigned char *>(Buf);
  while (Len > 0) {
    ssize_t N = ::pwrite(Fd, P, std::min<uint64_t>(Len, MaxWrite),
                         static_cast<off_t>(Offset));
    if (N < 0 && errno == EINTR)
      continue;
    if (N <= 0) {
      Error = "cannot write '" + Path +
              "': " + (N < 0 ? std::strerror(errno) : "no space written");
      return false;
    }
    P += N;
    Len -= static_cast<uint64_t>(N);
    Offset += static_cast<uint64_t>(N);
  }
  return true;
}

/// Checks the recipe on its own: supported transforms and dtypes, sizes
/// inside weights_bytes, no two tensors sharing bytes.
bool planRecipe(const ModelInfo &Info, std::vector<Planned> &Plan,
                std::string &Error) {
  for (const RecipeEntry &E : Info.Recipe) {
    std::string Where = "recipe entry '" + E.Param + "' ";
    Planned P{&E, DType::F32, 1, 0};
    if (E.Transform != "convert") {
      Error = Where + "uses transform '" + E.Transform +
              "', which this packer does not support";
      return false;
    }
    if (E.Sources.size() != 1) {
      Error = Where + "needs exactly one source for 'convert'";
      return false;
    }
    if (!parseRecipeDType(E.DType, P.To)) {
      Error = Where + "has dtype '" + E.DType +
              "', which this packer does not support";
      return false;
    }
    for (int64_t D : E.Shape) {
      uint64_t Dim = static_cast<uint64_t>(D);
      if (Dim && P.Elements > UINT64_MAX / 8 / Dim) {
        Error = Where + "has a shape too large";
        return false;
      }
      P.Elements *= Dim;
    }
    P.Bytes = P.Elements * dtypeSize(P.To);
    if (E.Offset > Info.WeightsBytes ||
        P.Bytes > Info.WeightsBytes - E.Offset) {
      Error = Where + "at offset " + std::to_string(E.Offset) + " with " +
              std::to_string(P.Bytes) + " bytes overruns weights_bytes (" +
              std::to_string(Info.WeightsBytes) + ")";
      return false;
    }
    Plan.push_back(P);
  }
  std::vector<const Planned *> ByOffset;
  for (const Planned &P : Plan)
    if (P.Bytes)
      ByOffset.push_back(&P);
  std::sort(ByOffset.begin(), ByOffset.end(),
            [](const Planned *A, const Planned *B) {
              return A->Entry->Offset < B->Entry->Offset;
            });
  for (size_t I = 1; I < ByOffset.size(); ++I) {
    const Planned &A = *ByOffset[I - 1], &B = *ByOffset[I];
    if (A.Entry->Offset + A.Bytes > B.Entry->Offset) {
      Error = "recipe entries '" + A.Entry->Param + "' and '" + B.Entry->Param +
              "' overlap";
      return false;
    }
  }
  return true;
}

/// Drops the mapped source pages wholly inside [Begin, End): they are clean
/// and will not be read again, so the packer's resident size stays at a few
/// chunks whatever the tensor size (a Llama-3 embedding is 1 GiB).
void releaseSource(const unsigned char *Begin, const unsigned char *End) {
  uintptr_t Page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t B = alignTo(reinterpret_cast<uintptr_t>(Begin), Page);
  uintptr_t E = reinterpret_cast<uintptr_t>(End) / Page * Page;
  if (B < E)
    ::madvise(reinterpret_cast<void *>(B), E - B, MADV_DONTNEED);
}

/// Converts one source tensor into the output at \p FileOffset, a chunk at
/// a time.
bool packTensor(const Planned &P, const SafetensorsTensor &Src, DType From,
                int Fd, uint64_t FileOffset, const std::string &Path,
                std::vector<unsigned char> &Buffer, std::string &Error) {
  size_t InSize = dtypeSize(From), OutSize = dtypeSize(P.To);
  if (From != P.To)
    Buffer.resize(ChunkElements * OutSize);
  for (uint64_t Done = 0; Done < P.Elements;) {
    size_t N = static_cast<size_t>(
        std::min<uint64_t>(ChunkElements, P.Elements - Done));
    const unsigned char *In = Src.Data + Done * InSize;
    const void *Out = In; // same dtype: write straight from the mapping
    if (From != P.To) {
      convertElements(In, From, Buffer.data(), P.To, N);
      Out = Buffer.data();
    }
    if (!writeAll(Fd, Out, N * OutSize, FileOffset + Done * OutSize, Path,
                  Error))
      return false;
    releaseSource(Src.Data, In + N * InSize);
    Done += N;
  }
  return true;
}

/// Appends the model dir's tokenizer.json at \p Offset; 0 bytes if absent.
bool copyTokenizer(const std::string &Dir, int Fd, uint64_t Offset,
                   const std::string &Path, uint64_t &Bytes,
                   std::string &Error) {
  Bytes = 0;
  std::string TokPath = Dir + "/tokenizer.json";
  int In = ::open(TokPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (In < 0) {
    if (errno == ENOENT)
      return true;
    Error = "cannot open '" + TokPath + "': " + std::strerror(errno);
    return false;
  }
  std::vector<unsigned char> Buf(1 << 20);
  for (;;) {
    ssize_t N = ::read(In, Buf.data(), Buf.size());
    if (N < 0 && errno == EINTR)
      continue;
    if (N < 0) {
      Error = "cannot read '" + TokPath + "': " + std::strerror(errno);
      ::close(In);
      return false;
    }
    if (N == 0)
      break;
    if (!writeAll(Fd, Buf.data(), static_cast<uint64_t>(N), Offset + Bytes,
                  Path, Error)) {
      ::close(In);
      return false;
    }
    Bytes += static_cast<uint64_t>(N);
  }
  ::close(In);
  return true;
}

} // namespace

bool monocard::packWeights(const ModelInfo &Info, const std::string &ModelDir,
                           const std::string &OutPath, std::string &Error,
                           PackReport *Report) {
  std::vector<Planned> Plan;
  if (!planRecipe(Info, Plan, Error))
    return false;
  Checkpoint Ckpt;
  if (!Ckpt.open(ModelDir, Error))
    return false;

  // Resolve every source before creating any file.
  std::vector<std::pair<const SafetensorsTensor *, DType>> Sources;
  for (const Planned &P : Plan) {
    const RecipeEntry &E = *P.Entry;
    const SafetensorsTensor *T = Ckpt.find(E.Sources[0]);
    if (!T) {
      Error =
          "checkpoint '" + ModelDir + "' has no tensor '" + E.Sources[0] + "'";
      return false;
    }
    DType From;
    if (!parseSafetensorsDType(T->DType, From)) {
      Error = "tensor '" + T->Name + "' has dtype " + T->DType +
              "; the packer reads F32, F16 and BF16";
      return false;
    }
    if (T->Shape != E.Shape) {
      Error = "tensor '" + T->Name + "' has shape " + formatShape(T->Shape) +
              " in the checkpoint, but the model expects " +
              formatShape(E.Shape);
      return false;
    }
    Sources.push_back({T, From});
  }

  // mkstemp in the output's directory, so the final rename is atomic.
  std::string Tmp = OutPath + ".tmp-XXXXXX";
  int Fd = ::mkstemp(&Tmp[0]);
  if (Fd < 0) {
    Error = "cannot create '" + OutPath + "': " + std::strerror(errno);
    return false;
  }
  auto Fail = [&]() {
    ::close(Fd);
    ::unlink(Tmp.c_str());
    return false;
  };

  WeightsHeader H;
  H.Fingerprint = Info.FingerprintValue;
  H.DataBytes = Info.WeightsBytes;
  H.TokenizerOffset = alignTo(H.DataOffset + H.DataBytes, 64);
  // Size the file first: gaps (header padding, alignment between tensors)
  // read as zeros without being written.
  if (::ftruncate(Fd, static_cast<off_t>(H.TokenizerOffset)) != 0) {
    Error = "cannot size '" + OutPath + "': " + std::strerror(errno);
    return Fail();
  }
  std::vector<unsigned char> Buffer;
  for (size_t I = 0; I < Plan.size(); ++I)
    if (!packTensor(Plan[I], *Sources[I].first, Sources[I].second, Fd,
                    H.DataOffset + Plan[I].Entry->Offset, OutPath, Buffer,
                    Error))
      return Fail();
  if (!copyTokenizer(ModelDir, Fd, H.TokenizerOffset, OutPath, H.TokenizerBytes,
                     Error))
    return Fail();
  unsigned char Header[WeightsHeaderSize];
  encodeWeightsHeader(H, Header);
  if (!writeAll(Fd, Header, sizeof(Header), 0, OutPath, Error))
    return Fail();

  // mkstemp made the file 0600; give it the usual umask-based mode.
  mode_t Mask = ::umask(0);
  ::umask(Mask);
  ::fchmod(Fd, 0666 & ~Mask);
  if (::close(Fd) != 0) {
    Error = "cannot write '" + OutPath + "': " + std::strerror(errno);
    ::unlink(Tmp.c_str());
    return false;
  }
  if (::rename(Tmp.c_str(), OutPath.c_str()) != 0) {
    Error = "cannot create '" + OutPath + "': " + std::strerror(errno);
    ::unlink(Tmp.c_str());
    return false;
  }
  if (Report) {
    Report->Tensors = Plan.size();
    Report->FileBytes = H.TokenizerOffset + H.TokenizerBytes;
    Report->TokenizerBytes = H.TokenizerBytes;
  }
  return true;
}
