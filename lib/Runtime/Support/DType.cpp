//===- DType.cpp - Element types and their conversions --------------------===//

#include "monocard/Runtime/Support/DType.h"

#include <cstring>

using namespace monocard;

std::string monocard::formatShape(const std::vector<int64_t> &Shape) {
  std::string S = "[";
  for (size_t I = 0; I < Shape.size(); ++I)
    S += (I ? ", " : "") + std::to_string(Shape[I]);
  return S + "]";
}

bool monocard::parseRecipeDType(std::string_view Name, DType &Out) {
  if (Name == "f32")
    Out = DType::F32;
  else if (Name == "f16")
    Out = DType::F16;
  else if (Name == "bf16")
    Out = DType::BF16;
  else
    return false;
  return true;
}

bool monocard::parseSafetensorsDType(std::string_view Name, DType &Out) {
  if (Name == "F32")
    Out = DType::F32;
  else if (Name == "F16")
    Out = DType::F16;
  else if (Name == "BF16")
    Out = DType::BF16;
  else
    return false;
  return true;
}

const char *monocard::dtypeName(DType T) {
  switch (T) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  }
  return "?";
}

size_t monocard::dtypeSize(DType T) { return T == DType::F32 ? 4 : 2; }

static uint32_t floatBits(float F) {
  uint32_t U;
  std::memcpy(&U, &F, 4);
  return U;
}

static float bitsFloat(uint32_t U) {
  float F;
  std::memcpy(&F, &U, 4);
  return F;
}

float monocard::bfloat16ToFloat(uint16_t B) {
  return bitsFloat(static_cast<uint32_t>(B) << 16);
}

float monocard::halfToFloat(uint16_t H) {
  uint32_t Sign = static_cast<uint32_t>(H & 0x8000) << 16;
  uint32_t Exp = (H >> 10) & 0x1f;
  uint32_t Mant = H & 0x3ff;
  if (Exp == 0x1f) // inf or nan; keep the payload (quiet bit included)
    return bitsFloat(Sign | 0x7f800000 | (Mant << 13));
  if (Exp != 0)
    return bitsFloat(Sign | ((Exp + 112) << 23) | (Mant << 13));
  if (Mant == 0)
    return bitsFloat(Sign);
  // Subnormal half: Mant * 2^-24, exact in f32.
  float V = static_cast<float>(Mant) * (1.0f / 16777216.0f);
  return Sign ? -V : V;
}

uint16_t monocard::floatToBfloat16(float F) {
  uint32_t U = floatBits(F);
  if ((U & 0x7fffffff) > 0x7f800000) // NaN: truncation could make it inf
    return static_cast<uint16_t>((U >> 16) | 0x40);
  // Round to nearest even; a carry into the exponent correctly rounds up to
  // the next binade or to inf.
  uint32_t Lsb = (U >> 16) & 1;
  return static_cast<uint16_t>((U + 0x7fff + Lsb) >> 16);
}

uint16_t monocard::floatToHalf(float F) {
  uint32_t U = floatBits(F);
  uint16_t Sign = static_cast<uint16_t>((U >> 16) & 0x8000);
  uint32_t Abs = U & 0x7fffffff;
  if (Abs > 0x7f800000) // NaN: keep the top payload bits, force quiet
    return Sign | 0x7e00 | static_cast<uint16_t>((Abs >> 13) & 0x3ff);
  if (Abs >= 0x477ff000) // >= 65520 rounds to inf (also inf itself)
    return Sign | 0x7c00;
  if (Abs >= 0x38800000) { // normal half range (>= 2^-14)
    // Rebias the exponent (127 -> 15), then round the 13 dropped bits to
    // nearest even; the carry may bump the exponent, which is still correct.
    uint32_t V = Abs - (112u << 23);
    uint32_t Lsb = (V >> 13) & 1;
    return Sign | static_cast<uint16_t>((V + 0xfff + Lsb) >> 13);
  }
  if (Abs < 0x33000000) // < 2^-25: rounds to zero (2^-25 itself ties to 0)
    return Sign;
  // Subnormal half: the value in units of 2^-24, rounded to nearest even.
  uint32_t Exp = Abs >> 23;
  uint32_t Mant = (Abs & 0x7fffff) | 0x800000; // implicit 1
  uint32_t Shift = 126 - Exp; // so that Mant >> Shift is in 2^-24 units
  uint32_t Q = Mant >> Shift;
  uint32_t Rem = Mant & ((1u << Shift) - 1);
  uint32_t Half = 1u << (Shift - 1);
  if (Rem > Half || (Rem == Half && (Q & 1)))
    ++Q; // may carry into the smallest normal, whose encoding is Q = 0x400
  return Sign | static_cast<uint16_t>(Q);
}

