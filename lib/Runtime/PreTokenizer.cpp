//===- PreTokenizer.cpp - Normalizers, pre-tokenizers, split patterns -----===//
//
// The split regexes of GPT-2, Llama-3 and Qwen2 are run by scanners written
// for each pattern instead of a regex engine: the patterns are fixed, and a
// scanner is a screenful of code that is fast, allocation-free and has no
// dependency. Each scanner reproduces the engine's choices at one position:
// alternatives are tried in order, quantifiers are greedy and backtrack.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"
#include "Unicode.h"

#include <algorithm>

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
  if ((A == 'r' && B == 'e') || (A == 'v' && B == 'e') || (A == 'l' && B == 'l'))
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

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

namespace {
std::string typeOf(const JsonValue &V) {
  const JsonValue *T = V.find("type");
  return T && T->isString() ? std::string(T->asString()) : std::string("?");
}

/// A Replace/Split pattern that is a plain string: {"String": "..."}.
bool stringPattern(const JsonValue &V, std::string_view What,
                   std::string &Out, std::string &Error) {
  const JsonValue *P = V.find("pattern");
  const JsonValue *S = P ? P->find("String") : nullptr;
  if (S && S->isString()) {
    Out = std::string(S->asString());
    return true;
  }
  if (P && P->find("Regex"))
    Error = "unsupported regex pattern in " + std::string(What) + ": " +
            toJsonString(*P->find("Regex"));
  else
    Error = std::string(What) + " without a pattern";
  return false;
}

void replaceAll(std::string &S, std::string_view From, std::string_view To) {
  if (From.empty() || S.find(From) == std::string::npos)
    return;
  std::string Out;
  size_t Pos = 0;
  for (size_t Hit; (Hit = S.find(From, Pos)) != std::string::npos;
       Pos = Hit + From.size()) {
    Out.append(S, Pos, Hit - Pos);
    Out += To;
  }
  Out.append(S, Pos, std::string::npos);
  S.swap(Out);
}
} // namespace

bool parseNormalizer(const JsonValue &V, std::vector<NormalizerStep> &Steps,
                     std::string &Error) {
  if (V.isNull())
    return true;
  std::string Type = typeOf(V);
  if (Type == "Sequence") {
    for (const JsonValue &N : V.find("normalizers") ? V.find("normalizers")->array()
                                                    : JsonArrayRange(nullptr, nullptr))
      if (!parseNormalizer(N, Steps, Error))
        return false;
    return true;
  }
  NormalizerStep S;
  if (Type == "Prepend") {
    S.K = NormalizerStep::Kind::Prepend;
    const JsonValue *P = V.find("prepend");
    S.To = P ? std::string(P->asString()) : "";
  } else if (Type == "Replace") {
    S.K = NormalizerStep::Kind::Replace;
    if (!stringPattern(V, "normalizer Replace", S.From, Error))
      return false;
    const JsonValue *C = V.find("content");
    S.To = C ? std::string(C->asString()) : "";
  } else if (Type == "NFC") {
    S.K = NormalizerStep::Kind::Nfc;
  } else if (Type == "Strip") {
    S.K = NormalizerStep::Kind::Strip;
    const JsonValue *L = V.find("strip_left");
    const JsonValue *R = V.find("strip_right");
    S.Left = L && L->asBool();
    S.Right = R && R->asBool();
  } else {
    Error = "unsupported normalizer '" + Type + "'";
    return false;
  }
  Steps.push_back(std::move(S));
  return true;
}

void normalize(const std::vector<NormalizerStep> &Steps, std::string &Text) {
  for (const NormalizerStep &S : Steps) {
    switch (S.K) {
    case NormalizerStep::Kind::Prepend:
      if (!Text.empty())
        Text.insert(0, S.To);
      break;
    case NormalizerStep::Kind::Replace:
      replaceAll(Text, S.From, S.To);
      break;
    case NormalizerStep::Kind::Nfc:
      Text = toNfc(Text);
      break;
    case NormalizerStep::Kind::Strip: {
      std::vector<CharInfo> C;
      classify(Text, C);
      size_t B = 0, E = C.size() - 1;
      if (S.Left)
        while (B < E && C[B].Class == Space)
          ++B;
      if (S.Right)
        while (E > B && C[E - 1].Class == Space)
          --E;
      Text = Text.substr(C[B].Offset, C[E].Offset - C[B].Offset);
      break;
    }
    }
  }
}

//===----------------------------------------------------------------------===//
// Pre-tokenizers
//===----------------------------------------------------------------------===//

