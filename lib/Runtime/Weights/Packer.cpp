//===- Packer.cpp - Building a .weights file from a checkpoint ------------===//

#include "monocard/Runtime/Weights/Packer.h"

#include "monocard/Runtime/Program/ModelInfo.h"
#include "monocard/Runtime/Support/DType.h"
#include "monocard/Runtime/Weights/Checksum.h"
#include "monocard/Runtime/Weights/Safetensors.h"
#include "monocard/Runtime/Weights/WeightsFile.h"

#include "WorkerThreads.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace monocard;

namespace {

// Elements per task: big enough to amortise syscalls, small enough that
// packing a 70B model needs only a few MiB of RAM per worker thread.
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
  /// The entry's pair_rows triples, sorted by start.
  std::vector<const int64_t *> Triples;
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
  for (size_t I = 0; I + 2 < E.PairRows.size(); I += 3)
    P.Triples.push_back(&E.PairRows[I]);
  std::sort(P.Triples.begin(), P.Triples.end(),
            [](const int64_t *A, const int64_t *B) { return A[0] < B[0]; });
  return true;
}

/// Drops the mapped source pages wholly inside [Begin, End): they are clean
/// and will not be read again, so the packer's resident size stays at a few
/// chunks per worker whatever the tensor size (a Llama-3 embedding is
/// 1 GiB). Pages straddling two chunks stay mapped (one page per chunk at
/// most); dropping a page another worker still reads would only cost it a
/// refault, the mapping being read-only.
void releaseSource(const unsigned char *Begin, const unsigned char *End) {
  uintptr_t Page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t B = alignTo(reinterpret_cast<uintptr_t>(Begin), Page);
  uintptr_t E = reinterpret_cast<uintptr_t>(End) / Page * Page;
  if (B < E)
    ::madvise(reinterpret_cast<void *>(B), E - B, MADV_DONTNEED);
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

// The hot loops below are written for -O3's vectoriser: no calls, no
// branches, selects only. Each gives exactly the value of the plain scalar
// formula in docs/packed-weights-format.md (and python/monocard/quantize.py).

/// \p V clamped to [Lo, Hi]; NaN gives Lo (never undefined conversions).
inline float clampTo(float V, float Lo, float Hi) {
  return V > Hi ? Hi : (V >= Lo ? V : Lo);
}

/// std::rint(X) in the default rounding mode (ties to even), without a
/// call or SSE4.1's roundps: below 2^23, adding and removing 2^23 leaves
/// |X| rounded to an integer; from 2^23 on (and inf, NaN) X is its own
/// rint. The sign goes back on, so -0.3 gives -0 as rint does.
inline float roundEven(float X) {
  float A = std::fabs(X);
  float R = std::copysign((A + 0x1p23f) - 0x1p23f, X);
  return A < 0x1p23f ? R : X;
}

/// The largest |W[I]| with NaNs skipped, 0 for none: what
/// `Max = std::max(Max, std::fabs(W[I]))` from 0 gives. Non-NaN magnitudes
/// order as their bit patterns do, so this is an integer max.
float maxAbs(const float *W, uint64_t N) {
  uint32_t M = 0;
  for (uint64_t I = 0; I < N; ++I) {
    uint32_t U;
    std::memcpy(&U, W + I, 4);
    U &= 0x7fffffffu;
    U = U > 0x7f800000u ? 0 : U;
    M = M < U ? U : M;
  }
  float F;
  std::memcpy(&F, &M, 4);
  return F;
}

/// min(0, W...) and max(0, W...) with NaNs skipped: what std::min and
/// std::max folded from +0 give. Kept in independent lanes (the order
/// cannot matter: a lane only takes strictly smaller, resp. larger, values,
/// so it never holds -0) so that the loop becomes vector min/max.
void rangeWithZero(const float *W, uint64_t N, float &Mn, float &Mx) {
  constexpr unsigned Lanes = 8;
  float A[Lanes] = {}, B[Lanes] = {};
  uint64_t I = 0;
  for (; I + Lanes <= N; I += Lanes)
    for (unsigned J = 0; J < Lanes; ++J) {
      float V = W[I + J];
      A[J] = V < A[J] ? V : A[J];
      B[J] = B[J] < V ? V : B[J];
    }
  for (; I < N; ++I) {
    A[0] = W[I] < A[0] ? W[I] : A[0];
    B[0] = B[0] < W[I] ? W[I] : B[0];
  }
  Mn = 0.0f;
  Mx = 0.0f;
  for (unsigned J = 0; J < Lanes; ++J) {
    Mn = A[J] < Mn ? A[J] : Mn;
    Mx = Mx < B[J] ? B[J] : Mx;
  }
}

/// Per-worker buffers, reused from task to task.
struct Scratch {
  std::vector<unsigned char> Out, Params, Codes;
  std::vector<float> Row, RowParams;
  std::vector<uint64_t> Read; // a task's input rows, by output row
};

/// Quantizes one row of \p K f32 values: the data row (RowBytes, padding
/// zero) into \p Data and Groups [scale, zero] pairs into \p Params.
void quantizeRow(const float *W, uint64_t K, const QuantParams &Q,
                 DType ScaleType, uint64_t Groups, unsigned char *Data,
                 unsigned char *Params, Scratch &S) {
  S.RowParams.resize(2 * Groups);
  float *Pairs = S.RowParams.data();
  if (Q.Bits == 8) {
    float Max = maxAbs(W, K);
    float Scale = pickScale(Max / 127.0f, Max, ScaleType);
    for (uint64_t I = 0; I < K; ++I) {
      float V = clampTo(roundEven(W[I] / Scale), -127.0f, 127.0f);
      Data[I] = static_cast<unsigned char>(static_cast<int8_t>(V));
    }
    std::memset(Data + K, 0, Q.RowBytes - K);
    Pairs[0] = Scale;
    Pairs[1] = 0.0f;
    convertElements(Pairs, DType::F32, Params, ScaleType, 2);
    return;
  }
  // Codes first, a byte each, then two to a byte: any group size works.
  S.Codes.resize(K + 1);
  unsigned char *C = S.Codes.data();
  uint64_t Group = static_cast<uint64_t>(Q.Group);
  for (uint64_t G = 0; G < Groups; ++G) {
    // The range includes 0, so that an integer zero in [0, 15] exists
    // even for a group whose values all have one sign.
    uint64_t Lo = G * Group, Hi = std::min(K, Lo + Group);
    float Mn, Mx;
    rangeWithZero(W + Lo, Hi - Lo, Mn, Mx);
    float Scale = pickScale((Mx - Mn) / 15.0f,
                            std::max(std::fabs(Mn), std::fabs(Mx)), ScaleType);
    // + 0: a zero of -0 (from -Mn = -0) is stored as +0.
    float Zero = clampTo(std::rint(-Mn / Scale), 0.0f, 15.0f) + 0.0f;
    for (uint64_t I = Lo; I < Hi; ++I)
      C[I] = static_cast<unsigned char>(
          clampTo(roundEven(W[I] / Scale) + Zero, 0.0f, 15.0f));
    Pairs[2 * G] = Scale;
    Pairs[2 * G + 1] = Zero;
  }
  C[K] = 0; // the high nibble of an odd K's last byte
  uint64_t Bytes = (K + 1) / 2;
  // Two codes as one little-endian u16 (a plain vector load, where a
  // stride-2 byte gather would not vectorise well): low | high << 4.
  for (uint64_t I = 0; I < Bytes; ++I) {
    uint16_t Two;
    std::memcpy(&Two, C + 2 * I, 2);
    Data[I] = static_cast<unsigned char>((Two & 0x0f) | ((Two >> 4) & 0xf0));
  }
  std::memset(Data + Bytes, 0, Q.RowBytes - Bytes);
  convertElements(Pairs, DType::F32, Params, ScaleType, 2 * Groups);
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

/// Calls \p F(Begin, End) on the mapped bytes of each run of consecutive
/// rows in \p Rows (the concatenation's rows a task reads, sorted).
template <typename Fn>
void forEachRowRun(const Planned &P, const std::vector<uint64_t> &Rows, Fn F) {
  for (size_t I = 0; I < Rows.size();) {
    size_t J = I + 1;
    while (J < Rows.size() && Rows[J] == Rows[J - 1] + 1)
      ++J;
    uint64_t Begin = Rows[I], End = Rows[J - 1] + 1;
    for (const SourceRows &S : P.Sources) {
      uint64_t B = std::max(Begin, S.FirstRow);
      uint64_t E = std::min(End, S.FirstRow + S.Rows);
      size_t RowBytes = P.RowElems * dtypeSize(S.From);
      if (B < E)
        F(S.Tensor->Data + (B - S.FirstRow) * RowBytes,
          S.Tensor->Data + (E - S.FirstRow) * RowBytes);
    }
    I = J;
  }
}

/// Output rows per task of an entry written row by row: about
/// ChunkElements elements.
uint64_t chunkRows(const Planned &P) {
  uint64_t Rows =
      std::max<uint64_t>(1, ChunkElements / std::max<uint64_t>(P.RowElems, 1));
  return std::min(Rows, std::max<uint64_t>(P.Rows, 1));
}

/// One unit of work, independent of all others: it reads its own source
/// bytes and writes its own byte ranges of the output.
struct Task {
  const Planned *P;
  /// Set: elements [Begin, Begin + Count) of this source, converted
  /// straight (an entry with no pair_rows and no quantization). Null:
  /// output rows [Begin, Begin + Count), gathered, converted or quantized.
  const SourceRows *Source;
  uint64_t Begin, Count;
};

/// A chunk of a straight conversion, written from the mapping itself when
/// the types match.
bool packElements(const Task &T, int Fd, uint64_t DataBase,
                  const std::string &Path, Scratch &S, std::string &Error) {
  const Planned &P = *T.P;
  const SourceRows &Src = *T.Source;
  size_t InSize = dtypeSize(Src.From), OutSize = dtypeSize(P.To);
  const unsigned char *In = Src.Tensor->Data + T.Begin * InSize;
  const void *Out = In;
  if (Src.From != P.To) {
    S.Out.resize(T.Count * OutSize);
    convertElements(In, Src.From, S.Out.data(), P.To, T.Count);
    Out = S.Out.data();
  }
  uint64_t At = DataBase + P.Entry->Offset +
                (Src.FirstRow * P.RowElems + T.Begin) * OutSize;
  if (!writeAll(Fd, Out, T.Count * OutSize, At, Path, Error))
    return false;
  releaseSource(In, In + T.Count * InSize);
  return true;
}

/// A chunk of output rows, each gathered from its source row (pair_rows),
/// converted or quantized.
bool packRows(const Task &T, int Fd, uint64_t DataBase,
              const std::string &Path, Scratch &S, std::string &Error) {
  const Planned &P = *T.P;
  const RecipeEntry &E = *P.Entry;
  uint64_t K = P.RowElems, R0 = T.Begin, N = T.Count;
  size_t OutRowBytes = P.Quantized ? E.Quant->RowBytes : K * dtypeSize(P.To);
  size_t ParamRowBytes =
      P.Quantized ? P.Groups * 2 * dtypeSize(P.ScaleType) : 0;
  S.Out.resize(N * OutRowBytes);
  S.Params.resize(N * ParamRowBytes);
  if (P.Quantized)
    S.Row.resize(K);
  S.Read.clear();
  for (uint64_t R = R0; R < R0 + N; ++R)
    S.Read.push_back(inputRow(R, P.Triples));
  for (uint64_t R = R0; R < R0 + N; ++R) {
    uint64_t In = S.Read[R - R0];
    auto Src = std::upper_bound(
        P.Sources.begin(), P.Sources.end(), In,
        [](uint64_t V, const SourceRows &X) { return V < X.FirstRow; });
    --Src;
    const unsigned char *Ptr =
        Src->Tensor->Data + (In - Src->FirstRow) * K * dtypeSize(Src->From);
    unsigned char *Dst = S.Out.data() + (R - R0) * OutRowBytes;
    if (!P.Quantized) {
      convertElements(Ptr, Src->From, Dst, P.To, K);
      continue;
    }
    convertElements(Ptr, Src->From, S.Row.data(), DType::F32, K);
    quantizeRow(S.Row.data(), K, *E.Quant, P.ScaleType, P.Groups, Dst,
                S.Params.data() + (R - R0) * ParamRowBytes, S);
  }
  if (!writeAll(Fd, S.Out.data(), N * OutRowBytes,
                DataBase + E.Offset + R0 * OutRowBytes, Path, Error))
    return false;
  if (P.Quantized &&
      !writeAll(Fd, S.Params.data(), N * ParamRowBytes,
                DataBase + E.Quant->ScalesOffset + R0 * ParamRowBytes, Path,
                Error))
    return false;
  // Each input row is read once: drop the ones this chunk read.
  std::sort(S.Read.begin(), S.Read.end());
  forEachRowRun(P, S.Read, releaseSource);
  return true;
}

/// Every entry cut into tasks, in recipe order: straight conversions
/// source by source when nothing is reordered or quantized, else rows.
std::vector<Task> splitIntoTasks(const std::vector<Planned> &Plan) {
  std::vector<Task> Tasks;
  for (const Planned &P : Plan) {
    if (P.Quantized || !P.Entry->PairRows.empty()) {
      uint64_t Step = chunkRows(P);
      for (uint64_t R = 0; R < P.Rows; R += Step)
        Tasks.push_back({&P, nullptr, R, std::min(Step, P.Rows - R)});
      continue;
    }
    for (const SourceRows &S : P.Sources) {
      uint64_t Elements = S.Rows * P.RowElems;
      for (uint64_t I = 0; I < Elements; I += ChunkElements)
        Tasks.push_back(
            {&P, &S, I, std::min<uint64_t>(ChunkElements, Elements - I)});
    }
  }
  return Tasks;
}

/// Runs the tasks on a pool of threads (the caller included), each taking
/// the next task in order. Output ranges are disjoint (planRecipe checks),
/// so pwrite needs no locking. On failure the others stop taking tasks and
/// \p Error is that of the earliest failed task.
bool runTasks(const std::vector<Task> &Tasks, int Fd, uint64_t DataBase,
              const std::string &Path, std::string &Error) {
  std::atomic<size_t> Next{0};
  std::atomic<bool> Stop{false};
  std::mutex ErrorMutex;
  size_t FailedAt = SIZE_MAX;
  auto Work = [&] {
    Scratch S;
    std::string Err;
    while (!Stop.load(std::memory_order_relaxed)) {
      size_t I = Next.fetch_add(1, std::memory_order_relaxed);
      if (I >= Tasks.size())
        return;
      const Task &T = Tasks[I];
      bool Ok = T.Source ? packElements(T, Fd, DataBase, Path, S, Err)
                         : packRows(T, Fd, DataBase, Path, S, Err);
      if (!Ok) {
        std::lock_guard<std::mutex> L(ErrorMutex);
        if (I < FailedAt) {
          FailedAt = I;
          Error = Err;
        }
        Stop.store(true, std::memory_order_relaxed);
      }
    }
  };
  runOnThreads(workerThreads(Tasks.size()), Work);
  return FailedAt == SIZE_MAX;
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

/// The temporary file being packed, for the signal handler below. One
/// pack runs at a time in a process.
char SignalTempPath[4096];
volatile std::sig_atomic_t SignalTempSet = 0;

extern "C" void removeTempOnSignal(int Sig) {
  if (SignalTempSet)
    ::unlink(SignalTempPath); // async-signal-safe
  std::signal(Sig, SIG_DFL);
  std::raise(Sig);
}

/// While alive, Ctrl-C, SIGTERM or SIGHUP remove the temporary file before
/// the process dies as it would have, so an interrupted pack leaves the old
/// file and no debris.
class TempFileGuard {
public:
  explicit TempFileGuard(const std::string &Path) {
    if (Path.size() >= sizeof(SignalTempPath))
      return; // no guard; the old file is still never touched
    std::memcpy(SignalTempPath, Path.c_str(), Path.size() + 1);
    SignalTempSet = 1;
    struct sigaction Action = {};
    Action.sa_handler = removeTempOnSignal;
    sigemptyset(&Action.sa_mask);
    // A signal the caller ignores (nohup, a background job) stays ignored.
    for (size_t I = 0; I < NumSignals; ++I)
      if (::sigaction(Signals[I], nullptr, &Old[I]) == 0 &&
          Old[I].sa_handler != SIG_IGN)
        ::sigaction(Signals[I], &Action, nullptr);
    Installed = true;
  }
  ~TempFileGuard() {
    if (!Installed)
      return;
    for (size_t I = 0; I < NumSignals; ++I)
      ::sigaction(Signals[I], &Old[I], nullptr);
    SignalTempSet = 0;
  }
  TempFileGuard(const TempFileGuard &) = delete;
  TempFileGuard &operator=(const TempFileGuard &) = delete;

private:
  static constexpr size_t NumSignals = 3;
  static constexpr int Signals[NumSignals] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction Old[NumSignals] = {};
  bool Installed = false;
};

/// Hashes everything from the data to the end of the tokenizer as the file
/// holds it, appends the checksum table and fills in the header's checksum
/// fields (docs/packed-weights-format.md).
bool writeChecksums(int Fd, WeightsHeader &H, const std::string &Path,
                    std::string &Error) {
  H.BlockBytes = WeightsChecksumBlock;
  H.TableOffset = weightsTableOffset(H.TokenizerOffset, H.TokenizerBytes);
  // Zero padding between the tokenizer and the table, hashed like the rest.
  if (::ftruncate(Fd, static_cast<off_t>(H.TableOffset)) != 0) {
    Error = "cannot size '" + Path + "': " + std::strerror(errno);
    return false;
  }
  uint64_t Bytes = H.TableOffset - H.DataOffset;
  std::vector<uint64_t> Blocks;
  if (!hashFileBlocks(Fd, H.DataOffset, Bytes, Path, Blocks, Error))
    return false;
  std::vector<unsigned char> Table(8 * Blocks.size());
  for (size_t I = 0; I < Blocks.size(); ++I)
    for (int B = 0; B < 8; ++B)
      Table[8 * I + B] = static_cast<unsigned char>(Blocks[I] >> (8 * B));
  H.Checksum = combineBlockHashes(Blocks, Bytes);
  return writeAll(Fd, Table.data(), Table.size(), H.TableOffset, Path, Error);
}

/// Makes the rename of the finished file durable: without it a crash soon
/// after packing could leave the directory pointing at the old file or none.
void syncDirectory(const std::string &FilePath) {
  size_t Slash = FilePath.rfind('/');
  std::string Dir = Slash == std::string::npos ? "."
                    : Slash == 0               ? "/"
                                               : FilePath.substr(0, Slash);
  int D = ::open(Dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (D >= 0) {
    ::fsync(D);
    ::close(D);
  }
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

  // mkstemp in the output's directory, so the final rename is atomic: the
  // target is the old file or the complete new one, never a partial one.
  std::string Tmp = OutPath + ".tmp-XXXXXX";
  int Fd = ::mkstemp(&Tmp[0]);
  if (Fd < 0) {
    Error = "cannot create '" + OutPath + "': " + std::strerror(errno);
    return false;
  }
  TempFileGuard Guard(Tmp);
  auto Fail = [&]() {
    ::close(Fd);
    ::unlink(Tmp.c_str());
    return false;
  };

  WeightsHeader H;
  H.Fingerprint = Info.FingerprintValue;
  H.DataBytes = Info.WeightsBytes;
  H.TokenizerOffset = weightsTokenizerOffset(H.DataBytes);
  // Size the file first: gaps (header padding, alignment between tensors)
  // read as zeros without being written.
  if (::ftruncate(Fd, static_cast<off_t>(H.TokenizerOffset)) != 0) {
    Error = "cannot size '" + OutPath + "': " + std::strerror(errno);
    return Fail();
  }
  if (!runTasks(splitIntoTasks(Plan), Fd, H.DataOffset, OutPath, Error))
    return Fail();
  if (!copyTokenizer(ModelDir, Fd, H.TokenizerOffset, OutPath, H.TokenizerBytes,
                     Error))
    return Fail();
  if (!writeChecksums(Fd, H, OutPath, Error))
    return Fail();
  unsigned char Header[WeightsHeaderSize];
  encodeWeightsHeader(H, Header);
  if (!writeAll(Fd, Header, sizeof(Header), 0, OutPath, Error))
    return Fail();

  // mkstemp made the file 0600; give it the usual umask-based mode.
  mode_t Mask = ::umask(0);
  ::umask(Mask);
  ::fchmod(Fd, 0666 & ~Mask);
  // On disk before it gets the target's name (a full disk can surface
  // only here, or at close).
  if (::fsync(Fd) != 0) {
    Error = "cannot write '" + OutPath + "': " + std::strerror(errno);
    return Fail();
  }
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
  syncDirectory(OutPath);
  if (Report) {
    Report->Tensors = Plan.size();
    Report->FileBytes =
        H.TableOffset + 8 * checksumBlocks(H.TableOffset - H.DataOffset);
    Report->TokenizerBytes = H.TokenizerBytes;
  }
  return true;
}
