//===- main.cpp - monocard-tokenizer-test ---------------------------------===//
//
// Checks the launcher's tokenizer against cases recorded with the Hugging
// Face `tokenizers` library, and exposes it for lit tests:
//
//   monocard-tokenizer-test TOKENIZER_JSON CASES_JSON
//       each case {"text", "ids", "decoded", ...} must give
//       encode(text) == ids and decode(ids) == decoded (see checkCase());
//       prints one line per failure, then "tokenizer-test: N/M cases OK".
//   monocard-tokenizer-test TOKENIZER_JSON --encode TEXT    ids,
//   comma-separated monocard-tokenizer-test TOKENIZER_JSON --tokens TEXT token
//   strings monocard-tokenizer-test TOKENIZER_JSON --decode 1,2,3   text
//   monocard-tokenizer-test TOKENIZER_JSON --stream 1,2,3   streamed pieces,
//       one JSON string per token (and one for the final flush, if any);
//       --prime 4,5 first gives the stream the (prompt) tokens before them
//   monocard-tokenizer-test --parse-json FILE               compact JSON
// Flags for the modes: --no-add-special (encode without the post-processor's
// BOS/EOS), --skip-special (decode without special tokens), --model-vocab N
// (load as a program whose model has N tokens does: every id below N; else
// below 2^24). Errors: one line
// on stderr, exit 1.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Support/Json.h"
#include "monocard/Runtime/Tokenizer/Tokenizer.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace monocard;