bool parsePreTokenizer(const JsonValue &V, std::vector<PreTokenizerStep> &Steps,
                       std::string &Error) {
  if (V.isNull())
    return true;
  std::string Type = typeOf(V);
  auto Flag = [&V](const char *Key, bool Default) {
    const JsonValue *F = V.find(Key);
    return F && F->isBool() ? F->asBool() : Default;
  };
  if (Type == "Sequence") {
    const JsonValue *List = V.find("pretokenizers");
    for (const JsonValue &P : List ? List->array() : JsonArrayRange(nullptr, nullptr))
      if (!parsePreTokenizer(P, Steps, Error))
        return false;
    return true;
  }
  PreTokenizerStep S;
  if (Type == "ByteLevel") {
    S.K = PreTokenizerStep::Kind::ByteLevel;
    S.AddPrefixSpace = Flag("add_prefix_space", true);
    S.UseRegex = Flag("use_regex", true);
  } else if (Type == "Split") {
    S.K = PreTokenizerStep::Kind::Split;
    const JsonValue *P = V.find("pattern");
    const JsonValue *Regex = P ? P->find("Regex") : nullptr;
    if (Regex && Regex->isString()) {
      if (!recognizeSplitPattern(Regex->asString(), S.Pattern)) {
        Error = "unsupported pre-tokenizer Split regex " +
                jsonQuote(Regex->asString()) +
                " (known: the GPT-2, Llama-3 and Qwen2 patterns)";
        return false;
      }
    } else {
      S.IsRegex = false;
      if (!stringPattern(V, "pre-tokenizer Split", S.Literal, Error))
        return false;
    }
    std::string_view B = V.find("behavior") ? V.find("behavior")->asString() : "";
    if (B == "Isolated")
      S.Behavior = SplitBehavior::Isolated;
    else if (B == "Removed")
      S.Behavior = SplitBehavior::Removed;
    else if (B == "MergedWithPrevious")
      S.Behavior = SplitBehavior::MergedWithPrevious;
    else if (B == "MergedWithNext")
      S.Behavior = SplitBehavior::MergedWithNext;
    else if (B == "Contiguous")
      S.Behavior = SplitBehavior::Contiguous;
    else {
      Error = "unsupported Split behavior '" + std::string(B) + "'";
      return false;
    }
    S.Invert = Flag("invert", false);
  } else if (Type == "Metaspace") {
    S.K = PreTokenizerStep::Kind::Metaspace;
    const JsonValue *R = V.find("replacement");
    S.Replacement = R ? std::string(R->asString()) : "\xE2\x96\x81";
    if (const JsonValue *P = V.find("prepend_scheme")) {
      std::string_view Scheme = P->asString();
      if (Scheme == "always")
        S.Prepend = PrependScheme::Always;
      else if (Scheme == "first")
        S.Prepend = PrependScheme::First;
      else if (Scheme == "never")
        S.Prepend = PrependScheme::Never;
      else {
        Error = "unsupported Metaspace prepend_scheme '" + std::string(Scheme) + "'";
        return false;
      }
    } else {
      // Files older than prepend_scheme say add_prefix_space.
      S.Prepend = Flag("add_prefix_space", true) ? PrependScheme::Always
                                                 : PrependScheme::Never;
    }
    S.SplitOnReplacement = Flag("split", true);
  } else {
    Error = "unsupported pre-tokenizer '" + Type + "'";
    return false;
  }
  Steps.push_back(std::move(S));
  return true;
}

