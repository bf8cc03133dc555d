//===- JsonLimits.h - JSON that hostile input cannot crash ------*- C++ -*-===//
//
// Every JSON file the compiler reads (config.json, safetensors headers,
// model.safetensors.index.json) goes through parseJsonChecked rather than
// llvm::json::parse directly. llvm::json::parse recurses once per nesting
// level, so a file nested 100,000 deep overflows the stack; and it keeps one
// of two duplicate keys silently, so a header naming a tensor twice would be
// accepted. parseJsonChecked rejects both with one line naming the file.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_FRONTEND_JSONLIMITS_H
#define MONOCARD_FRONTEND_JSONLIMITS_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace monocard {

/// The deepest nesting of arrays and objects accepted. Real configs and
/// headers nest at most ~5 levels; the launcher's parser
/// (lib/Runtime/Support/Json.cpp) uses the same limit.
constexpr unsigned kMaxJsonDepth = 128;

/// Parses \p text, the contents of \p file. \p what names the contents in
/// messages ("JSON", "safetensors header"). Errors, each one line:
///   FILE: WHAT nested deeper than 128 levels, beyond any real file
///   FILE: malformed WHAT: <llvm::json's message>
///   FILE: duplicate key "KEY" in the WHAT
llvm::Expected<llvm::json::Value>
parseJsonChecked(llvm::StringRef text, const llvm::Twine &file,
                 llvm::StringRef what = "JSON");

} // namespace monocard

#endif // MONOCARD_FRONTEND_JSONLIMITS_H
