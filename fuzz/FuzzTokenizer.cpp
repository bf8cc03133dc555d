//===- FuzzTokenizer.cpp - tokenizer.json load, encode, decode -----------===//
//
// A tokenizer.json from the internet is loaded, then used: a few fixed
// strings (ASCII, UTF-8, invalid UTF-8, special-token text) are encoded and
// the ids decoded again. Loading may fail with an error; nothing may crash.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Tokenizer/Tokenizer.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  std::string_view Json(reinterpret_cast<const char *>(Data), Size);
  std::string Error;
  std::unique_ptr<monocard::Tokenizer> Tok =
      monocard::Tokenizer::loadJson(Json, Error);
  if (!Tok)
    return 0;
  static const char *const Texts[] = {
      "Hello, world! 123 456789", "  leading and  double  spaces\n\ttab",
      "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
      "bad \xff\xfe utf-8 \xc3", "<s></s><|endoftext|><unk>", ""};
  for (const char *T : Texts) {
    std::vector<int32_t> Ids = Tok->encode(T);
    (void)Tok->decode(Ids);
    (void)Tok->decode(Ids, /*SkipSpecialTokens=*/true);
  }
  return 0;
}
