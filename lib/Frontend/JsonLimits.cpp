//===- JsonLimits.cpp - nesting and duplicate-key checks before parsing ---===//
//
// A pre-scan over the text, iterative so that no input can exhaust the stack,
// runs before llvm::json::parse. It needs only the JSON's structure: strings
// are skipped (their brackets do not count), brackets open and close levels,
// and a string right after '{' or ',' inside an object is a key. Malformed
// text can confuse the scan but never makes it fail: llvm::json::parse then
// reports the malformation.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/JsonLimits.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <optional>
#include <vector>

using namespace llvm;
using namespace monocard;

static Error fail(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

static void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

/// Reads 4 hex digits at \p s, or nullopt.
static std::optional<uint32_t> hex4(StringRef s) {
  uint32_t v = 0;
  if (s.size() < 4 || s.take_front(4).getAsInteger(16, v) ||
      !llvm::all_of(s.take_front(4), isHexDigit))
    return std::nullopt;
  return v;
}

/// The key \p raw (between the quotes) with its escapes decoded, so that
/// "a" and "\u0061" compare equal as they do after parsing. Bad escapes are
/// kept as written: the parser rejects them afterwards.
static std::string unescape(StringRef raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      out += raw[i];
      continue;
    }
    char e = raw[++i];
    switch (e) {
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'u': {
      std::optional<uint32_t> cp = hex4(raw.drop_front(i + 1));
      if (!cp) {
        out += "\\u";
        break;
      }
      i += 4;
      if (*cp >= 0xD800 && *cp <= 0xDBFF && raw.substr(i + 1, 2) == "\\u") {
        std::optional<uint32_t> lo = hex4(raw.drop_front(i + 3));
        if (lo && *lo >= 0xDC00 && *lo <= 0xDFFF) {
          *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*lo - 0xDC00);
          i += 6;
        }
      }
      appendUtf8(out, *cp);
      break;
    }
    default: // '"', '\\', '/' and invalid escapes stand for themselves
      out += e;
    }
  }
  return out;
}

/// \p key as a one-line quoted string for a message: control characters,
/// quotes and backslashes escaped, very long keys cut short.
static std::string quoteForMessage(StringRef key) {
  constexpr size_t kShown = 200;
  std::string out = "\"";
  for (char c : key.take_front(kShown)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\')
      (out += '\\') += c;
    else if (u < 0x20 || u == 0x7F)
      out += formatv("\\u{0:x-4}", unsigned(u)).str();
    else
      out += c;
  }
  out += '"';
  if (key.size() > kShown)
    out += "...";
  return out;
}

namespace {
/// What the pre-scan found: too deep, or the first duplicate key (if any).
struct ScanResult {
  bool tooDeep = false;
  std::optional<std::string> duplicateKey;
};
} // namespace

static ScanResult scanStructure(StringRef text) {
  ScanResult result;
  // One entry per open level; entries are reused as levels close and open
  // again, so a header of many small objects allocates few sets.
  struct Level {
    bool isObject = false;
    StringSet<> keys;
  };
  std::vector<Level> levels;
  size_t depth = 0;
  char last = 0; // the previous structural character: '{', '[', ',', ...
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    char c = text[i];
    switch (c) {
    case '{':
    case '[':
      if (depth == kMaxJsonDepth) {
        result.tooDeep = true;
        return result;
      }
      if (depth == levels.size())
        levels.emplace_back();
      levels[depth].isObject = c == '{';
      levels[depth].keys.clear();
      ++depth;
      last = c;
      break;
    case '}':
    case ']':
      if (depth)
        --depth;
      last = c;
      break;
    case '"': {
      size_t j = i + 1;
      bool escaped = false;
      while (j < n && text[j] != '"') {
        escaped |= text[j] == '\\';
        j += text[j] == '\\' ? 2 : 1;
      }
      if (j >= n)
        return result; // unterminated: the parser says so
      bool isKey =
          depth && levels[depth - 1].isObject && (last == '{' || last == ',');
      if (isKey && !result.duplicateKey) {
        StringRef raw = text.slice(i + 1, j);
        std::string key = escaped ? unescape(raw) : raw.str();
        if (!levels[depth - 1].keys.insert(key).second)
          result.duplicateKey = std::move(key);
      }
      last = '"';
      i = j;
      break;
    }
    case ' ':
    case '\t':
    case '\n':
    case '\r':
      break;
    default: // ',', ':', and the characters of numbers and literals
      last = c;
    }
  }
  return result;
}

Expected<json::Value>
monocard::parseJsonChecked(StringRef text, const Twine &file, StringRef what) {
  ScanResult scan = scanStructure(text);
  if (scan.tooDeep)
    return fail(file + ": " + what + " nested deeper than " +
                Twine(kMaxJsonDepth) + " levels, beyond any real file");
  Expected<json::Value> parsed = json::parse(text);
  if (!parsed)
    return fail(file + ": malformed " + what + ": " +
                toString(parsed.takeError()));
  // Reported only for well-formed text, so a malformed file is always called
  // malformed.
  if (scan.duplicateKey)
    return fail(file + ": duplicate key " +
                quoteForMessage(*scan.duplicateKey) + " in the " + what);
  return parsed;
}
