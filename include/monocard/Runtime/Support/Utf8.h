//===- Utf8.h - UTF-8 decoding and validation -------------------*- C++ -*-===//
//
// UTF-8 that never fails (so that arbitrary prompt bytes cannot crash the
// tokenizer), and Rust's from_utf8_lossy (which is what the Hugging Face
// decoders apply). The JSON parser validates strings with it; the tokenizer
// adds character classes and NFC on top (lib/Runtime/Tokenizer/Unicode.h).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_SUPPORT_UTF8_H
#define MONOCARD_RUNTIME_SUPPORT_UTF8_H

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

} // namespace unicode
} // namespace monocard

#endif // MONOCARD_RUNTIME_SUPPORT_UTF8_H
