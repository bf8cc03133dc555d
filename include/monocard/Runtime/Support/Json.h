//===- Json.h - Strict JSON parser and writer for the launcher --*- C++ -*-===//
//
// A small, strict (RFC 8259) JSON parser for tokenizer.json, safetensors
// headers and the model-info blob. Plain C++17: the launcher links no
// third-party code.
//
// Parsing produces a JsonDocument that owns every node and every string in
// two flat buffers, so a multi-megabyte tokenizer.json costs a handful of
// allocations, not one per value. A JsonValue is a 16-byte node inside its
// document: references and pointers to it (and string_views from it) stay
// valid for as long as the document lives, including across a move of the
// document.
//
//   JsonDocument Doc;
//   std::string Err;
//   if (!parseJson(Text, Doc, Err))
//     fail(Err);                    // e.g. "unexpected end of input at byte
//     812"
//   const JsonValue &Root = Doc.root();
//   if (const JsonValue *Model = Root.find("model"))
//     for (JsonMember M : Model->find("vocab")->members())
//       use(M.Key, M.Value.asInt());
//
// Parsing is strict: no comments, trailing commas, leading zeros, NaN, raw
// control characters in strings, invalid UTF-8, unpaired surrogates,
// duplicate keys in an object or nesting deeper than 128 levels. Access
// is lenient: asString()/asInt()/... on a value of another kind return an
// empty/zero value, so callers check kind() where it matters.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_SUPPORT_JSON_H
#define MONOCARD_RUNTIME_SUPPORT_JSON_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace monocard {

class JsonValue;
class JsonDocument;

/// One member of an object: its key and its value.
struct JsonMember {
  std::string_view Key;
  const JsonValue &Value;
};

/// The elements of an array, as a contiguous range of values.
class JsonArrayRange {
public:
  JsonArrayRange(const JsonValue *B, const JsonValue *E) : B(B), E(E) {}
  const JsonValue *begin() const { return B; }
  const JsonValue *end() const { return E; }
  inline size_t size() const;
  bool empty() const { return B == E; }
  inline const JsonValue &operator[](size_t I) const;

private:
  const JsonValue *B, *E;
};

/// The members of an object, in the order they appear in the text.
class JsonMemberRange {
public:
  class iterator {
  public:
    explicit iterator(const JsonValue *P) : P(P) {}
    inline JsonMember operator*() const;
    inline iterator &operator++();
    bool operator==(const iterator &O) const { return P == O.P; }
    bool operator!=(const iterator &O) const { return P != O.P; }

  private:
    const JsonValue *P; // the key node; the value node follows it
  };
  JsonMemberRange(const JsonValue *B, const JsonValue *E) : B(B), E(E) {}
  iterator begin() const { return iterator(B); }
  iterator end() const { return iterator(E); }
  inline size_t size() const;
  bool empty() const { return B == E; }

private:
  const JsonValue *B, *E;
};

class JsonValue {
public:
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

  JsonValue() : U() {}

  Kind kind() const { return K; }
  bool isNull() const { return K == Kind::Null; }
  bool isBool() const { return K == Kind::Bool; }
  bool isNumber() const { return K == Kind::Number; }
  bool isString() const { return K == Kind::String; }
  bool isArray() const { return K == Kind::Array; }
  bool isObject() const { return K == Kind::Object; }
  /// True for a number whose value is an integer that fits in int64_t
  /// (`42`, `-7`, `1e3`, `2.0`); asInt() then returns it exactly, even past
  /// 2^53 when it was written as an integer literal.
  bool isInt() const;

  /// The value, or false / 0 / "" when the value is of another kind.
  bool asBool() const { return K == Kind::Bool && U.B; }
  int64_t asInt() const;
  double asDouble() const;
  std::string_view asString() const {
    return K == Kind::String ? std::string_view(U.S, Count)
                             : std::string_view();
  }

