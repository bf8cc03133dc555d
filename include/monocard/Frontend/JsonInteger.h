//===- JsonInteger.h - JSON numbers read as int64 without UB ----*- C++ -*-===//
//
// llvm::json::Value::getAsInteger accepts a double equal to 2^63 (its bound
// is double(INT64_MAX), which rounds up) and then converts it to int64_t,
// which is undefined behaviour. Sizes and offsets read from user files go
// through this instead.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_FRONTEND_JSONINTEGER_H
#define MONOCARD_FRONTEND_JSONINTEGER_H

#include "llvm/Support/JSON.h"

#include <cstdint>
#include <limits>
#include <optional>

namespace monocard {

/// The value as an int64 if it is an integer-valued number that fits one
/// exactly; nullopt for fractions, NaN, infinities and anything out of range.
inline std::optional<int64_t> exactInt64(const llvm::json::Value &v) {
  // Non-negative integer literals (and only they) come back exactly here.
  if (std::optional<uint64_t> u = v.getAsUINT64()) {
    if (*u > uint64_t(std::numeric_limits<int64_t>::max()))
      return std::nullopt;
    return int64_t(*u);
  }
  // getAsInteger is exact for negative literals and safe for doubles below
  // 2^63; it already rejects fractions, NaN and infinities.
  std::optional<double> d = v.getAsNumber();
  if (!d || *d >= 9223372036854775808.0)
    return std::nullopt;
  return v.getAsInteger();
}

} // namespace monocard

#endif // MONOCARD_FRONTEND_JSONINTEGER_H
