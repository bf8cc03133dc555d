//===- SupportTests.cpp - Unit tests of the Support room ------------------===//
//
// Dtype conversions (exhaustive where the domain is 16 bits) and .npy
// headers.
//
//===----------------------------------------------------------------------===//

#include "UnitTest.h"

#include "monocard/Runtime/Support/DType.h"
#include "monocard/Runtime/Support/Npy.h"

#include <cmath>
#include <cstring>

using namespace monocard;

static float bits(uint32_t U) {
  float F;
  std::memcpy(&F, &U, 4);
  return F;
}

static void testDType() {
  // Every half widens exactly and narrows back to itself (NaNs stay NaN).
  int Bad = 0;
  for (uint32_t H = 0; H < 65536; ++H) {
    float F = halfToFloat(static_cast<uint16_t>(H));
    uint16_t Back = floatToHalf(F);
    bool IsNaN = (H & 0x7c00) == 0x7c00 && (H & 0x3ff);
    Bad += IsNaN ? !std::isnan(F) || (Back & 0x7fff) <= 0x7c00 : Back != H;
    Bad += bfloat16ToFloat(floatToBfloat16(bfloat16ToFloat(
               static_cast<uint16_t>(H)))) != bfloat16ToFloat(H) &&
           !std::isnan(bfloat16ToFloat(H));
  }
  CHECK(Bad == 0);
  CHECK(halfToFloat(0x0001) == std::ldexp(1.0f, -24)); // smallest subnormal
  CHECK(halfToFloat(0x7bff) == 65504.0f);
  CHECK(floatToHalf(65519.0f) == 0x7bff); // below the halfway point
  CHECK(floatToHalf(65520.0f) == 0x7c00); // ties to even = inf
  CHECK(floatToHalf(1e10f) == 0x7c00);
  CHECK(floatToHalf(-std::numeric_limits<float>::infinity()) == 0xfc00);
  CHECK(floatToHalf(std::ldexp(1.0f, -25)) == 0x0000); // tie to even: 0
  CHECK(floatToHalf(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(floatToHalf(std::ldexp(3.0f, -25)) == 0x0002); // 1.5 ulp ties to 2
  CHECK(floatToHalf(bits(0x387fe000)) == 0x0400);      // rounds up to normal
  CHECK(floatToHalf(1.0f + std::ldexp(1.0f, -11)) == 0x3c00); // tie to even
  CHECK(floatToHalf(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);
  CHECK(floatToHalf(-0.0f) == 0x8000);
  CHECK((floatToHalf(std::numeric_limits<float>::quiet_NaN()) & 0x7e00) ==
        0x7e00);
  CHECK(floatToBfloat16(bits(0x3f808000)) == 0x3f80); // tie to even (down)
  CHECK(floatToBfloat16(bits(0x3f818000)) == 0x3f82); // tie to even (up)
  CHECK(floatToBfloat16(bits(0x3f808001)) == 0x3f81);
  CHECK(floatToBfloat16(bits(0x7f7fffff)) == 0x7f80); // max float -> inf
  CHECK(floatToBfloat16(bits(0x7f800001)) != 0x7f80); // NaN stays NaN
  CHECK(floatToBfloat16(bits(0x00000001)) == 0x0000); // f32 subnormal
  // Bulk conversion, unaligned buffers, through f32.
  unsigned char Src[9] = {0, 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}, Dst[13];
  convertElements(Src + 1, DType::F16, Dst + 1, DType::F32, 3);
  float Out[3];
  std::memcpy(Out, Dst + 1, 12);
  CHECK(Out[0] == 1.0f && Out[1] == -2.0f && Out[2] == std::ldexp(1.0f, -24));
  // The bulk loops' branch-free forms agree with the scalar ones: f16 -> f32
  // on all 2^16 patterns, f32 -> f16/bf16 on every 2^32 / 4099th pattern
  // plus all patterns around the f16 subnormal, overflow and NaN edges
  // (checked exhaustively once by hand).
  int BadBulk = 0;
  for (uint32_t H = 0; H < 65536; ++H) {
    float A = halfToFloat(static_cast<uint16_t>(H));
    float B = halfToFloatBulkForm(static_cast<uint16_t>(H));
    BadBulk += std::memcmp(&A, &B, 4) != 0;
  }
  auto CheckNarrow = [&](uint32_t U) {
    float F = bits(U);
    BadBulk += floatToHalfBulkForm(F) != floatToHalf(F);
    BadBulk += floatToBfloat16BulkForm(F) != floatToBfloat16(F);
  };
  for (uint64_t U = 0; U < (1ull << 32); U += 4099)
    CheckNarrow(static_cast<uint32_t>(U));
  for (uint32_t Edge : {0x33000000u, 0x38800000u, 0x477ff000u, 0x7f800000u})
    for (uint32_t D = 0; D < 8192; ++D)
      for (uint32_t Sign : {0u, 0x80000000u}) {
        CheckNarrow(Sign | (Edge + D));
        CheckNarrow(Sign | (Edge - D - 1));
      }
  CHECK(BadBulk == 0);
  DType T;
  CHECK(parseRecipeDType("bf16", T) && T == DType::BF16);
  CHECK(!parseRecipeDType("BF16", T) && parseSafetensorsDType("BF16", T));
  CHECK(!parseSafetensorsDType("I8", T));
}

static void testNpy() {
  std::string H = npyHeaderF32(3, 2048);
  CHECK(H.size() == 128 && H.compare(0, 6, "\x93NUMPY") == 0);
  CHECK(H.find("'descr': '<f4', 'fortran_order': False, "
               "'shape': (3, 2048), }") != std::string::npos);
  CHECK(H.back() == '\n' && H[8] == 118 && H[9] == 0);
}

void runSupportTests() {
  testDType();
  testNpy();
}
