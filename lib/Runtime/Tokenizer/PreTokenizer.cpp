//===- PreTokenizer.cpp - Normalizers and pre-tokenizers ------------------===//
//
// The stages between the added-token split and the BPE model: normalizers
// rewrite the text, pre-tokenizers cut it into the words BPE sees. Both
// follow `tokenizers`' components of the same names, including how
// NormalizedString::split turns matches into pieces.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"
#include "Unicode.h"

#include <algorithm>

namespace monocard {
namespace tok {

using namespace unicode;

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

namespace {
std::string typeOf(const JsonValue &V) {
  const JsonValue *T = V.find("type");
  return T && T->isString() ? std::string(T->asString()) : std::string("?");
}

/// A Replace/Split pattern that is a plain string: {"String": "..."}.
bool stringPattern(const JsonValue &V, std::string_view What, std::string &Out,
                   std::string &Error) {
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
    for (const JsonValue &N : V.find("normalizers")
                                  ? V.find("normalizers")->array()
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
      size_t B = 0, E = Text.size();
      unsigned Len;
      if (S.Left)
        while (B < E && isSpace(decodeUtf8(Text, B, Len)))
          B += Len;
      if (S.Right)
        while (E > B) {
          size_t Start = E - 1; // back to the start of the last character
          while (Start > B &&
                 (static_cast<uint8_t>(Text[Start]) & 0xC0) == 0x80)
            --Start;
          if (!isSpace(decodeUtf8(Text, Start, Len)) || Start + Len != E)
            break;
          E = Start;
        }
      Text = Text.substr(B, E - B);
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
    for (const JsonValue &P :
         List ? List->array() : JsonArrayRange(nullptr, nullptr))
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
    std::string_view B =
        V.find("behavior") ? V.find("behavior")->asString() : "";
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
        Error = "unsupported Metaspace prepend_scheme '" + std::string(Scheme) +
                "'";
        return false;
      }
    } else {
      // Files older than prepend_scheme say add_prefix_space.
      S.Prepend = Flag("add_prefix_space", true) ? PrependScheme::Always
                                                 : PrependScheme::Never;
    }
    S.SplitOnReplacement = Flag("split", true);
  } else if (Type == "Digits") {
    S.K = PreTokenizerStep::Kind::Digits;
    S.IndividualDigits = Flag("individual_digits", false);
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
  case PreTokenizerStep::Kind::Digits:
    // Each numeric character (Rust's char::is_numeric: \p{N}) is a match;
    // runs of them stay together unless individual_digits.
    for (size_t I = 0; I < P.Text.size();) {
      unsigned Len;
      if (isNumber(decodeUtf8(P.Text, I, Len)))
        Matches.push_back({I, I + Len});
      I += Len;
    }
    tileMatches(P.Text, Matches, Ranges);
    splitByRanges(P, Ranges,
                  S.IndividualDigits ? SplitBehavior::Isolated
                                     : SplitBehavior::Contiguous,
                  false, Out);
    return;
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
