//===- SplitPatterns.cpp - The split regexes, as hand-written scanners ----===//
//
// The split regexes of GPT-2, Llama-3 and Qwen2 are run by scanners written
// for each pattern instead of a regex engine: the patterns are fixed, and a
// scanner is a screenful of code that is fast, allocation-free and has no
// dependency. Each scanner reproduces the engine's choices at one position:
// alternatives are tried in order, quantifiers are greedy and backtrack.
// Also here: GPT-2's byte-to-unicode map, which goes with those patterns.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"
#include "Unicode.h"

namespace monocard {
namespace tok {

using namespace unicode;

//===----------------------------------------------------------------------===//
// Split patterns
//===----------------------------------------------------------------------===//

namespace {
constexpr std::string_view Gpt2Regex =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";
constexpr std::string_view Llama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view Qwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

enum CharClass : uint8_t { Other, Letter, Number, Space, EndOfText };

struct CharInfo {
  uint32_t CP;
  uint32_t Offset; // byte offset in the text
  CharClass Class;
};

/// Decodes \p S into characters plus an end sentinel, so that scanners may
/// look one character ahead without bounds checks.
void classify(std::string_view S, std::vector<CharInfo> &C) {
  C.clear();
  for (size_t I = 0; I < S.size();) {
    unsigned Len;
    uint32_t CP = decodeUtf8(S, I, Len);
    CharClass Cl = CP == InvalidByte ? Other
                   : isSpace(CP)     ? Space
                   : isLetter(CP)    ? Letter
                   : isNumber(CP)    ? Number
                                     : Other;
    C.push_back({CP, static_cast<uint32_t>(I), Cl});
    I += Len;
  }
  C.push_back({0, static_cast<uint32_t>(S.size()), EndOfText});
}

size_t runOf(const std::vector<CharInfo> &C, size_t I, CharClass Cl) {
  while (C[I].Class == Cl)
    ++I;
  return I;
}

bool isNewline(uint32_t CP) { return CP == '\r' || CP == '\n'; }

/// `'s|'t|'re|'ve|'m|'ll|'d`: length in characters of the contraction at
/// \p I, or 0. With \p IgnoreCase, as `(?i:...)`: Unicode simple case
/// folding, under which U+017F LONG S matches 's' too.
size_t contraction(const std::vector<CharInfo> &C, size_t I, bool IgnoreCase) {
  if (C[I].CP != '\'')
    return 0;
  auto Fold = [IgnoreCase](uint32_t CP) -> uint32_t {
    if (!IgnoreCase)
      return CP;
    if (CP >= 'A' && CP <= 'Z')
      return CP + ('a' - 'A');
    return CP == 0x17F ? 's' : CP;
  };
  uint32_t A = Fold(C[I + 1].CP);
  if (A == 's' || A == 't' || A == 'm' || A == 'd')
    return 2;
  if (C[I + 1].Class == EndOfText)
    return 0;
  uint32_t B = Fold(C[I + 2].CP);
  if ((A == 'r' && B == 'e') || (A == 'v' && B == 'e') ||
      (A == 'l' && B == 'l'))
    return 3;
  return 0;
}

/// `\s+(?!\S)|\s+` at a whitespace character: the whole run at the end of
/// the text; otherwise the run less its last character, which is left to
/// prefix the next word; a single character if that is all there is.
size_t trailingSpaceRule(const std::vector<CharInfo> &C, size_t I) {
  size_t E = runOf(C, I, Space);
  if (C[E].Class == EndOfText)
    return E;
  return E - I >= 2 ? E - 1 : E;
}

/// End (character index) of the GPT-2 pattern's match at \p I.
size_t matchGpt2(const std::vector<CharInfo> &C, size_t I) {
  if (size_t L = contraction(C, I, /*IgnoreCase=*/false))
    return I + L;
  // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`: an optional space, then a run
  // of one class.
  size_t K = C[I].CP == ' ' && C[I + 1].Class < Space ? I + 1 : I;
  if (C[K].Class < Space)
    return runOf(C, K, C[K].Class);
  return trailingSpaceRule(C, I);
}

/// End (character index) of the Llama-3 pattern's match at \p I; Qwen2's
/// when \p MaxDigits is 1.
size_t matchLlama3(const std::vector<CharInfo> &C, size_t I, size_t MaxDigits) {
  if (size_t L = contraction(C, I, /*IgnoreCase=*/true))
    return I + L;
  const CharInfo &Ch = C[I];
  // `[^\r\n\p{L}\p{N}]?\p{L}+`
  if (Ch.Class == Letter)
    return runOf(C, I, Letter);
  if (Ch.Class != Number && !isNewline(Ch.CP) && C[I + 1].Class == Letter)
    return runOf(C, I + 1, Letter);
  // `\p{N}{1,3}`
  if (Ch.Class == Number) {
    size_t E = I + 1;
    while (E < I + MaxDigits && C[E].Class == Number)
      ++E;
    return E;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  size_t K = Ch.CP == ' ' && C[I + 1].Class == Other ? I + 1 : I;
  if (C[K].Class == Other) {
    size_t E = runOf(C, K, Other);
    while (isNewline(C[E].CP) && C[E].Class == Space)
      ++E;
    return E;
  }
  // `\s*[\r\n]+`: the whitespace run up to its last newline, if it has one
  // (the greedy \s* backs off just far enough for [\r\n]+).
  size_t E = runOf(C, I, Space);
  for (size_t J = E; J > I; --J)
    if (isNewline(C[J - 1].CP))
      return J;
  return trailingSpaceRule(C, I);
}
} // namespace

bool recognizeSplitPattern(std::string_view Regex, SplitPattern &Out) {
  if (Regex == Gpt2Regex)
    Out = SplitPattern::Gpt2;
  else if (Regex == Llama3Regex)
    Out = SplitPattern::Llama3;
  else if (Regex == Qwen2Regex)
    Out = SplitPattern::Qwen2;
  else
    return false;
  return true;
}

void findPatternMatches(SplitPattern P, std::string_view S,
                        std::vector<Span> &Out) {
  std::vector<CharInfo> C;
  classify(S, C);
  size_t N = C.size() - 1;
  for (size_t I = 0; I < N;) {
    size_t E = P == SplitPattern::Gpt2     ? matchGpt2(C, I)
               : P == SplitPattern::Llama3 ? matchLlama3(C, I, 3)
                                           : matchLlama3(C, I, 1);
    Out.push_back({C[I].Offset, C[E].Offset});
    I = E;
  }
}

//===----------------------------------------------------------------------===//
// GPT-2's byte-to-unicode map
//===----------------------------------------------------------------------===//

namespace {
/// Printable bytes stand for themselves; the others (controls, space, DEL,
/// NBSP, soft hyphen) are moved to U+0100 and up, in byte order.
struct ByteLevelTables {
  std::string Chars[256];
  int16_t ByteOf[324];
  ByteLevelTables() {
    for (int16_t &B : ByteOf)
      B = -1;
    uint32_t Next = 256;
    for (uint32_t B = 0; B < 256; ++B) {
      bool Printable = (B >= '!' && B <= '~') || (B >= 0xA1 && B <= 0xAC) ||
                       (B >= 0xAE && B <= 0xFF);
      uint32_t CP = Printable ? B : Next++;
      appendUtf8(Chars[B], CP);
      ByteOf[CP] = static_cast<int16_t>(B);
    }
  }
};
const ByteLevelTables &byteLevelTables() {
  static const ByteLevelTables Tables;
  return Tables;
}
} // namespace

std::string_view byteLevelChar(uint8_t B) { return byteLevelTables().Chars[B]; }

int byteLevelByte(uint32_t CP) {
  return CP < 324 ? byteLevelTables().ByteOf[CP] : -1;
}

} // namespace tok
} // namespace monocard
