//===- JsonWriter.cpp - Writing JSON text ---------------------------------===//
//
// String quoting for the launcher's --json output, and compact serialization
// of parsed values (used by tests and error messages).
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Support/Json.h"

#include <charconv>

namespace monocard {

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

void appendJsonQuoted(std::string &Out, std::string_view S) {
  static const char Hex[] = "0123456789abcdef";
  Out.reserve(Out.size() + S.size() + 2);
  Out += '"';
  for (char Ch : S) {
    unsigned char C = static_cast<unsigned char>(Ch);
    switch (C) {
    case '"':
      Out += "\\\"";
      break;
    case '\\':
      Out += "\\\\";
      break;
    case '\b':
      Out += "\\b";
      break;
    case '\f':
      Out += "\\f";
      break;
    case '\n':
      Out += "\\n";
      break;
    case '\r':
      Out += "\\r";
      break;
    case '\t':
      Out += "\\t";
      break;
    default:
      if (C < 0x20 || C == 0x7f) {
        Out += "\\u00";
        Out += Hex[C >> 4];
        Out += Hex[C & 15];
      } else {
        Out += Ch;
      }
    }
  }
  Out += '"';
}

std::string jsonQuote(std::string_view S) {
  std::string Out;
  appendJsonQuoted(Out, S);
  return Out;
}

static void writeValue(std::string &Out, const JsonValue &V) {
  switch (V.kind()) {
  case JsonValue::Kind::Null:
    Out += "null";
    return;
  case JsonValue::Kind::Bool:
    Out += V.asBool() ? "true" : "false";
    return;
  case JsonValue::Kind::Number: {
    char Buf[40];
    std::to_chars_result R;
    double D = V.asDouble();
    if (V.isInt())
      R = std::to_chars(Buf, Buf + sizeof Buf, V.asInt());
    else
      R = std::to_chars(Buf, Buf + sizeof Buf, D); // shortest round-trip
    Out.append(Buf, R.ptr);
    return;
  }
  case JsonValue::Kind::String:
    appendJsonQuoted(Out, V.asString());
    return;
  case JsonValue::Kind::Array: {
    Out += '[';
    bool First = true;
    for (const JsonValue &E : V.array()) {
      if (!First)
        Out += ',';
      First = false;
      writeValue(Out, E);
    }
    Out += ']';
    return;
  }
  case JsonValue::Kind::Object: {
    Out += '{';
    bool First = true;
    for (JsonMember M : V.members()) {
      if (!First)
        Out += ',';
      First = false;
      appendJsonQuoted(Out, M.Key);
      Out += ':';
      writeValue(Out, M.Value);
    }
    Out += '}';
    return;
  }
  }
}

std::string toJsonString(const JsonValue &V) {
  std::string Out;
  writeValue(Out, V);
  return Out;
}

} // namespace monocard
