//===- DType.h - Element types of packed and checkpoint tensors -*- C++ -*-===//
//
// The floating-point element types the packer reads from safetensors and
// writes into a .weights file, exact conversions between them, and how
// messages print a shape.
//
// Conversions go through f32: f16 and bf16 both widen to f32 exactly, so a
// narrowing step from f32 is the only rounding and every conversion is
// correctly rounded (round-to-nearest-even, with inf/nan kept and subnormals
// produced and consumed).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_SUPPORT_DTYPE_H
#define MONOCARD_RUNTIME_SUPPORT_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace monocard {

enum class DType : uint8_t { F32, F16, BF16 };

/// Parses a recipe dtype ("f32", "f16", "bf16"); false if unknown.
bool parseRecipeDType(std::string_view Name, DType &Out);
/// Parses a safetensors dtype ("F32", "F16", "BF16"); false if unknown.
bool parseSafetensorsDType(std::string_view Name, DType &Out);
/// The recipe spelling: "f32", "f16" or "bf16".
const char *dtypeName(DType T);
/// Bytes per element.
size_t dtypeSize(DType T);

/// Scalar conversions (bit patterns for the 16-bit types).
float halfToFloat(uint16_t H);
float bfloat16ToFloat(uint16_t B);
uint16_t floatToHalf(float F);     // round-to-nearest-even
uint16_t floatToBfloat16(float F); // round-to-nearest-even; NaN stays NaN

/// The branch-free forms convertElements uses (vectorisable; they assume
/// the default round-to-nearest FPU mode). Same results as the above; for
/// the unit tests.
float halfToFloatBulkForm(uint16_t H);
uint16_t floatToHalfBulkForm(float F);
uint16_t floatToBfloat16BulkForm(float F);

/// Converts \p Count elements from \p Src (of type \p From) to \p Dst (of
/// type \p To). Buffers need no alignment and must not overlap; elements are
/// little-endian, as in safetensors and .weights files.
void convertElements(const void *Src, DType From, void *Dst, DType To,
                     size_t Count);

/// "[2048, 256]": a shape as messages print it.
std::string formatShape(const std::vector<int64_t> &Shape);

} // namespace monocard

#endif // MONOCARD_RUNTIME_SUPPORT_DTYPE_H
