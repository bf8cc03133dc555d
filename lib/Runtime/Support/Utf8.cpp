//===- Utf8.cpp - UTF-8 decoding and validation ---------------------------===//
//
// Moved out of the tokenizer's Unicode.cpp so that the JSON parser (which
// validates strings) does not depend on the tokenizer's character tables.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Support/Utf8.h"

namespace monocard {
namespace unicode {

unsigned validSequenceLength(std::string_view S, size_t I) {
  const unsigned char *P =
      reinterpret_cast<const unsigned char *>(S.data()) + I;
  size_t Avail = S.size() - I;
  unsigned char C = P[0];
  if (C < 0x80)
    return 1;
  unsigned N;
  unsigned char Lo = 0x80, Hi = 0xBF; // valid range of the second byte
  if (C >= 0xC2 && C <= 0xDF) {
    N = 2;
  } else if (C >= 0xE0 && C <= 0xEF) {
    N = 3;
    if (C == 0xE0)
      Lo = 0xA0; // overlong
    else if (C == 0xED)
      Hi = 0x9F; // surrogates
  } else if (C >= 0xF0 && C <= 0xF4) {
    N = 4;
    if (C == 0xF0)
      Lo = 0x90; // overlong
    else if (C == 0xF4)
      Hi = 0x8F; // above U+10FFFF
  } else {
    return 0;
  }
  if (Avail < N || P[1] < Lo || P[1] > Hi)
    return 0;
  for (unsigned K = 2; K < N; ++K)
    if ((P[K] & 0xC0) != 0x80)
      return 0;
  return N;
}

uint32_t decodeUtf8(std::string_view S, size_t I, unsigned &Len) {
  unsigned char C = static_cast<unsigned char>(S[I]);
  if (C < 0x80) {
    Len = 1;
    return C;
  }
  unsigned N = validSequenceLength(S, I);
  if (N == 0) {
    Len = 1;
    return InvalidByte;
  }
  Len = N;
  const unsigned char *P =
      reinterpret_cast<const unsigned char *>(S.data()) + I;
  uint32_t CP = C & (N == 2 ? 0x1F : N == 3 ? 0x0F : 0x07);
  for (unsigned K = 1; K < N; ++K)
    CP = (CP << 6) | (P[K] & 0x3F);
  return CP;
}

void appendUtf8(std::string &Out, uint32_t CP) {
  if (CP < 0x80) {
    Out += static_cast<char>(CP);
  } else if (CP < 0x800) {
    Out += static_cast<char>(0xC0 | (CP >> 6));
    Out += static_cast<char>(0x80 | (CP & 0x3F));
  } else if (CP < 0x10000) {
    Out += static_cast<char>(0xE0 | (CP >> 12));
    Out += static_cast<char>(0x80 | ((CP >> 6) & 0x3F));
    Out += static_cast<char>(0x80 | (CP & 0x3F));
  } else {
    Out += static_cast<char>(0xF0 | (CP >> 18));
    Out += static_cast<char>(0x80 | ((CP >> 12) & 0x3F));
    Out += static_cast<char>(0x80 | ((CP >> 6) & 0x3F));
    Out += static_cast<char>(0x80 | (CP & 0x3F));
  }
}

bool isValidUtf8(std::string_view S) {
  for (size_t I = 0; I < S.size();) {
    unsigned N = validSequenceLength(S, I);
    if (N == 0)
      return false;
    I += N;
  }
  return true;
}

std::string utf8Lossy(std::string_view S) {
  std::string Out;
  Out.reserve(S.size());
  const unsigned char *P = reinterpret_cast<const unsigned char *>(S.data());
  for (size_t I = 0; I < S.size();) {
    unsigned N = validSequenceLength(S, I);
    if (N) {
      Out.append(S.data() + I, N);
      I += N;
      continue;
    }
    // The maximal subpart: a valid lead byte followed by as many bytes as
    // could still continue it. Each subpart becomes one U+FFFD.
    unsigned char C = P[I];
    size_t Skip = 1;
    unsigned Need = C >= 0xC2 && C <= 0xDF   ? 2
                    : C >= 0xE0 && C <= 0xEF ? 3
                    : C >= 0xF0 && C <= 0xF4 ? 4
                                             : 0;
    if (Need && I + 1 < S.size()) {
      unsigned char Lo = C == 0xE0 ? 0xA0 : C == 0xF0 ? 0x90 : 0x80;
      unsigned char Hi = C == 0xED ? 0x9F : C == 0xF4 ? 0x8F : 0xBF;
      if (P[I + 1] >= Lo && P[I + 1] <= Hi) {
        Skip = 2;
        while (Skip < Need && I + Skip < S.size() &&
               (P[I + Skip] & 0xC0) == 0x80)
          ++Skip;
      }
    }
    Out += "\xEF\xBF\xBD";
    I += Skip;
  }
  return Out;
}

} // namespace unicode
} // namespace monocard