namespace {
struct Piece {
  std::string Text;
  bool AtStart; // begins at offset 0 of the input
};

/// `tokenizers`' NormalizedString::split: \p Ranges tile \p P.Text and say
/// whether each is a match; \p B decides what becomes a piece.
void splitByRanges(const Piece &P, std::vector<std::pair<Span, bool>> &Ranges,
                   SplitBehavior B, bool Invert, std::vector<Piece> &Out) {
  if (Invert)
    for (auto &R : Ranges)
      R.second = !R.second;
  std::vector<std::pair<Span, bool>> Splits; // (range, remove)
  bool Prev = false;
  switch (B) {
  case SplitBehavior::Isolated:
    for (auto &R : Ranges)
      Splits.push_back({R.first, false});
    break;
  case SplitBehavior::Removed:
    Splits = Ranges;
    break;
  case SplitBehavior::Contiguous:
    for (auto &R : Ranges) {
      if (R.second == Prev && !Splits.empty())
        Splits.back().first.End = R.first.End;
      else
        Splits.push_back({R.first, false});
      Prev = R.second;
    }
    break;
  case SplitBehavior::MergedWithPrevious:
    for (auto &R : Ranges) {
      if (R.second && !Prev && !Splits.empty())
        Splits.back().first.End = R.first.End;
      else
        Splits.push_back({R.first, false});
      Prev = R.second;
    }
    break;
  case SplitBehavior::MergedWithNext:
    for (size_t I = Ranges.size(); I-- > 0;) {
      auto &R = Ranges[I];
      if (R.second && !Prev && !Splits.empty())
        Splits.back().first.Begin = R.first.Begin;
      else
        Splits.push_back({R.first, false});
      Prev = R.second;
    }
    std::reverse(Splits.begin(), Splits.end());
    break;
  }
  for (auto &S : Splits)
    if (!S.second && S.first.End > S.first.Begin)
      Out.push_back({P.Text.substr(S.first.Begin, S.first.End - S.first.Begin),
                     P.AtStart && S.first.Begin == 0});
}

/// Matches (true) and the gaps between them (false), tiling \p Text.
void tileMatches(std::string_view Text, const std::vector<Span> &Matches,
                 std::vector<std::pair<Span, bool>> &Out) {
  Out.clear();
  size_t Pos = 0;
  for (const Span &M : Matches) {
    if (M.Begin > Pos)
      Out.push_back({{Pos, M.Begin}, false});
    Out.push_back({M, true});
    Pos = M.End;
  }
  if (Pos < Text.size())
    Out.push_back({{Pos, Text.size()}, false});
}

void literalMatches(std::string_view Text, std::string_view Lit,
                    std::vector<Span> &Out) {
  if (Lit.empty())
    return;
  for (size_t Pos = 0; (Pos = Text.find(Lit, Pos)) != std::string_view::npos;
       Pos += Lit.size())
    Out.push_back({Pos, Pos + Lit.size()});
}

void applyStep(const PreTokenizerStep &S, const Piece &P,
               std::vector<Piece> &Out) {
  std::vector<Span> Matches;
  std::vector<std::pair<Span, bool>> Ranges;
  switch (S.K) {
  case PreTokenizerStep::Kind::Split:
    if (S.IsRegex)
      findPatternMatches(S.Pattern, P.Text, Matches);
    else
      literalMatches(P.Text, S.Literal, Matches);
    tileMatches(P.Text, Matches, Ranges);
    splitByRanges(P, Ranges, S.Behavior, S.Invert, Out);
    return;
  case PreTokenizerStep::Kind::ByteLevel: {
    Piece Q = P;
    if (S.AddPrefixSpace && (Q.Text.empty() || Q.Text[0] != ' '))
      Q.Text.insert(0, 1, ' ');
    std::vector<Piece> Split;
    if (S.UseRegex) {
      findPatternMatches(SplitPattern::Gpt2, Q.Text, Matches);
      tileMatches(Q.Text, Matches, Ranges);
      splitByRanges(Q, Ranges, SplitBehavior::Isolated, false, Split);
    } else {
      Split.push_back(std::move(Q));
    }
    // Every byte becomes its printable stand-in character.
    for (Piece &W : Split) {
      std::string Mapped;
      Mapped.reserve(W.Text.size() * 2);
      for (char C : W.Text)
        Mapped += byteLevelChar(static_cast<uint8_t>(C));
      Out.push_back({std::move(Mapped), W.AtStart});
    }
    return;
  }
  case PreTokenizerStep::Kind::Metaspace: {
    Piece Q = P;
    replaceAll(Q.Text, " ", S.Replacement);
    bool Starts = Q.Text.compare(0, S.Replacement.size(), S.Replacement) == 0;
    if (!Starts && (S.Prepend == PrependScheme::Always ||
                    (S.Prepend == PrependScheme::First && Q.AtStart)))
      Q.Text.insert(0, S.Replacement);
    if (!S.SplitOnReplacement) {
      Out.push_back(std::move(Q));
      return;
    }
    literalMatches(Q.Text, S.Replacement, Matches);
    tileMatches(Q.Text, Matches, Ranges);
    splitByRanges(Q, Ranges, SplitBehavior::MergedWithNext, false, Out);
    return;
  }
  }
}
} // namespace

void preTokenize(const std::vector<PreTokenizerStep> &Steps,
                 std::string_view Text, bool AtStart,
                 std::vector<std::string> &Words) {
  std::vector<Piece> Pieces{{std::string(Text), AtStart}}, Next;
  for (const PreTokenizerStep &S : Steps) {
    Next.clear();
    for (const Piece &P : Pieces)
      applyStep(S, P, Next);
    Pieces.swap(Next);
  }
  for (Piece &P : Pieces)
    if (!P.Text.empty())
      Words.push_back(std::move(P.Text));
}

} // namespace tok
} // namespace monocard
