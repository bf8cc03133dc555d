//===- Json.cpp - Strict JSON parser and writer for the launcher ----------===//
//
// One pass over the text, O(n). Children of a container are collected on a
// scratch stack while the container is open and appended to the document's
// node buffer in one block when it closes, so every array and object ends up
// with contiguous children and the document needs no per-value allocation.
// Container nodes hold child indices while parsing (the node buffer may still
// grow); one final pass turns them into pointers. Unescaped strings never
// grow, so the string buffer is sized to the input once and never moves.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Support/Json.h"

#include "monocard/Runtime/Support/Utf8.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

namespace monocard {

bool JsonValue::isInt() const {
  if (K != Kind::Number)
    return false;
  if (IntLiteral)
    return true;
  // 2^63 is exactly representable; anything below it in magnitude that is
  // integral converts to int64_t without overflow.
  return std::trunc(U.D) == U.D && U.D >= -9223372036854775808.0 &&
         U.D < 9223372036854775808.0;
}

int64_t JsonValue::asInt() const {
  if (K != Kind::Number)
    return 0;
  if (IntLiteral)
    return U.I;
  if (!(U.D >= -9223372036854775808.0 && U.D < 9223372036854775808.0))
    return 0; // out of range or NaN: converting would be undefined
  return static_cast<int64_t>(U.D);
}

double JsonValue::asDouble() const {
  if (K != Kind::Number)
    return 0.0;
  return IntLiteral ? static_cast<double>(U.I) : U.D;
}

const JsonValue *JsonValue::find(std::string_view Key) const {
  if (K != Kind::Object)
    return nullptr;
  for (uint32_t I = Count; I >= 2; I -= 2)
    if (U.Children[I - 2].asString() == Key)
      return &U.Children[I - 1];
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

class JsonParser {
public:
  JsonParser(std::string_view Text, JsonDocument &Doc, std::string &Error)
      : P(Text.data()), Begin(Text.data()), End(Text.data() + Text.size()),
        Doc(Doc), Error(Error) {}

  bool run();

private:
  // Real files nest at most ~10 levels; the limit keeps hostile input from
  // overflowing the stack (the parser recurses once per level). The
  // compiler's check (lib/Frontend/JsonLimits.cpp) uses the same number.
  static constexpr unsigned MaxDepth = 128;
  // Objects up to this size are checked for duplicate keys pairwise; larger
  // ones (a tokenizer's vocabulary) through a hash set.
  static constexpr size_t PairwiseKeyCheckMax = 16;

  bool parseValue(unsigned Depth);
  bool parseContainer(bool IsObject, unsigned Depth);
  bool checkUniqueKeys(size_t Mark, const char *ObjectStart);
  bool parseString(JsonValue &Out);
  bool parseNumber(JsonValue &Out);
  bool parseLiteral(std::string_view Word, JsonValue &Out);
  bool parseHex4(const char *At, uint32_t &Out);

  void skipSpace() {
    while (P != End && (*P == ' ' || *P == '\n' || *P == '\r' || *P == '\t'))
      ++P;
  }
  size_t offset(const char *At) const {
    return static_cast<size_t>(At - Begin);
  }
  bool fail(const char *At, const std::string &What) {
    if (Error.empty())
      Error = What + " at byte " + std::to_string(offset(At));
    return false;
  }
  bool failUnexpected(const char *At, const char *Expected) {
    if (At == End)
      return fail(At, "unexpected end of input");
    std::string Found;
    unsigned char C = static_cast<unsigned char>(*At);
    if (C >= 0x20 && C < 0x7f)
      Found = std::string("'") + static_cast<char>(C) + "'";
    else {
      char Buf[8];
      std::snprintf(Buf, sizeof Buf, "0x%02x", C);
      Found = std::string("byte ") + Buf;
    }
    return fail(At, std::string("expected ") + Expected + ", found " + Found);
  }

  const char *P;
  const char *const Begin;
  const char *const End;
  JsonDocument &Doc;
  std::string &Error;
  char *StrOut = nullptr;         // next free byte of Doc.Strings
  std::vector<JsonValue> Scratch; // children of the open containers
  // Scratch for checkUniqueKeys, kept to reuse its buckets.
  std::unordered_set<std::string_view> Keys;
};

bool JsonParser::run() {
  if (static_cast<uint64_t>(End - Begin) >=
      std::numeric_limits<uint32_t>::max())
    return fail(Begin, "input too large (4 GiB or more)");
  Doc.Strings.reset(new char[static_cast<size_t>(End - Begin) + 1]);
  StrOut = Doc.Strings.get();
  // A rough guess at the node count saves most regrowth of the buffer.
  Doc.Nodes.reserve(static_cast<size_t>(End - Begin) / 16 + 1);

  skipSpace();
  if (!parseValue(0))
    return false;
  skipSpace();
  if (P != End)
    return fail(P, "unexpected trailing characters");
  Doc.Nodes.push_back(Scratch.back());

  // Indices became final when the buffer stopped growing: make them pointers.
  JsonValue *Base = Doc.Nodes.data();
  for (JsonValue &V : Doc.Nodes)
    if (V.K == JsonValue::Kind::Array || V.K == JsonValue::Kind::Object)
      V.U.Children = Base + V.U.Index;
  return true;
}

bool JsonParser::parseValue(unsigned Depth) {
  if (P == End)
    return fail(P, "unexpected end of input");
  JsonValue V;
  switch (*P) {
  case '{':
    return parseContainer(/*IsObject=*/true, Depth);
  case '[':
    return parseContainer(/*IsObject=*/false, Depth);
  case '"':
    if (!parseString(V))
      return false;
    break;
  case 't':
    if (!parseLiteral("true", V))
      return false;
    V.K = JsonValue::Kind::Bool;
    V.U.B = true;
    break;
  case 'f':
    if (!parseLiteral("false", V))
      return false;
    V.K = JsonValue::Kind::Bool;
    V.U.B = false;
    break;
  case 'n':
    if (!parseLiteral("null", V))
      return false;
    break;
  default:
    if (*P == '-' || (*P >= '0' && *P <= '9')) {
      if (!parseNumber(V))
        return false;
      break;
    }
    return failUnexpected(P, "a JSON value");
  }
  Scratch.push_back(V);
  return true;
}

bool JsonParser::parseContainer(bool IsObject, unsigned Depth) {
  if (Depth >= MaxDepth)
    return fail(P, "JSON nested deeper than " + std::to_string(MaxDepth) +
                       " levels (beyond any real file)");
  const char *Start = P;
  const char Close = IsObject ? '}' : ']';
  size_t Mark = Scratch.size();
  ++P; // '{' or '['
  skipSpace();
  if (P != End && *P == Close) {
    ++P;
  } else {
    for (;;) {
      if (IsObject) {
        if (P == End || *P != '"')
          return failUnexpected(P, "'\"' starting an object key");
        JsonValue Key;
        if (!parseString(Key))
          return false;
        Scratch.push_back(Key);
        skipSpace();
        if (P == End || *P != ':')
          return failUnexpected(P, "':' after an object key");
        ++P;
        skipSpace();
      }
      if (!parseValue(Depth + 1))
        return false;
      skipSpace();
      if (P != End && *P == ',') {
        ++P;
        skipSpace();
        continue;
      }
      if (P != End && *P == Close) {
        ++P;
        break;
      }
      return failUnexpected(P, IsObject ? "',' or '}'" : "',' or ']'");
    }
  }
  if (IsObject && !checkUniqueKeys(Mark, Start))
    return false;
  JsonValue V;
  V.K = IsObject ? JsonValue::Kind::Object : JsonValue::Kind::Array;
  V.Count = static_cast<uint32_t>(Scratch.size() - Mark);
  V.U.Index = Doc.Nodes.size();
  Doc.Nodes.insert(Doc.Nodes.end(), Scratch.begin() + Mark, Scratch.end());
  Scratch.resize(Mark);
  Scratch.push_back(V);
  return true;
}

/// Rejects an object naming a key twice: a safetensors header listing a
/// tensor twice must not silently keep one of them. Keys are compared after
/// unescaping, so "a" and "\u0061" are the same key.
bool JsonParser::checkUniqueKeys(size_t Mark, const char *ObjectStart) {
  size_t NumKeys = (Scratch.size() - Mark) / 2;
  auto Key = [&](size_t I) { return Scratch[Mark + 2 * I].asString(); };
  auto Duplicate = [&](std::string_view K) {
    constexpr size_t Shown = 200; // keep the message one readable line
    std::string Quoted = jsonQuote(K.substr(0, Shown));
    if (K.size() > Shown)
      Quoted += "...";
    return fail(ObjectStart, "duplicate key " + Quoted + " in the object");
  };
  if (NumKeys <= PairwiseKeyCheckMax) {
    for (size_t I = 1; I < NumKeys; ++I)
      for (size_t J = 0; J < I; ++J)
        if (Key(I) == Key(J))
          return Duplicate(Key(I));
    return true;
  }
  Keys.clear();
  Keys.reserve(NumKeys);
  for (size_t I = 0; I < NumKeys; ++I)
    if (!Keys.insert(Key(I)).second)
      return Duplicate(Key(I));
  return true;
}

bool JsonParser::parseHex4(const char *At, uint32_t &Out) {
  if (End - At < 4)
    return fail(End, "unexpected end of input");
  Out = 0;
  for (int I = 0; I < 4; ++I) {
    char C = At[I];
    uint32_t D;
    if (C >= '0' && C <= '9')
      D = C - '0';
    else if (C >= 'a' && C <= 'f')
      D = C - 'a' + 10;
    else if (C >= 'A' && C <= 'F')
      D = C - 'A' + 10;
    else
      return fail(At + I, "invalid hex digit in \\u escape");
    Out = Out * 16 + D;
  }
  return true;
}

static char *appendUtf8(char *Out, uint32_t CP) {
  if (CP < 0x80) {
    *Out++ = static_cast<char>(CP);
  } else if (CP < 0x800) {
    *Out++ = static_cast<char>(0xC0 | (CP >> 6));
    *Out++ = static_cast<char>(0x80 | (CP & 0x3F));
  } else if (CP < 0x10000) {
    *Out++ = static_cast<char>(0xE0 | (CP >> 12));
    *Out++ = static_cast<char>(0x80 | ((CP >> 6) & 0x3F));
    *Out++ = static_cast<char>(0x80 | (CP & 0x3F));
  } else {
    *Out++ = static_cast<char>(0xF0 | (CP >> 18));
    *Out++ = static_cast<char>(0x80 | ((CP >> 12) & 0x3F));
    *Out++ = static_cast<char>(0x80 | ((CP >> 6) & 0x3F));
    *Out++ = static_cast<char>(0x80 | (CP & 0x3F));
  }
  return Out;
}

namespace {
/// Bytes that stand for themselves inside a string: ASCII other than the
/// quote, the backslash and the control characters.
struct PlainAsciiTable {
  bool T[256] = {};
  constexpr PlainAsciiTable() {
    for (int C = 0x20; C < 0x80; ++C)
      T[C] = C != '"' && C != '\\';
  }
};
constexpr PlainAsciiTable PlainAsciiBytes;
const bool *const PlainAscii = PlainAsciiBytes.T;
} // namespace

bool JsonParser::parseString(JsonValue &Out) {
  // Locals, not the members: stores through char pointers could alias
  // members, which would keep the compiler from holding them in registers.
  const char *In = P + 1; // past the opening quote
  char *O = StrOut;
  const char *const Stop = End;
  char *Start = O;
  for (;;) {
    // Fast path: plain ASCII, copied as it is scanned (runs are short:
    // calling memcpy per run costs more than it saves).
    while (In != Stop && PlainAscii[static_cast<unsigned char>(*In)])
      *O++ = *In++;
    if (In == Stop)
      return fail(In, "unexpected end of input in a string");
    unsigned char C = static_cast<unsigned char>(*In);
    if (C == '"') {
      ++In;
      break;
    }
    if (C < 0x20)
      return fail(In, "unescaped control character in a string");
    if (C >= 0x80) {
      // Checks for overlongs, surrogates and truncation; Unicode.cpp is the
      // one place that knows UTF-8's rules.
      size_t N = unicode::validSequenceLength(
          std::string_view(In, size_t(Stop - In)), 0);
      if (N == 0)
        return fail(In, "invalid UTF-8 in a string");
      for (size_t I = 0; I < N; ++I)
        *O++ = *In++;
      continue;
    }
    // Backslash escape.
    const char *Esc = In;
    if (++In == Stop)
      return fail(In, "unexpected end of input in a string");
    char E = *In++;
    switch (E) {
    case '"':
      *O++ = '"';
      break;
    case '\\':
      *O++ = '\\';
      break;
    case '/':
      *O++ = '/';
      break;
    case 'b':
      *O++ = '\b';
      break;
    case 'f':
      *O++ = '\f';
      break;
    case 'n':
      *O++ = '\n';
      break;
    case 'r':
      *O++ = '\r';
      break;
    case 't':
      *O++ = '\t';
      break;
    case 'u': {
      uint32_t CP;
      if (!parseHex4(In, CP))
        return false;
      In += 4;
      if (CP >= 0xDC00 && CP <= 0xDFFF)
        return fail(Esc, "unpaired low surrogate in \\u escape");
      if (CP >= 0xD800 && CP <= 0xDBFF) {
        if (Stop - In < 2 || In[0] != '\\' || In[1] != 'u')
          return fail(Esc, "unpaired high surrogate in \\u escape");
        uint32_t Lo;
        if (!parseHex4(In + 2, Lo))
          return false;
        if (Lo < 0xDC00 || Lo > 0xDFFF)
          return fail(Esc, "unpaired high surrogate in \\u escape");
        In += 6;
        CP = 0x10000 + ((CP - 0xD800) << 10) + (Lo - 0xDC00);
      }
      O = appendUtf8(O, CP);
      break;
    }
    default:
      return fail(Esc, "invalid escape in a string");
    }
  }
  P = In;
  StrOut = O;
  Out.K = JsonValue::Kind::String;
  Out.Count = static_cast<uint32_t>(O - Start);
  Out.U.S = Start;
  return true;
}

bool JsonParser::parseNumber(JsonValue &Out) {
  // Validate against the JSON grammar first: from_chars alone would accept
  // forms JSON does not ("01", "1.", ".5", "inf").
  const char *Start = P;
  bool Integral = true;
  if (*P == '-')
    ++P;
  if (P == End)
    return fail(P, "unexpected end of input in a number");
  if (*P == '0') {
    ++P;
    if (P != End && *P >= '0' && *P <= '9')
      return fail(P, "leading zero in a number");
  } else if (*P >= '1' && *P <= '9') {
    while (P != End && *P >= '0' && *P <= '9')
      ++P;
  } else {
    return failUnexpected(P, "a digit");
  }
  if (P != End && *P == '.') {
    Integral = false;
    ++P;
    if (P == End || !(*P >= '0' && *P <= '9'))
      return failUnexpected(P, "a digit after '.'");
    while (P != End && *P >= '0' && *P <= '9')
      ++P;
  }
  if (P != End && (*P == 'e' || *P == 'E')) {
    Integral = false;
    ++P;
    if (P != End && (*P == '+' || *P == '-'))
      ++P;
    if (P == End || !(*P >= '0' && *P <= '9'))
      return failUnexpected(P, "a digit in the exponent");
    while (P != End && *P >= '0' && *P <= '9')
      ++P;
  }
  Out.K = JsonValue::Kind::Number;
  if (Integral) {
    int64_t I;
    auto R = std::from_chars(Start, P, I);
    if (R.ec == std::errc() && R.ptr == P) {
      Out.IntLiteral = true;
      Out.U.I = I;
      return true;
    }
    // Too large for int64_t: fall through to double.
  }
  double D;
  auto R = std::from_chars(Start, P, D);
  if (R.ec == std::errc::result_out_of_range)
    return fail(Start, "number out of range");
  if (R.ec != std::errc() || R.ptr != P)
    return fail(Start, "invalid number");
  Out.IntLiteral = false;
  Out.U.D = D;
  return true;
}

bool JsonParser::parseLiteral(std::string_view Word, JsonValue &Out) {
  (void)Out;
  if (static_cast<size_t>(End - P) < Word.size() ||
      std::string_view(P, Word.size()) != Word) {
    // Point at the first byte that differs.
    size_t I = 0;
    while (P + I != End && I < Word.size() && P[I] == Word[I])
      ++I;
    return failUnexpected(P + I, ("'" + std::string(Word) + "'").c_str());
  }
  P += Word.size();
  return true;
}

bool parseJson(std::string_view Text, JsonDocument &Out, std::string &Error) {
  Out = JsonDocument();
  Error.clear();
  JsonParser Parser(Text, Out, Error);
  if (Parser.run())
    return true;
  Out = JsonDocument();
  return false;
}

} // namespace monocard