  /// Number of elements of an array or members of an object; 0 otherwise.
  size_t size() const {
    return K == Kind::Array ? Count : K == Kind::Object ? Count / 2 : 0;
  }
  /// Element \p I of an array (I < size()).
  const JsonValue &operator[](size_t I) const { return U.Children[I]; }
  /// The elements of an array; empty for other kinds.
  JsonArrayRange array() const {
    return K == Kind::Array ? JsonArrayRange(U.Children, U.Children + Count)
                            : JsonArrayRange(nullptr, nullptr);
  }
  /// The members of an object in text order; empty for other kinds.
  JsonMemberRange members() const {
    return K == Kind::Object ? JsonMemberRange(U.Children, U.Children + Count)
                             : JsonMemberRange(nullptr, nullptr);
  }
  /// The member named \p Key of an object, or nullptr if absent or if this is
  /// not an object. Linear in the number of members (iterate members() to
  /// visit a large object). The parser rejects duplicate keys.
  const JsonValue *find(std::string_view Key) const;

private:
  friend class JsonParser;
  friend class JsonMemberRange::iterator;

  Kind K = Kind::Null;
  bool IntLiteral = false; // Number: U.I holds the exact value, else U.D.
  uint32_t Count = 0;      // String: bytes; Array: elements; Object: 2*members.
  union Payload {
    bool B;
    int64_t I;
    double D;
    const char *S;             // String: bytes owned by the document.
    const JsonValue *Children; // Array/Object: nodes owned by the document;
                               // an object stores key, value, key, value...
    uint64_t Index;            // Array/Object while parsing.
  } U;
};

// Range members that need JsonValue complete.
inline size_t JsonArrayRange::size() const {
  return static_cast<size_t>(E - B);
}
inline const JsonValue &JsonArrayRange::operator[](size_t I) const {
  return B[I];
}
inline size_t JsonMemberRange::size() const {
  return static_cast<size_t>(E - B) / 2;
}
inline JsonMemberRange::iterator &JsonMemberRange::iterator::operator++() {
  P += 2;
  return *this;
}
inline JsonMember JsonMemberRange::iterator::operator*() const {
  return JsonMember{P[0].asString(), P[1]};
}

/// Owns the nodes and strings of one parsed JSON text. Movable, not copyable;
/// moving keeps every JsonValue reference valid.
class JsonDocument {
public:
  JsonDocument() = default;
  JsonDocument(JsonDocument &&) = default;
  JsonDocument &operator=(JsonDocument &&) = default;
  JsonDocument(const JsonDocument &) = delete;
  JsonDocument &operator=(const JsonDocument &) = delete;

  /// The top-level value (Null before a successful parse).
  const JsonValue &root() const { return Nodes.empty() ? Empty : Nodes.back(); }

private:
  friend class JsonParser;
  std::vector<JsonValue> Nodes;    // every node; the root is the last one
  std::unique_ptr<char[]> Strings; // every unescaped string, back to back
  JsonValue Empty;
};

/// Parses \p Text (one JSON value, optionally surrounded by whitespace) into
/// \p Out. On failure returns false, leaves \p Out empty and sets \p Error to
/// one line naming the problem and its byte offset, e.g.
/// "unexpected end of input at byte 812".
bool parseJson(std::string_view Text, JsonDocument &Out, std::string &Error);

/// \p S as a JSON string literal, quotes included. Escapes '"', '\\' and the
/// control characters; other bytes (UTF-8) are copied as they are.
std::string jsonQuote(std::string_view S);
/// Appends jsonQuote(\p S) to \p Out.
void appendJsonQuoted(std::string &Out, std::string_view S);

/// \p V as compact JSON text (no spaces; members in their original order;
/// numbers in the shortest form that reads back to the same value).
std::string toJsonString(const JsonValue &V);

} // namespace monocard

#endif // MONOCARD_RUNTIME_SUPPORT_JSON_H
