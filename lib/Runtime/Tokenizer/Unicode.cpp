//===- Unicode.cpp - The Unicode the tokenizer needs ----------------------===//
//
// Tables come from python/gen_unicode_tables.py (UnicodeTables.inc): sorted
// ranges, searched by binary search after an ASCII fast path, which keeps the
// whole thing a few dozen kilobytes with no dependency.
//
//===----------------------------------------------------------------------===//

#include "Unicode.h"

#include <algorithm>
#include <vector>

namespace monocard {
namespace unicode {

namespace {
struct UnicodeRange {
  uint32_t Lo, Hi;
  uint8_t Value;
};
struct Decomposition {
  uint32_t CP, First, Second; // Second is 0 for a singleton
};
struct Composition {
  uint32_t First, Second, CP;
};
#include "UnicodeTables.inc"

template <size_t N>
uint8_t lookupRange(const UnicodeRange (&Table)[N], uint32_t CP) {
  const UnicodeRange *It = std::upper_bound(
      Table, Table + N, CP,
      [](uint32_t V, const UnicodeRange &R) { return V < R.Lo; });
  if (It == Table)
    return 0;
  --It;
  return CP <= It->Hi ? It->Value : 0;
}

uint8_t categoryClass(uint32_t CP) {
  if (CP < 0x80) {
    if ((CP | 0x20) >= 'a' && (CP | 0x20) <= 'z')
      return 1;
    return CP >= '0' && CP <= '9' ? 2 : 0;
  }
  return CP == InvalidByte ? 0 : lookupRange(CategoryRanges, CP);
}
} // namespace

bool isLetter(uint32_t CP) { return categoryClass(CP) == 1; }
bool isNumber(uint32_t CP) { return categoryClass(CP) == 2; }

bool isWordChar(uint32_t CP) {
  if (CP < 0x80)
    return (CP | 0x20) - 'a' < 26 || CP - '0' < 10 || CP == '_';
  return CP != InvalidByte && lookupRange(WordRanges, CP);
}

bool isSpace(uint32_t CP) {
  if (CP < 0x80)
    return CP == ' ' || (CP >= 0x09 && CP <= 0x0D);
  switch (CP) {
  case 0x85:
  case 0xA0:
  case 0x1680:
  case 0x2028:
  case 0x2029:
  case 0x202F:
  case 0x205F:
  case 0x3000:
    return true;
  default:
    return CP >= 0x2000 && CP <= 0x200A;
  }
}

//===----------------------------------------------------------------------===//
// NFC (UAX #15): full canonical decomposition, canonical ordering, then
// canonical composition.
//===----------------------------------------------------------------------===//

namespace {
// Hangul syllables decompose and compose by arithmetic, not by table.
constexpr uint32_t SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161,
                   TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28,
                   NCount = VCount * TCount, SCount = LCount * NCount;
// Invalid input bytes ride through the buffer tagged with this bit.
constexpr uint32_t RawByteTag = 0x80000000u;

uint8_t combiningClass(uint32_t CP) {
  if (CP < 0x300 || (CP & RawByteTag))
    return 0;
  return lookupRange(CombiningClassRanges, CP);
}

void decompose(uint32_t CP, std::vector<uint32_t> &Out) {
  if (CP >= SBase && CP < SBase + SCount) {
    uint32_t S = CP - SBase;
    Out.push_back(LBase + S / NCount);
    Out.push_back(VBase + (S % NCount) / TCount);
    if (S % TCount)
      Out.push_back(TBase + S % TCount);
    return;
  }
  const Decomposition *End = std::end(Decompositions);
  const Decomposition *It = std::lower_bound(
      std::begin(Decompositions), End, CP,
      [](const Decomposition &D, uint32_t V) { return D.CP < V; });
  if (It == End || It->CP != CP) {
    Out.push_back(CP);
    return;
  }
  decompose(It->First, Out);
  if (It->Second)
    decompose(It->Second, Out);
}

uint32_t compose(uint32_t A, uint32_t B) {
  if (A >= LBase && A < LBase + LCount && B >= VBase && B < VBase + VCount)
    return SBase + ((A - LBase) * VCount + (B - VBase)) * TCount;
  if (A >= SBase && A < SBase + SCount && (A - SBase) % TCount == 0 &&
      B > TBase && B < TBase + TCount)
    return A + (B - TBase);
  const Composition *End = std::end(Compositions);
  const Composition *It = std::lower_bound(
      std::begin(Compositions), End, std::make_pair(A, B),
      [](const Composition &C, const std::pair<uint32_t, uint32_t> &V) {
        return C.First < V.first || (C.First == V.first && C.Second < V.second);
      });
  return It != End && It->First == A && It->Second == B ? It->CP : 0;
}
} // namespace

std::string toNfc(std::string_view S) {
  // Most text is already NFC; finding no code point that could change is
  // one cheap scan.
  bool Stable = true;
  for (size_t I = 0; I < S.size() && Stable;) {
    unsigned Len;
    uint32_t CP = decodeUtf8(S, I, Len);
    I += Len;
    if (CP >= 0x300 && CP != InvalidByte && lookupRange(NfcUnstableRanges, CP))
      Stable = false;
  }
  if (Stable)
    return std::string(S);

  std::vector<uint32_t> Buf;
  Buf.reserve(S.size());
  for (size_t I = 0; I < S.size();) {
    unsigned Len;
    uint32_t CP = decodeUtf8(S, I, Len);
    if (CP == InvalidByte)
      Buf.push_back(RawByteTag | static_cast<unsigned char>(S[I]));
    else
      decompose(CP, Buf);
    I += Len;
  }
  // Canonical ordering: a stable sort of each run of non-starters by class.
  for (size_t I = 1; I < Buf.size(); ++I) {
    uint8_t C = combiningClass(Buf[I]);
    if (C == 0)
      continue;
    for (size_t J = I; J > 0; --J) {
      uint8_t P = combiningClass(Buf[J - 1]);
      if (P == 0 || P <= C)
        break;
      std::swap(Buf[J - 1], Buf[J]);
    }
  }
  // Composition: each character joins the last starter unless a character
  // in between blocks it (class 0, or a class >= its own).
  std::vector<uint32_t> Out;
  Out.reserve(Buf.size());
  size_t Starter = SIZE_MAX;
  int LastClass = -1; // class of the last kept char after the starter
  for (uint32_t CP : Buf) {
    int C = combiningClass(CP);
    if (Starter != SIZE_MAX &&
        !(LastClass >= 0 && (LastClass == 0 || LastClass >= C))) {
      if (uint32_t Composite = compose(Out[Starter], CP)) {
        Out[Starter] = Composite;
        continue;
      }
    }
    if (C == 0) {
      Starter = (CP & RawByteTag) ? SIZE_MAX : Out.size();
      LastClass = -1;
    } else {
      LastClass = C;
    }
    Out.push_back(CP);
  }
  std::string Result;
  Result.reserve(S.size());
  for (uint32_t CP : Out) {
    if (CP & RawByteTag)
      Result += static_cast<char>(CP & 0xFF);
    else
      appendUtf8(Result, CP);
  }
  return Result;
}

} // namespace unicode
} // namespace monocard
