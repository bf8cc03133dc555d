//===- Unicode.h - The Unicode the tokenizer needs --------------*- C++ -*-===//
//
// Private to lib/Runtime/Tokenizer. On top of UTF-8 (Support/Utf8.h): the
// character classes of the pre-tokenizer patterns and NFC.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_RUNTIME_TOKENIZER_UNICODE_H
#define MONOCARD_LIB_RUNTIME_TOKENIZER_UNICODE_H

#include "monocard/Runtime/Support/Utf8.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace monocard {
namespace unicode {

/// Character classes of the pre-tokenizer patterns (Oniguruma semantics).
bool isLetter(uint32_t CP); // \p{L}
bool isNumber(uint32_t CP); // \p{N}
bool isSpace(uint32_t CP);  // \s: the White_Space property
/// Rust regex's \w (Alphabetic, marks, Nd, Pc, Join_Control): what
/// `tokenizers` calls a word character for single_word added tokens.
bool isWordChar(uint32_t CP);

/// \p S in Normalization Form C. Invalid bytes pass through unchanged.
std::string toNfc(std::string_view S);

} // namespace unicode
} // namespace monocard

#endif // MONOCARD_LIB_RUNTIME_TOKENIZER_UNICODE_H