namespace {
[[noreturn]] void die(const std::string &Msg) {
  std::fprintf(stderr, "monocard-tokenizer-test: %s\n", Msg.c_str());
  std::exit(1);
}

std::string readFile(const std::string &Path) {
  std::FILE *F = std::fopen(Path.c_str(), "rb");
  if (!F)
    die("cannot open '" + Path + "': " + std::strerror(errno));
  std::string Text;
  char Buf[1 << 16];
  for (size_t N; (N = std::fread(Buf, 1, sizeof Buf, F)) > 0;)
    Text.append(Buf, N);
  std::fclose(F);
  return Text;
}

std::string joinIds(const std::vector<int32_t> &Ids) {
  std::string S;
  for (size_t I = 0; I < Ids.size(); ++I)
    S += (I ? "," : "") + std::to_string(Ids[I]);
  return S;
}

std::vector<int32_t> parseIds(const Tokenizer &Tok, const std::string &List) {
  std::vector<int32_t> Ids;
  size_t Pos = 0;
  while (Pos < List.size()) {
    size_t Comma = List.find(',', Pos);
    std::string Item = List.substr(
        Pos, Comma == std::string::npos ? std::string::npos : Comma - Pos);
    char *End;
    long V = std::strtol(Item.c_str(), &End, 10);
    if (Item.empty() || *End || !Tok.isValidId(static_cast<int32_t>(V)) ||
        V != static_cast<int32_t>(V))
      die("unknown token id '" + Item + "' (vocabulary size " +
          std::to_string(Tok.vocabSize()) + ")");
    Ids.push_back(static_cast<int32_t>(V));
    if (Comma == std::string::npos)
      break;
    Pos = Comma + 1;
  }
  return Ids;
}

std::string streamDecode(const Tokenizer &Tok, const std::vector<int32_t> &Ids,
                         bool SkipSpecial, std::vector<std::string> *Pieces,
                         const std::vector<int32_t> &Prime = {}) {
  TokenStreamDecoder Stream(Tok, SkipSpecial);
  Stream.prime(Prime);
  std::string All;
  for (int32_t Id : Ids) {
    std::string P = Stream.step(Id);
    if (Pieces)
      Pieces->push_back(P);
    All += P;
  }
  std::string Rest = Stream.flush();
  if (Pieces && !Rest.empty())
    Pieces->push_back(Rest);
  return All + Rest;
}

bool optFlag(const JsonValue &Case, const char *Key, bool Default) {
  const JsonValue *V = Case.find(Key);
  return V && V->isBool() ? V->asBool() : Default;
}

/// Compares one result with its expectation; prints a line on a mismatch.
template <typename T, typename Show>
bool expect(const std::string &Label, const char *What, const T &Want,
            const T &Got, Show ShowFn) {
  if (Want == Got)
    return true;
  std::printf("FAIL %s %s: expected %s got %s\n", Label.c_str(), What,
              ShowFn(Want).c_str(), ShowFn(Got).c_str());
  return false;
}

std::string showIds(const std::vector<int32_t> &Ids) {
  return "[" + joinIds(Ids) + "]";
}
std::string showText(const std::string &S) { return jsonQuote(S); }
std::string showTokens(const std::vector<std::string> &Tokens) {
  std::string S = "[";
  for (size_t I = 0; I < Tokens.size(); ++I)
    S += (I ? "," : "") + jsonQuote(Tokens[I]);
  return S + "]";
}

/// Checks one case. "ids" is encode(text) without the post-processor's
/// tokens (unless "add_special_tokens": true), "ids_with_special" with them;
/// "decoded" / "decoded_skip_special" are decode(ids) keeping / skipping
/// special tokens, and streaming must give the same text; "tokens" are the
/// token strings of "ids". All but "text" and "ids" are optional.
bool checkCase(const Tokenizer &Tok, const JsonValue &Case,
               const std::string &Label) {
  std::string_view Text = Case.find("text")->asString();
  auto IdsOf = [](const JsonValue &List) {
    std::vector<int32_t> Ids;
    for (const JsonValue &Id : List.array())
      Ids.push_back(static_cast<int32_t>(Id.asInt()));
    return Ids;
  };
  std::vector<int32_t> Ids = IdsOf(*Case.find("ids"));
  bool Pass = expect(
      Label, "encode", Ids,
      Tok.encode(Text, optFlag(Case, "add_special_tokens", false)), showIds);
  if (const JsonValue *W = Case.find("ids_with_special"))
    Pass &= expect(Label, "encode with special tokens", IdsOf(*W),
                   Tok.encode(Text, true), showIds);
  if (const JsonValue *T = Case.find("tokens")) {
    std::vector<std::string> Want, Got;
    for (const JsonValue &S : T->array())
      Want.emplace_back(S.asString());
    for (size_t I = 0; I < Ids.size(); ++I) {
      Got.emplace_back(Tok.tokenToString(Ids[I]));
      // `tokenizers` reports an lstrip/rstrip added token by the text it
      // matched, spaces included; the id (checked above) is what counts.
      if (I < Want.size() && Want[I] != Got[I] &&
          Want[I].find(Got[I]) != std::string::npos && !Got[I].empty())
        Got[I] = Want[I];
    }
    Pass &= expect(Label, "tokens", Want, Got, showTokens);
  }
  for (bool Skip : {false, true}) {
    const JsonValue *D = Case.find(Skip ? "decoded_skip_special" : "decoded");
    if (!D)
      continue;
    std::string Decoded = Tok.decode(Ids, Skip);
    Pass &= expect(Label, Skip ? "decode skipping special tokens" : "decode",
                   std::string(D->asString()), Decoded, showText);
    Pass &= expect(Label, Skip ? "stream skipping special tokens" : "stream",
                   Decoded, streamDecode(Tok, Ids, Skip, nullptr), showText);
  }
  return Pass;
}

int runCases(const Tokenizer &Tok, const std::string &CasesPath) {
  JsonDocument Doc;
  std::string Error;
  if (!parseJson(readFile(CasesPath), Doc, Error))
    die(CasesPath + ": " + Error);
  const JsonValue *Cases = &Doc.root();
  if (Cases->isObject())
    Cases = Cases->find("cases");
  if (!Cases || !Cases->isArray())
    die(CasesPath + ": expected an array of cases (or {\"cases\": [...]})");
  size_t Ok = 0, Index = 0;
  for (const JsonValue &Case : Cases->array()) {
    size_t I = Index++;
    const JsonValue *Text = Case.find("text");
    const JsonValue *Ids = Case.find("ids");
    if (!Text || !Text->isString() || !Ids || !Ids->isArray())
      die(CasesPath + ": case " + std::to_string(I) +
          " needs \"text\" and \"ids\"");
    std::string Label = "case " + std::to_string(I) + " " +
                        jsonQuote(Text->asString().substr(0, 40));
    Ok += checkCase(Tok, Case, Label);
  }
  std::printf("tokenizer-test: %zu/%zu cases OK\n", Ok, Index);
  return Ok == Index ? 0 : 1;
}
} // namespace

