//===- DType.cpp - Element types and their conversions --------------------===//

#include "monocard/Runtime/DType.h"

#include <cstring>

using namespace monocard;

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
// Element access through memcpy: checkpoint data is only byte-aligned.
inline float loadAsFloat(const unsigned char *P, DType T) {
  if (T == DType::F32) {
    float F;
    std::memcpy(&F, P, 4);
    return F;
  }
  uint16_t H = static_cast<uint16_t>(P[0] | (P[1] << 8));
  return T == DType::F16 ? halfToFloat(H) : bfloat16ToFloat(H);
}

inline void storeFromFloat(unsigned char *P, DType T, float F) {
  if (T == DType::F32) {
    std::memcpy(P, &F, 4);
    return;
  }
  uint16_t H = T == DType::F16 ? floatToHalf(F) : floatToBfloat16(F);
  P[0] = static_cast<unsigned char>(H & 0xff);
  P[1] = static_cast<unsigned char>(H >> 8);
}
} // namespace

void monocard::convertElements(const void *Src, DType From, void *Dst, DType To,
                               size_t Count) {
  const auto *S = static_cast<const unsigned char *>(Src);
  auto *D = static_cast<unsigned char *>(Dst);
  if (From == To) {
    std::memcpy(D, S, Count * dtypeSize(From));
    return;
  }
  size_t SS = dtypeSize(From), DS = dtypeSize(To);
  for (size_t I = 0; I < Count; ++I)
    storeFromFloat(D + I * DS, To, loadAsFloat(S + I * SS, From));
}
