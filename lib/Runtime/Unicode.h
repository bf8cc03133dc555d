//===- Unicode.h - The Unicode the tokenizer needs --------------*- C++ -*-===//
//
// Private to lib/Runtime. UTF-8 decoding that never fails (so that arbitrary
// prompt bytes cannot crash the tokenizer), the character classes of the
// pre-tokenizer patterns, NFC, and Rust's from_utf8_lossy (which is what the
// Hugging Face decoders apply, so matching it matches their output exactly).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_RUNTIME_UNICODE_H
#define MONOCARD_LIB_RUNTIME_UNICODE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace monocard {
namespace unicode {

/// Marks a byte that does not start a well-formed UTF-8 sequence. Such a byte
/// decodes as one "character" of length 1 that belongs to no class.
constexpr uint32_t InvalidByte = 0xFFFFFFFFu;

/// Decodes the character at \p S[I]; sets \p Len to its length in bytes
/// (1..4). Returns InvalidByte (Len 1) for a malformed sequence.
uint32_t decodeUtf8(std::string_view S, size_t I, unsigned &Len);
/// Length of the well-formed sequence at \p S[I], or 0 if malformed.
unsigned validSequenceLength(std::string_view S, size_t I);
void appendUtf8(std::string &Out, uint32_t CP);
bool isValidUtf8(std::string_view S);

/// \p S with every maximal ill-formed subsequence replaced by U+FFFD, exactly
/// as Rust's String::from_utf8_lossy does.
std::string utf8Lossy(std::string_view S);

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

#endif // MONOCARD_LIB_RUNTIME_UNICODE_H
