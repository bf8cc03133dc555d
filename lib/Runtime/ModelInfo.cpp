//===- ModelInfo.cpp - The monocard_model_info description ----------------===//

#include "monocard/Runtime/ModelInfo.h"

#include "monocard/Runtime/Json.h"

#include <algorithm>

using namespace monocard;

bool ModelInfo::isEos(int64_t Token) const {
  return std::find(EosTokenIds.begin(), EosTokenIds.end(), Token) !=
         EosTokenIds.end();
}

uint64_t monocard::fnv1a64(std::string_view Text) {
  uint64_t H = 0xcbf29ce484222325ULL;
  for (unsigned char C : Text) {
    H ^= C;
    H *= 0x100000001b3ULL;
  }
  return H;
}

std::string monocard::formatFingerprint(uint64_t V) {
  static const char Hex[] = "0123456789abcdef";
  std::string S(16, '0');
  for (int I = 15; I >= 0; --I, V >>= 4)
    S[static_cast<size_t>(I)] = Hex[V & 15];
  return S;
}

namespace {

/// Reads members of one JSON object, recording the first problem with a
/// message that names the member (and, for recipe entries, the entry).
class Reader {
public:
  Reader(const JsonValue &Obj, std::string Where, std::string &Error)
      : Obj(Obj), Where(std::move(Where)), Error(Error) {}

  bool failed() const { return !Error.empty(); }

  bool fail(std::string_view Key, std::string_view What) {
    if (Error.empty())
      Error = "model info: " + Where + "'" + std::string(Key) + "' " +
              std::string(What);
    return false;
  }

  const JsonValue *get(std::string_view Key, bool Required = true) {
    const JsonValue *V = Obj.find(Key);
    if (!V && Required)
      fail(Key, "is missing");
    return V;
  }

  /// An integer >= Min.
  void integer(std::string_view Key, int64_t &Out, int64_t Min) {
    const JsonValue *V = get(Key);
    if (!V)
      return;
    if (!V->isInt() || V->asInt() < Min) {
      fail(Key, Min > 0 ? "must be a positive integer"
                        : "must be a non-negative integer");
      return;
    }
    Out = V->asInt();
  }

  void bytes(std::string_view Key, uint64_t &Out) {
    int64_t V = 0;
    integer(Key, V, 0);
    Out = static_cast<uint64_t>(V);
  }

  void string(std::string_view Key, std::string &Out) {
    const JsonValue *V = get(Key);
    if (V && (!V->isString() || V->asString().empty()))
      fail(Key, "must be a non-empty string");
    else if (V)
      Out = std::string(V->asString());
  }

  /// A token id: an integer, null or absent (-1).
  void tokenId(std::string_view Key, int64_t &Out) {
    const JsonValue *V = get(Key, /*Required=*/false);
    if (!V || V->isNull())
      return;
    if (!V->isInt() || V->asInt() < 0)
      fail(Key, "must be a token id or null");
    else
      Out = V->asInt();
  }

private:
  const JsonValue &Obj;
  std::string Where;
  std::string &Error;
};

bool parseRecipeEntry(const JsonValue &V, size_t Index, RecipeEntry &E,
                      std::string &Error) {
  std::string Where = "recipe[" + std::to_string(Index) + "]: ";
  if (!V.isObject()) {
    Error = "model info: " + Where + "is not an object";
    return false;
  }
  Reader R(V, Where, Error);
  R.string("param", E.Param);
  if (!E.Param.empty())
    Where = "recipe entry '" + E.Param + "': ";
  Reader RE(V, Where, Error);
  int64_t Offset = 0;
  RE.integer("offset", Offset, 0);
  E.Offset = static_cast<uint64_t>(Offset);
  if (!RE.failed() && E.Offset % 64 != 0)
    RE.fail("offset", "must be a multiple of 64");
  RE.string("dtype", E.DType);
  RE.string("transform", E.Transform);
  if (const JsonValue *S = RE.get("shape")) {
    if (!S->isArray())
      RE.fail("shape", "must be an array of non-negative integers");
    for (const JsonValue &D : S->array()) {
      if (!D.isInt() || D.asInt() < 0) {
        RE.fail("shape", "must be an array of non-negative integers");
        break;
      }
      E.Shape.push_back(D.asInt());
    }
  }
  if (const JsonValue *S = RE.get("sources")) {
    if (!S->isArray() || S->size() == 0)
      RE.fail("sources", "must be a non-empty array of tensor names");
    for (const JsonValue &N : S->array()) {
      if (!N.isString()) {
        RE.fail("sources", "must be a non-empty array of tensor names");
        break;
      }
      E.Sources.emplace_back(N.asString());
    }
  }
  return !RE.failed();
}

} // namespace