namespace {
// Branch-free forms of the conversions above, for the bulk loops: every
// case is computed and one is selected, so that -O3 vectorises the loops
// (with plain SSE2 too). Each gives the same bits as its scalar twin; the
// unit tests check f16 -> f32 exhaustively and f32 -> f16/bf16 on a dense
// sample of the 2^32 patterns. Element access is through memcpy:
// checkpoint data is only byte-aligned.

inline uint16_t load16(const unsigned char *P) {
  uint16_t H;
  std::memcpy(&H, P, 2);
  return H; // little-endian hosts only, as everywhere in the runtime
}

inline float halfToFloatFast(uint16_t H) {
  uint32_t Sign = static_cast<uint32_t>(H & 0x8000) << 16;
  uint32_t Exp = (H >> 10) & 0x1f;
  uint32_t Mant = H & 0x3ffu;
  uint32_t Normal = ((Exp + 112) << 23) | (Mant << 13);
  uint32_t Special = 0x7f800000 | (Mant << 13); // inf or nan, payload kept
  // Zero or subnormal: Mant * 2^-24, exact in f32.
  uint32_t Small = floatBits(static_cast<float>(static_cast<int32_t>(Mant)) *
                             (1.0f / 16777216.0f));
  uint32_t R = Exp == 0x1f ? Special : Exp != 0 ? Normal : Small;
  return bitsFloat(Sign | R);
}

inline uint16_t floatToHalfFast(float F) {
  uint32_t U = floatBits(F);
  uint32_t Sign = (U >> 16) & 0x8000;
  uint32_t Abs = U & 0x7fffffff;
  uint32_t NaN = 0x7e00 | ((Abs >> 13) & 0x3ff);
  // Normal range: rebias and round the 13 dropped bits to nearest even
  // (garbage outside that range, where it is not selected).
  uint32_t V = Abs - (112u << 23);
  uint32_t Normal = (V + 0xfff + ((V >> 13) & 1)) >> 13;
  // Below 2^-14: adding 0.5 (whose ulp is 2^-24, the half subnormal step)
  // rounds |F| to a multiple of 2^-24 to nearest even in the FPU; the
  // mantissa bits of the sum are the subnormal half (0x400 when it rounds
  // up to the smallest normal, whose encoding that is).
  uint32_t Small = floatBits(bitsFloat(Abs) + 0.5f) - 0x3f000000u;
  uint32_t R = Abs > 0x7f800000    ? NaN
               : Abs >= 0x477ff000 ? 0x7c00u
               : Abs >= 0x38800000 ? Normal
                                   : Small;
  return static_cast<uint16_t>(Sign | R);
}

inline uint16_t floatToBfloat16Fast(float F) {
  uint32_t U = floatBits(F);
  uint32_t NaN = (U >> 16) | 0x40;
  uint32_t R = (U + 0x7fff + ((U >> 16) & 1)) >> 16;
  return static_cast<uint16_t>((U & 0x7fffffff) > 0x7f800000 ? NaN : R);
}

inline float loadAsFloat(const unsigned char *P, DType T) {
  if (T == DType::F32) {
    float F;
    std::memcpy(&F, P, 4);
    return F;
  }
  uint16_t H = load16(P);
  return T == DType::F16 ? halfToFloatFast(H) : bfloat16ToFloat(H);
}

inline void storeFromFloat(unsigned char *P, DType T, float F) {
  if (T == DType::F32) {
    std::memcpy(P, &F, 4);
    return;
  }
  uint16_t H = T == DType::F16 ? floatToHalfFast(F) : floatToBfloat16Fast(F);
  std::memcpy(P, &H, 2);
}

/// One loop per (From, To) pair, the types fixed at compile time so the
/// body has no branches left.
template <DType From, DType To>
void convertLoop(const unsigned char *S, unsigned char *D, size_t Count) {
  constexpr size_t SS = From == DType::F32 ? 4 : 2;
  constexpr size_t DS = To == DType::F32 ? 4 : 2;
  for (size_t I = 0; I < Count; ++I)
    storeFromFloat(D + I * DS, To, loadAsFloat(S + I * SS, From));
}

template <DType From>
void convertFrom(const unsigned char *S, unsigned char *D, DType To,
                 size_t Count) {
  switch (To) {
  case DType::F32:
    return convertLoop<From, DType::F32>(S, D, Count);
  case DType::F16:
    return convertLoop<From, DType::F16>(S, D, Count);
  case DType::BF16:
    return convertLoop<From, DType::BF16>(S, D, Count);
  }
}
} // namespace

uint16_t monocard::floatToHalfBulkForm(float F) { return floatToHalfFast(F); }
float monocard::halfToFloatBulkForm(uint16_t H) { return halfToFloatFast(H); }
uint16_t monocard::floatToBfloat16BulkForm(float F) {
  return floatToBfloat16Fast(F);
}

void monocard::convertElements(const void *Src, DType From, void *Dst, DType To,
                               size_t Count) {
  const auto *S = static_cast<const unsigned char *>(Src);
  auto *D = static_cast<unsigned char *>(Dst);
  if (From == To) {
    std::memcpy(D, S, Count * dtypeSize(From));
    return;
  }
  switch (From) {
  case DType::F32:
    return convertFrom<DType::F32>(S, D, To, Count);
  case DType::F16:
    return convertFrom<DType::F16>(S, D, To, Count);
  case DType::BF16:
    return convertFrom<DType::BF16>(S, D, To, Count);
  }
}