int main(int Argc, char **Argv) {
  std::vector<std::string> Pos;
  std::string Mode, ModeArg, PrimeArg;
  bool AddSpecial = true, SkipSpecial = false;
  uint64_t ModelVocab = 0;
  for (int I = 1; I < Argc; ++I) {
    std::string A = Argv[I];
    if (A == "--no-add-special") {
      AddSpecial = false;
    } else if (A == "--skip-special") {
      SkipSpecial = true;
    } else if (A == "--model-vocab") {
      char *End = nullptr;
      if (I + 1 >= Argc ||
          (ModelVocab = std::strtoull(Argv[I + 1], &End, 10)) == 0 || *End)
        die(A + " needs a positive integer");
      ++I;
    } else if (A == "--prime") {
      if (I + 1 >= Argc)
        die(A + " needs an argument");
      PrimeArg = Argv[++I];
    } else if (A == "--encode" || A == "--tokens" || A == "--decode" ||
               A == "--stream" || A == "--parse-json") {
      if (I + 1 >= Argc)
        die(A + " needs an argument");
      Mode = A;
      ModeArg = Argv[++I];
    } else if (A == "-h" || A == "--help") {
      std::printf("usage: monocard-tokenizer-test TOKENIZER_JSON CASES_JSON\n"
                  "       monocard-tokenizer-test TOKENIZER_JSON "
                  "(--encode TEXT | --tokens TEXT | --decode IDS |\n"
                  "        --stream IDS [--prime IDS])\n"
                  "       monocard-tokenizer-test --parse-json FILE\n"
                  "flags: --no-add-special --skip-special --model-vocab N\n");
      return 0;
    } else if (A.size() > 1 && A[0] == '-') {
      die("unknown option '" + A + "'");
    } else {
      Pos.push_back(A);
    }
  }
  if (Mode == "--parse-json") {
    JsonDocument Doc;
    std::string Error;
    if (!parseJson(readFile(ModeArg), Doc, Error))
      die(ModeArg + ": " + Error);
    std::printf("%s\n", toJsonString(Doc.root()).c_str());
    return 0;
  }
  if (Pos.size() != (Mode.empty() ? 2u : 1u))
    die("expected TOKENIZER_JSON and CASES_JSON, or TOKENIZER_JSON and a mode "
        "(see --help)");
  std::string Error;
  std::unique_ptr<Tokenizer> Tok =
      Tokenizer::loadFile(Pos[0], Error, ModelVocab);
  if (!Tok)
    die(Error);
  if (Mode.empty())
    return runCases(*Tok, Pos[1]);
  if (Mode == "--encode") {
    std::printf("%s\n", joinIds(Tok->encode(ModeArg, AddSpecial)).c_str());
  } else if (Mode == "--tokens") {
    std::string S;
    for (int32_t Id : Tok->encode(ModeArg, AddSpecial))
      S += (S.empty() ? "" : " ") + jsonQuote(Tok->tokenToString(Id));
    std::printf("%s\n", S.c_str());
  } else if (Mode == "--decode") {
    std::printf("%s\n",
                Tok->decode(parseIds(*Tok, ModeArg), SkipSpecial).c_str());
  } else {
    std::vector<std::string> Pieces;
    streamDecode(*Tok, parseIds(*Tok, ModeArg), SkipSpecial, &Pieces,
                 parseIds(*Tok, PrimeArg));
    std::string S;
    for (const std::string &P : Pieces)
      S += (S.empty() ? "" : " ") + jsonQuote(P);
    std::printf("%s\n", S.c_str());
  }
  return 0;
}