bool monocard::parseModelInfo(std::string_view Json, ModelInfo &Out,
                              std::string &Error) {
  Out = ModelInfo();
  Error.clear();
  JsonDocument Doc;
  std::string JsonError;
  if (!parseJson(Json, Doc, JsonError)) {
    Error = "model info is not valid JSON: " + JsonError;
    return false;
  }
  const JsonValue &Root = Doc.root();
  if (!Root.isObject()) {
    Error = "model info is not a JSON object";
    return false;
  }
  Reader R(Root, "", Error);
  R.integer("format", Out.Format, 0);
  if (R.failed())
    return false;
  if (Out.Format != 1) {
    Error = "model info has format " + std::to_string(Out.Format) +
            "; this launcher reads format 1";
    return false;
  }
  R.string("target", Out.Target);
  R.string("architecture", Out.Architecture);
  R.integer("vocab_size", Out.VocabSize, 1);
  R.integer("hidden_size", Out.HiddenSize, 1);
  R.integer("num_layers", Out.NumLayers, 1);
  R.integer("num_heads", Out.NumHeads, 1);
  R.integer("num_kv_heads", Out.NumKvHeads, 1);
  R.integer("head_dim", Out.HeadDim, 1);
  R.integer("max_seq", Out.MaxSeq, 1);
  R.integer("prefill_chunk", Out.PrefillChunk, 1);
  R.tokenId("bos_token_id", Out.BosTokenId);
  // eos_token_id: an id, null/absent, or a list of ids.
  const JsonValue *Eos = R.get("eos_token_id", /*Required=*/false);
  if (Eos && Eos->isArray()) {
    for (const JsonValue &Id : Eos->array()) {
      if (!Id.isInt() || Id.asInt() < 0) {
        R.fail("eos_token_id", "must be a token id, a list of ids or null");
        break;
      }
      Out.EosTokenIds.push_back(Id.asInt());
    }
    if (!Out.EosTokenIds.empty())
      Out.EosTokenId = Out.EosTokenIds.front();
  } else {
    R.tokenId("eos_token_id", Out.EosTokenId);
    if (Out.EosTokenId >= 0)
      Out.EosTokenIds.push_back(Out.EosTokenId);
  }
  R.bytes("weights_bytes", Out.WeightsBytes);
  R.bytes("kv_bytes", Out.KvBytes);
  R.bytes("arena_bytes", Out.ArenaBytes);
  R.string("fingerprint", Out.Fingerprint);
  if (R.failed())
    return false;

  if (Out.VocabSize > INT32_MAX)
    return R.fail("vocab_size", "does not fit 32-bit token ids");
  if (Out.Fingerprint.size() != 16 ||
      Out.Fingerprint.find_first_not_of("0123456789abcdef") !=
          std::string::npos)
    return R.fail("fingerprint", "must be 16 lowercase hex digits");
  Out.FingerprintValue = std::stoull(Out.Fingerprint, nullptr, 16);

  const JsonValue *Recipe = R.get("recipe");
  if (!Recipe)
    return false;
  if (!Recipe->isArray())
    return R.fail("recipe", "must be an array");
  Out.Recipe.resize(Recipe->size());
  for (size_t I = 0; I < Recipe->size(); ++I)
    if (!parseRecipeEntry((*Recipe)[I], I, Out.Recipe[I], Error))
      return false;

  // The CUDA steps are launch lists in the info itself; a CUDA model
  // without them has nothing to run.
  if (const JsonValue *Cuda = Root.find("cuda"))
    return parseCudaLaunchPlan(*Cuda, Out, Out.Cuda, Error);
  if (Out.Target == "cuda")
    return R.fail("cuda", "is missing (the target is 'cuda')");
  return true;
}
