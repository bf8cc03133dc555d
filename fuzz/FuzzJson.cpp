//===- FuzzJson.cpp - the runtime's JSON parser under libFuzzer ----------===//
//
// Every JSON the program reads (model info, tokenizer.json, safetensors
// headers) goes through parseJson: it must return an error, never crash,
// and what it accepts must print back to JSON that parses to the same text.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Support/Json.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace monocard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  std::string_view Text(reinterpret_cast<const char *>(Data), Size);
  JsonDocument Doc;
  std::string Error;
  if (!parseJson(Text, Doc, Error))
    return 0;
  // Round trip: printing and parsing again gives the same value.
  std::string Printed = toJsonString(Doc.root());
  JsonDocument Again;
  if (!parseJson(Printed, Again, Error) ||
      toJsonString(Again.root()) != Printed)
    std::abort();
  return 0;
}
