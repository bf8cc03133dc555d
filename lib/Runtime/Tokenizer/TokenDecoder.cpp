//===- TokenDecoder.cpp - Decoders of tokenizer.json, streaming -----------===//
//
// Each decoder is a step over the list of token strings, as `tokenizers`'
// Decoder::decode_chain is; the chain's output is joined. Matching those
// steps exactly (including their quirks: Metaspace drops every ▁ of the first
// token, ByteFallback turns each byte of an invalid run into one U+FFFD)
// keeps our text identical to the reference.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"
#include "Unicode.h"

#include "monocard/Runtime/Tokenizer/Tokenizer.h"

namespace monocard {
namespace tok {

using namespace unicode;

namespace {
/// The single character of \p S, or sets \p Error.
bool singleChar(std::string_view S, uint32_t &Out) {
  if (S.empty())
    return false;
  unsigned Len;
  Out = decodeUtf8(S, 0, Len);
  return Out != InvalidByte && Len == S.size();
}

/// "<0xAB>" -> 0xAB, or -1.
int byteFallbackValue(std::string_view T) {
  if (T.size() != 6 || T.compare(0, 3, "<0x") != 0 || T[5] != '>')
    return -1;
  int V = 0;
  for (char C : T.substr(3, 2)) {
    int D = C >= '0' && C <= '9'   ? C - '0'
            : C >= 'A' && C <= 'F' ? C - 'A' + 10
            : C >= 'a' && C <= 'f' ? C - 'a' + 10
                                   : -1;
    if (D < 0)
      return -1;
    V = V * 16 + D;
  }
  return V;
}
} // namespace

bool parseDecoder(const JsonValue &V, std::vector<DecoderStep> &Steps,
                  bool &HasDecoder, std::string &Error) {
  if (V.isNull())
    return true;
  HasDecoder = true;
  const JsonValue *T = V.find("type");
  std::string Type = T && T->isString() ? std::string(T->asString()) : "?";
  if (Type == "Sequence") {
    const JsonValue *List = V.find("decoders");
    for (const JsonValue &D :
         List ? List->array() : JsonArrayRange(nullptr, nullptr))
      if (!parseDecoder(D, Steps, HasDecoder, Error))
        return false;
    return true;
  }
  DecoderStep S;
  if (Type == "ByteLevel") {
    S.K = DecoderStep::Kind::ByteLevel;
  } else if (Type == "ByteFallback") {
    S.K = DecoderStep::Kind::ByteFallback;
  } else if (Type == "Fuse") {
    S.K = DecoderStep::Kind::Fuse;
  } else if (Type == "Replace") {
    S.K = DecoderStep::Kind::Replace;
    const JsonValue *P = V.find("pattern");
    const JsonValue *Str = P ? P->find("String") : nullptr;
    if (!Str || !Str->isString()) {
      Error = "unsupported decoder Replace pattern " +
              (P ? toJsonString(*P) : std::string("(none)"));
      return false;
    }
    S.From = std::string(Str->asString());
    const JsonValue *C = V.find("content");
    S.To = C ? std::string(C->asString()) : "";
  } else if (Type == "Strip") {
    S.K = DecoderStep::Kind::Strip;
    const JsonValue *C = V.find("content");
    if (!C || !singleChar(C->asString(), S.Content)) {
      Error = "decoder Strip needs a one-character 'content'";
      return false;
    }
    const JsonValue *Start = V.find("start");
    const JsonValue *Stop = V.find("stop");
    S.Start =
        Start ? static_cast<size_t>(std::max<int64_t>(0, Start->asInt())) : 0;
    S.Stop =
        Stop ? static_cast<size_t>(std::max<int64_t>(0, Stop->asInt())) : 0;
  } else if (Type == "Metaspace") {
    S.K = DecoderStep::Kind::Metaspace;
    const JsonValue *R = V.find("replacement");
    if (R && !singleChar(R->asString(), S.Replacement)) {
      Error = "decoder Metaspace needs a one-character 'replacement'";
      return false;
    }
    if (const JsonValue *P = V.find("prepend_scheme"))
      S.Prepend = P->asString() == "never"   ? PrependScheme::Never
                  : P->asString() == "first" ? PrependScheme::First
                                             : PrependScheme::Always;
    else if (const JsonValue *A = V.find("add_prefix_space"))
      S.Prepend = A->asBool() ? PrependScheme::Always : PrependScheme::Never;
  } else {
    Error = "unsupported decoder '" + Type + "'";
    return false;
  }
  Steps.push_back(std::move(S));
  return true;
}

namespace {
void decodeByteLevel(std::vector<std::string> &Tokens) {
  // All tokens become one byte string, then lossy UTF-8.
  std::string Bytes;
  for (const std::string &T : Tokens) {
    size_t Mark = Bytes.size();
    bool AllMapped = true;
    for (size_t I = 0; I < T.size();) {
      unsigned Len;
      uint32_t CP = decodeUtf8(T, I, Len);
      int B = CP == InvalidByte ? -1 : byteLevelByte(CP);
      if (B < 0) {
        AllMapped = false;
        break;
      }
      Bytes += static_cast<char>(B);
      I += Len;
    }
    // A token with a character outside the map (an added token such as
    // "<|思考|>") stands for its own UTF-8.
    if (!AllMapped) {
      Bytes.resize(Mark);
      Bytes += T;
    }
  }
  Tokens.assign(1, utf8Lossy(Bytes));
}

void decodeByteFallback(std::vector<std::string> &Tokens) {
  std::vector<std::string> Out;
  std::string Run;
  auto Flush = [&] {
    if (Run.empty())
      return;
    if (isValidUtf8(Run))
      Out.push_back(Run);
    else
      for (size_t I = 0; I < Run.size(); ++I)
        Out.push_back("\xEF\xBF\xBD");
    Run.clear();
  };
  for (std::string &T : Tokens) {
    int B = byteFallbackValue(T);
    if (B >= 0) {
      Run += static_cast<char>(B);
      continue;
    }
    Flush();
    Out.push_back(std::move(T));
  }
  Flush();
  Tokens.swap(Out);
}

void decodeStrip(const DecoderStep &S, std::string &T) {
  // Up to Start copies of the character at the front, Stop at the back.
  size_t Begin = 0;
  for (size_t N = 0; N < S.Start && Begin < T.size(); ++N) {
    unsigned Len;
    if (decodeUtf8(T, Begin, Len) != S.Content)
      break;
    Begin += Len;
  }
  size_t End = T.size();
  std::string Enc;
  appendUtf8(Enc, S.Content);
  for (size_t N = 0; N < S.Stop && End >= Begin + Enc.size(); ++N) {
    if (T.compare(End - Enc.size(), Enc.size(), Enc) != 0)
      break;
    End -= Enc.size();
  }
  T = T.substr(Begin, End - Begin);
}

void decodeMetaspace(const DecoderStep &S, std::vector<std::string> &Tokens) {
  std::string Rep;
  appendUtf8(Rep, S.Replacement);
  for (size_t I = 0; I < Tokens.size(); ++I) {
    std::string &T = Tokens[I];
    if (T.find(Rep) == std::string::npos)
      continue;
    // Every ▁ of the first token is dropped, not only a leading one.
    bool Drop = I == 0 && S.Prepend != PrependScheme::Never;
    std::string Out;
    for (size_t Pos = 0;;) {
      size_t Hit = T.find(Rep, Pos);
      Out.append(T, Pos,
                 Hit == std::string::npos ? std::string::npos : Hit - Pos);
      if (Hit == std::string::npos)
        break;
      if (!Drop)
        Out += ' ';
      Pos = Hit + Rep.size();
    }
    T.swap(Out);
  }
}

void replaceIn(std::string &T, const std::string &From, const std::string &To) {
  if (From.empty())
    return;
  std::string Out;
  size_t Pos = 0;
  for (size_t Hit; (Hit = T.find(From, Pos)) != std::string::npos;
       Pos = Hit + From.size())
    Out.append(T, Pos, Hit - Pos).append(To);
  if (Pos == 0)
    return;
  Out.append(T, Pos, std::string::npos);
  T.swap(Out);
}
} // namespace

std::string runDecoders(const std::vector<DecoderStep> &Steps,
                        std::vector<std::string> Tokens) {
  for (const DecoderStep &S : Steps) {
    switch (S.K) {
    case DecoderStep::Kind::ByteLevel:
      decodeByteLevel(Tokens);
      break;
    case DecoderStep::Kind::ByteFallback:
      decodeByteFallback(Tokens);
      break;
    case DecoderStep::Kind::Fuse: {
      std::string All;
      for (const std::string &T : Tokens)
        All += T;
      Tokens.assign(1, std::move(All));
      break;
    }
    case DecoderStep::Kind::Replace:
      for (std::string &T : Tokens)
        replaceIn(T, S.From, S.To);
      break;
    case DecoderStep::Kind::Strip:
      for (std::string &T : Tokens)
        decodeStrip(S, T);
      break;
    case DecoderStep::Kind::Metaspace:
      decodeMetaspace(S, Tokens);
      break;
    }
  }
  std::string Out;
  for (const std::string &T : Tokens)
    Out += T;
  return Out;
}

} // namespace tok

//===----------------------------------------------------------------------===//
// TokenStreamDecoder: `tokenizers`' DecodeStream.
//===----------------------------------------------------------------------===//

TokenStreamDecoder::TokenStreamDecoder(const Tokenizer &Tok,
                                       bool SkipSpecialTokens)
    : Tok(Tok), SkipSpecial(SkipSpecialTokens) {}

void TokenStreamDecoder::prime(const int32_t *Ids, size_t NumIds) {
  // A few tokens of context are enough for every decoder we support: they
  // only look at the first token and at byte runs.
  const size_t Keep = 4;
  size_t From = NumIds > Keep ? NumIds - Keep : 0;
  Window.assign(Ids + From, Ids + NumIds);
  Prefix = Tok.decode(Window, SkipSpecial);
  PrefixIndex = Window.size();
}

std::string TokenStreamDecoder::step(int32_t Id) {
  Window.push_back(Id);
  std::string Text = Tok.decode(Window, SkipSpecial);
  // Hold back while the text has not grown or ends in an incomplete
  // character (decoded as U+FFFD until its last byte arrives).
  if (Text.size() <= Prefix.size() ||
      (Text.size() >= 3 &&
       Text.compare(Text.size() - 3, 3, "\xEF\xBF\xBD") == 0))
    return std::string();
  // The window's text normally extends the previous one; if a decoder
  // rewrote the start, print from the first difference (printed text cannot
  // be taken back).
  size_t Common = 0;
  while (Common < Prefix.size() && Prefix[Common] == Text[Common])
    ++Common;
  std::string New = Text.substr(Common);
  // Keep the tokens since the previous release as context for the next one.
  size_t NewPrefixIndex = Window.size() - PrefixIndex;
  Window.erase(Window.begin(), Window.begin() + PrefixIndex);
  Prefix = Tok.decode(Window, SkipSpecial);
  PrefixIndex = NewPrefixIndex;
  return New;
}

std::string TokenStreamDecoder::flush() {
  std::string Text = Tok.decode(Window, SkipSpecial);
  std::string Rest;
  if (Text.size() > Prefix.size() &&
      Text.compare(0, Prefix.size(), Prefix) == 0)
    Rest = Text.substr(Prefix.size());
  Window.clear();
  Prefix.clear();
  PrefixIndex = 0;
  return Rest;
}

} // namespace monocard
