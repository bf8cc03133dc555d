//===- Packer.cpp - Building a .weights file from a checkpoint ------------===//

#include "monocard/Runtime/Packer.h"

#include "monocard/Runtime/DType.h"
#include "monocard/Runtime/ModelInfo.h"
#include "monocard/Runtime/Safetensors.h"
#include "monocard/Runtime/WeightsFile.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
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

/// One source tensor of an entry, as rows of the concatenation.
struct SourceRows {
  const SafetensorsTensor *Tensor;
  DType From;
  uint64_t FirstRow; // its first row in the concatenation
  uint64_t Rows;
};

/// A recipe entry with what the packer worked out about it.
struct Planned {
  const RecipeEntry *Entry;
  DType To = DType::F32; // float entries: the stored type
  bool Quantized = false;
  DType ScaleType = DType::F32; // quantized entries: scale_dtype
  uint64_t Rows = 1;            // shape[0] (elements of a 1-D tensor)
  uint64_t RowElems = 1; // elements of one row: the trailing dims' product
  uint64_t Elements = 1;
  uint64_t Bytes = 0;      // at offset: the tensor, or the data plane
  uint64_t ScaleBytes = 0; // at quant.scales_offset: the parameter plane
  uint64_t Groups = 0;     // quantized: groups per row
  std::vector<SourceRows> Sources;
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

/// A * B, false on overflow (kept well below 2^64 so sums stay safe too).
bool mulBounded(uint64_t A, uint64_t B, uint64_t &Out) {
  if (B && A > (UINT64_MAX / 8) / B)
    return false;
  Out = A * B;
  return true;
}

/// One byte range of the weights data that an entry writes.
struct Extent {
  uint64_t Begin, Bytes;
  const RecipeEntry *Entry;
  bool Scales;  // the parameter plane of a quantized entry
  size_t Order; // position in the recipe's list of extents
};

std::string extentName(const Extent &X) {
  return "'" + X.Entry->Param + "'" + (X.Scales ? " (scale plane)" : "");
}

/// Checks the recipe on its own: supported transforms and dtypes, the
/// transform agreeing with dtype, sources and pair_rows, sizes inside
/// weights_bytes, no two tensors (or planes) sharing bytes.
bool planRecipe(const ModelInfo &Info, std::vector<Planned> &Plan,
                std::string &Error) {
  std::vector<Extent> Extents;
  for (const RecipeEntry &E : Info.Recipe) {
    std::string Where = "recipe entry '" + E.Param + "' ";
    Planned P;
    P.Entry = &E;
    bool Convert = E.Transform == "convert";
    if (!Convert && E.Transform != "concat" && E.Transform != "quantize") {
      Error = Where + "uses transform '" + E.Transform +
              "', which this packer does not support";
      return false;
    }
    P.Quantized = E.Quant.has_value();
    if (Convert && E.Sources.size() != 1) {
      Error = Where + "needs exactly one source for 'convert'";
      return false;
    }
    if (Convert && !E.PairRows.empty()) {
      Error = Where + "has pair_rows, which transform 'convert' does not "
                      "apply (use 'concat')";
      return false;
    }
    if (P.Quantized != (E.Transform == "quantize")) {
      Error = Where + "has dtype '" + E.DType + "' and transform '" +
              E.Transform + "'; " +
              (P.Quantized ? "a quantized dtype needs transform 'quantize'"
                           : "transform 'quantize' writes dtype 'i8' or 'i4'");
      return false;
    }
    if (!P.Quantized && !parseRecipeDType(E.DType, P.To)) {
      Error = Where + "has dtype '" + E.DType +
              "', which this packer does not support";
      return false;
    }
    if (P.Quantized && !parseRecipeDType(E.Quant->ScaleDType, P.ScaleType)) {
      Error = Where + "has scale_dtype '" + E.Quant->ScaleDType +
              "', which this packer does not support";
      return false;
    }
    if (!Convert && E.Shape.empty()) {
      Error = Where + "has shape [], but transform '" + E.Transform +
              "' concatenates rows";
      return false;
    }
    bool Fits = true;
    for (size_t I = 0; I < E.Shape.size(); ++I) {
      uint64_t Dim = static_cast<uint64_t>(E.Shape[I]);
      Fits = Fits && mulBounded(P.Elements, Dim, P.Elements);
      if (I == 0)
        P.Rows = Dim;
      else
        Fits = Fits && mulBounded(P.RowElems, Dim, P.RowElems);
    }
    if (P.Quantized) {
      const QuantParams &Q = *E.Quant;
      P.Groups = static_cast<uint64_t>(Q.groups(E.Shape[1]));
      uint64_t PerRow = 0;
      Fits = Fits && mulBounded(P.Rows, Q.RowBytes, P.Bytes) &&
             mulBounded(P.Groups, 2 * dtypeSize(P.ScaleType), PerRow) &&
             mulBounded(P.Rows, PerRow, P.ScaleBytes);
    } else {
      Fits = Fits && mulBounded(P.Elements, dtypeSize(P.To), P.Bytes);
    }
    if (!Fits) {
      Error = Where + "has a shape too large";
      return false;
    }
    auto Inside = [&](uint64_t Offset, uint64_t Bytes, const char *What) {
      if (Offset <= Info.WeightsBytes && Bytes <= Info.WeightsBytes - Offset)
        return true;
      Error = Where + What + "at offset " + std::to_string(Offset) + " with " +
              std::to_string(Bytes) + " bytes overruns weights_bytes (" +
              std::to_string(Info.WeightsBytes) + ")";
      return false;
    };
    if (!Inside(E.Offset, P.Bytes, ""))
      return false;
    Extents.push_back({E.Offset, P.Bytes, &E, false, Extents.size()});
    if (P.Quantized) {
      if (!Inside(E.Quant->ScalesOffset, P.ScaleBytes, "scale plane "))
        return false;
      Extents.push_back(
          {E.Quant->ScalesOffset, P.ScaleBytes, &E, true, Extents.size()});
    }
    Plan.push_back(std::move(P));
  }
  Extents.erase(std::remove_if(Extents.begin(), Extents.end(),
                               [](const Extent &X) { return X.Bytes == 0; }),
                Extents.end());
  // By offset; at equal offsets in recipe order, so messages are stable.
  std::sort(Extents.begin(), Extents.end(),
            [](const Extent &A, const Extent &B) {
              return A.Begin != B.Begin ? A.Begin < B.Begin : A.Order < B.Order;
            });
  for (size_t I = 1; I < Extents.size(); ++I) {
    const Extent &A = Extents[I - 1], &B = Extents[I];
    if (A.Begin + A.Bytes <= B.Begin)
      continue;
    if (A.Entry == B.Entry)
      Error = "recipe entry '" + A.Entry->Param +
              "' has its data and scale planes overlapping";
    else
      Error = "recipe entries " + extentName(A) + " and " + extentName(B) +
              " overlap";
    return false;
  }
  return true;
}

/// Finds an entry's sources in the checkpoint and checks their dtypes and
/// shapes: the one source of 'convert' has the entry's shape; the sources
/// of 'concat'/'quantize' share its trailing dims and their rows add up.
bool resolveSources(Planned &P, const Checkpoint &Ckpt,
                    const std::string &ModelDir, std::string &Error) {
  const RecipeEntry &E = *P.Entry;
  uint64_t Rows = 0;
  for (const std::string &Name : E.Sources) {
    const SafetensorsTensor *T = Ckpt.find(Name);
    if (!T) {
      Error = "checkpoint '" + ModelDir + "' has no tensor '" + Name + "'";
      return false;
    }
    DType From;
    if (!parseSafetensorsDType(T->DType, From)) {
      Error = "tensor '" + T->Name + "' has dtype " + T->DType +
              "; the packer reads F32, F16 and BF16";
      return false;
    }
    if (E.Transform == "convert") {
      if (T->Shape != E.Shape) {
        Error = "tensor '" + T->Name + "' has shape " + formatShape(T->Shape) +
                " in the checkpoint, but the model expects " +
                formatShape(E.Shape);
        return false;
      }
    } else if (T->Shape.size() != E.Shape.size() ||
               !std::equal(E.Shape.begin() + 1, E.Shape.end(),
                           T->Shape.begin() + 1)) {
      std::string Rows = "[*";
      for (size_t I = 1; I < E.Shape.size(); ++I)
        Rows += ", " + std::to_string(E.Shape[I]);
      Error = "tensor '" + T->Name + "' has shape " + formatShape(T->Shape) +
              " in the checkpoint, but recipe entry '" + E.Param +
              "' concatenates tensors of shape " + Rows + "]";
      return false;
    }
    uint64_t N = T->Shape.empty() ? 1 : static_cast<uint64_t>(T->Shape[0]);
    P.Sources.push_back({T, From, Rows, N});
    Rows += N;
  }
  if (Rows != P.Rows) {
    const char *Unit = E.Shape.size() == 1 ? " elements" : " rows";
    Error = "recipe entry '" + E.Param + "' concatenates " +
            std::to_string(Rows) + Unit + " from its sources, but its shape " +
            formatShape(E.Shape) + " has " + std::to_string(P.Rows);
    return false;
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

/// Converts \p Elements elements at \p In into the output at \p FileOffset,
/// a chunk at a time, writing straight from the mapping when the types
/// match.
bool packElements(const unsigned char *In, DType From, DType To,
                  uint64_t Elements, int Fd, uint64_t FileOffset,
                  const std::string &Path, std::vector<unsigned char> &Buffer,
                  std::string &Error) {
  size_t InSize = dtypeSize(From), OutSize = dtypeSize(To);
  if (From != To)
    Buffer.resize(ChunkElements * OutSize);
  for (uint64_t Done = 0; Done < Elements;) {
    size_t N =
        static_cast<size_t>(std::min<uint64_t>(ChunkElements, Elements - Done));
    const unsigned char *Src = In + Done * InSize;
    const void *Out = Src; // same dtype: write straight from the mapping
    if (From != To) {
      convertElements(Src, From, Buffer.data(), To, N);
      Out = Buffer.data();
    }
    if (!writeAll(Fd, Out, N * OutSize, FileOffset + Done * OutSize, Path,
                  Error))
      return false;
    releaseSource(In, Src + N * InSize);
    Done += N;
  }
  return true;
}

/// \p S rounded to the scale type (and back to f32).
float roundScale(float S, DType T) {
  switch (T) {
  case DType::F32:
    return S;
  case DType::F16:
    return halfToFloat(floatToHalf(S));
  case DType::BF16:
    return bfloat16ToFloat(floatToBfloat16(S));
  }
  return S;
}

/// The scale as the format defines it: \p Primary rounded to the scale
/// type; if that is 0, \p Fallback rounded; if that is 0 too, 1.
float pickScale(float Primary, float Fallback, DType T) {
  float S = roundScale(Primary, T);
  if (S == 0.0f)
    S = roundScale(Fallback, T);
  return S == 0.0f ? 1.0f : S;
}

/// \p V clamped to [Lo, Hi]; NaN gives Lo (never undefined conversions).
float clampTo(float V, float Lo, float Hi) {
  return V > Hi ? Hi : (V >= Lo ? V : Lo);
}

/// Quantizes one row of \p K f32 values: the data row (RowBytes, padding
/// zero) into \p Data and Groups [scale, zero] pairs into \p Params.
void quantizeRow(const float *W, uint64_t K, const QuantParams &Q,
                 DType ScaleType, uint64_t Groups, unsigned char *Data,
                 unsigned char *Params) {
  std::memset(Data, 0, Q.RowBytes);
  size_t SS = dtypeSize(ScaleType);
  auto StoreParams = [&](uint64_t G, float Scale, float Zero) {
    float Pair[2] = {Scale, Zero};
    convertElements(Pair, DType::F32, Params + G * 2 * SS, ScaleType, 2);
  };
  if (Q.Bits == 8) {
    float Max = 0.0f;
    for (uint64_t K0 = 0; K0 < K; ++K0)
      Max = std::max(Max, std::fabs(W[K0]));
    float Scale = pickScale(Max / 127.0f, Max, ScaleType);
    for (uint64_t K0 = 0; K0 < K; ++K0) {
      float V = clampTo(std::rint(W[K0] / Scale), -127.0f, 127.0f);
      Data[K0] = static_cast<unsigned char>(static_cast<int8_t>(V));
    }
    StoreParams(0, Scale, 0.0f);
    return;
  }
  uint64_t Group = static_cast<uint64_t>(Q.Group);
  for (uint64_t G = 0; G < Groups; ++G) {
    // The range includes 0, so that an integer zero in [0, 15] exists
    // even for a group whose values all have one sign.
    uint64_t Lo = G * Group, Hi = std::min(K, Lo + Group);
    float Mn = 0.0f, Mx = 0.0f;
    for (uint64_t K0 = Lo; K0 < Hi; ++K0) {
      Mn = std::min(Mn, W[K0]);
      Mx = std::max(Mx, W[K0]);
    }
    float Scale = pickScale((Mx - Mn) / 15.0f,
                            std::max(std::fabs(Mn), std::fabs(Mx)), ScaleType);
    // + 0: a zero of -0 (from -Mn = -0) is stored as +0.
    float Zero = clampTo(std::rint(-Mn / Scale), 0.0f, 15.0f) + 0.0f;
    for (uint64_t K0 = Lo; K0 < Hi; ++K0) {
      float V = clampTo(std::rint(W[K0] / Scale) + Zero, 0.0f, 15.0f);
      Data[K0 / 2] |= static_cast<unsigned char>(static_cast<unsigned>(V)
                                                 << (4 * (K0 & 1)));
    }
    StoreParams(G, Scale, Zero);
  }
}

/// The concatenation's row that output row \p R comes from. \p Triples are
/// the entry's pair_rows, sorted by start and disjoint (ModelInfo checks).
uint64_t inputRow(uint64_t R, const std::vector<const int64_t *> &Triples) {
  auto It = std::upper_bound(Triples.begin(), Triples.end(), R,
                             [](uint64_t V, const int64_t *T) {
                               return V < static_cast<uint64_t>(T[0]);
                             });
  if (It == Triples.begin())
    return R;
  const int64_t *T = *(It - 1);
  uint64_t Start = static_cast<uint64_t>(T[0]);
  uint64_t Count = static_cast<uint64_t>(T[1]);
  uint64_t Block = static_cast<uint64_t>(T[2]);
  if (R >= Start + Count)
    return R;
  uint64_t J = R - Start, Run = J - J % Block, I = J % Block;
  return Start + Run + (I % 2 ? I / 2 + Block / 2 : I / 2);
}

/// Drops the mapped pages of the concatenation's rows [Begin, End).
void releaseRows(const Planned &P, uint64_t Begin, uint64_t End) {
  for (const SourceRows &S : P.Sources) {
    uint64_t B = std::max(Begin, S.FirstRow);
    uint64_t E = std::min(End, S.FirstRow + S.Rows);
    size_t RowBytes = P.RowElems * dtypeSize(S.From);
    if (B < E)
      releaseSource(S.Tensor->Data + (B - S.FirstRow) * RowBytes,
                    S.Tensor->Data + (E - S.FirstRow) * RowBytes);
  }
}

/// The general path: a bounded number of output rows at a time, each
/// gathered from its source row (pair_rows), converted or quantized.
bool packRows(const Planned &P, int Fd, uint64_t DataBase,
              const std::string &Path, std::string &Error) {
  const RecipeEntry &E = *P.Entry;
  std::vector<const int64_t *> Triples;
  for (size_t I = 0; I + 2 < E.PairRows.size(); I += 3)
    Triples.push_back(&E.PairRows[I]);
  std::sort(Triples.begin(), Triples.end(),
            [](const int64_t *A, const int64_t *B) { return A[0] < B[0]; });

  uint64_t K = P.RowElems;
  uint64_t ChunkRows =
      std::max<uint64_t>(1, ChunkElements / std::max<uint64_t>(K, 1));
  ChunkRows = std::min(ChunkRows, std::max<uint64_t>(P.Rows, 1));
  size_t OutRowBytes = P.Quantized ? E.Quant->RowBytes : K * dtypeSize(P.To);
  size_t ParamRowBytes =
      P.Quantized ? P.Groups * 2 * dtypeSize(P.ScaleType) : 0;
  std::vector<unsigned char> Out(ChunkRows * OutRowBytes);
  std::vector<unsigned char> Params(ChunkRows * ParamRowBytes);
  std::vector<float> Row(P.Quantized ? K : 0);
  std::vector<uint64_t> Read; // the input rows of the current chunk
  Read.reserve(ChunkRows);

  for (uint64_t R0 = 0; R0 < P.Rows; R0 += ChunkRows) {
    uint64_t N = std::min(ChunkRows, P.Rows - R0);
    for (uint64_t R = R0; R < R0 + N; ++R) {
      uint64_t In = inputRow(R, Triples);
      Read.push_back(In);
      auto S = std::upper_bound(
          P.Sources.begin(), P.Sources.end(), In,
          [](uint64_t V, const SourceRows &X) { return V < X.FirstRow; });
      const SourceRows &Src = *(S - 1);
      const unsigned char *Ptr =
          Src.Tensor->Data + (In - Src.FirstRow) * K * dtypeSize(Src.From);
      unsigned char *Dst = Out.data() + (R - R0) * OutRowBytes;
      if (!P.Quantized) {
        convertElements(Ptr, Src.From, Dst, P.To, K);
        continue;
      }
      convertElements(Ptr, Src.From, Row.data(), DType::F32, K);
      quantizeRow(Row.data(), K, *E.Quant, P.ScaleType, P.Groups, Dst,
                  Params.data() + (R - R0) * ParamRowBytes);
    }
    if (!writeAll(Fd, Out.data(), N * OutRowBytes,
                  DataBase + E.Offset + R0 * OutRowBytes, Path, Error))
      return false;
    if (P.Quantized &&
        !writeAll(Fd, Params.data(), N * ParamRowBytes,
                  DataBase + E.Quant->ScalesOffset + R0 * ParamRowBytes, Path,
                  Error))
      return false;
    // Each input row is read once: drop the ones this chunk read.
    std::sort(Read.begin(), Read.end());
    for (size_t I = 0; I < Read.size();) {
      size_t J = I + 1;
      while (J < Read.size() && Read[J] == Read[J - 1] + 1)
        ++J;
      releaseRows(P, Read[I], Read[J - 1] + 1);
      I = J;
    }
    Read.clear();
  }
  return true;
}

/// Writes one entry: straight conversions source by source when nothing is
/// reordered or quantized, else row by row.
bool packEntry(const Planned &P, int Fd, uint64_t DataBase,
               const std::string &Path, std::vector<unsigned char> &Buffer,
               std::string &Error) {
  if (P.Quantized || !P.Entry->PairRows.empty())
    return packRows(P, Fd, DataBase, Path, Error);
  uint64_t RowOut = P.RowElems * dtypeSize(P.To);
  for (const SourceRows &S : P.Sources)
    if (!packElements(S.Tensor->Data, S.From, P.To, S.Rows * P.RowElems, Fd,
                      DataBase + P.Entry->Offset + S.FirstRow * RowOut, Path,
                      Buffer, Error))
      return false;
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
  for (Planned &P : Plan)
    if (!resolveSources(P, Ckpt, ModelDir, Error))
      return false;

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
  for (const Planned &P : Plan)
    if (!packEntry(P, Fd, H.DataOffset, OutPath, Buffer, Error))
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
