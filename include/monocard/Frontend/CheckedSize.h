//===- CheckedSize.h - size products that cannot wrap -----------*- C++ -*-===//
//
// Element counts and byte sizes come from files a user hands us (shapes in
// safetensors headers, sizes in config.json, static shapes in IR). A product
// that wraps past 2^64 turns a hostile input into a small allocation or an
// out-of-memory abort deep in LLVM, so every such product goes through here
// and an overflow becomes an error naming what was being sized.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_FRONTEND_CHECKEDSIZE_H
#define MONOCARD_FRONTEND_CHECKEDSIZE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/MathExtras.h"

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace monocard {

/// a * b, or nullopt if it does not fit in 64 bits.
inline std::optional<uint64_t> checkedMul(uint64_t a, uint64_t b) {
  uint64_t r;
  // llvm::MulOverflow is for signed types only.
  if (__builtin_mul_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

/// a + b, or nullopt if it does not fit in 64 bits.
inline std::optional<uint64_t> checkedAdd(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

/// The product of non-negative sizes, or nullopt if a factor is negative or
/// the product does not fit in int64 (MLIR's shapes and offsets are int64).
inline std::optional<int64_t> checkedProduct(llvm::ArrayRef<int64_t> sizes) {
  int64_t r = 1;
  for (int64_t s : sizes)
    if (s < 0 || llvm::MulOverflow(r, s, r))
      return std::nullopt;
  return r;
}

inline std::optional<int64_t>
checkedProduct(std::initializer_list<int64_t> sizes) {
  return checkedProduct(llvm::ArrayRef<int64_t>(sizes));
}

} // namespace monocard

#endif // MONOCARD_FRONTEND_CHECKEDSIZE_H
