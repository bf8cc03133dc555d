//===- ModelInfo.cpp - The monocard_model_info description ----------------===//

#include "monocard/Runtime/Program/ModelInfo.h"

#include "monocard/Runtime/Contract.h"
#include "monocard/Runtime/Support/DType.h"
#include "monocard/Runtime/Support/Json.h"

#include <algorithm>

using namespace monocard;
namespace key = contract::key;

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

std::string formatTriple(const int64_t *T) {
  return "(" + std::to_string(T[0]) + ", " + std::to_string(T[1]) + ", " +
         std::to_string(T[2]) + ")";
}

/// `pair_rows`: flat (start, count, block) triples; block even, count a
/// multiple of block, [start, start + count) inside the rows (elements of a
/// 1-D tensor) and no two triples covering the same row.
bool parsePairRows(const JsonValue &V, RecipeEntry &E, Reader &R) {
  const char *Shape = "must be a flat array of non-negative integers, three "
                      "(start, count, block) per row run";
  if (!V.isArray() || V.size() % 3 != 0)
    return R.fail(key::kPairRows, Shape);
  for (const JsonValue &N : V.array()) {
    if (!N.isInt() || N.asInt() < 0)
      return R.fail(key::kPairRows, Shape);
    E.PairRows.push_back(N.asInt());
  }
  if (E.PairRows.empty())
    return true;
  if (E.Shape.empty())
    return R.fail(key::kPairRows, "needs a shape of rank 1 or more");
  int64_t Rows = E.Shape[0];
  std::vector<std::pair<int64_t, size_t>> Starts;
  for (size_t I = 0; I < E.PairRows.size(); I += 3) {
    const int64_t *T = &E.PairRows[I];
    std::string Triple = "triple " + formatTriple(T) + " ";
    if (T[2] == 0 || T[2] % 2 != 0)
      return R.fail(key::kPairRows, Triple + "has block " +
                                        std::to_string(T[2]) +
                                        ", which is not positive and even");
    if (T[1] % T[2] != 0)
      return R.fail(key::kPairRows,
                    Triple + "has count " + std::to_string(T[1]) +
                        ", not a multiple of block " + std::to_string(T[2]));
    if (T[0] > Rows || T[1] > Rows - T[0])
      return R.fail(key::kPairRows,
                    Triple + "covers rows [" + std::to_string(T[0]) + ", " +
                        std::to_string(T[0] + T[1]) + "), outside the " +
                        std::to_string(Rows) + " rows of shape " +
                        formatShape(E.Shape));
    if (T[1] > 0)
      Starts.push_back({T[0], I});
  }
  std::sort(Starts.begin(), Starts.end());
  for (size_t I = 1; I < Starts.size(); ++I) {
    const int64_t *A = &E.PairRows[Starts[I - 1].second];
    const int64_t *B = &E.PairRows[Starts[I].second];
    if (A[0] + A[1] > B[0])
      return R.fail(key::kPairRows, "triples " + formatTriple(A) + " and " +
                                        formatTriple(B) + " overlap");
  }
  return true;
}

/// `quant`: {bits, group, scale_dtype, scales_offset, row_bytes} of an
/// i8/i4 entry of shape [N, K].
bool parseQuant(const JsonValue &V, RecipeEntry &E, const std::string &Where,
                std::string &Error) {
  Reader Top(V, Where, Error);
  if (!V.isObject())
    return Top.fail(key::kQuant, "must be an object");
  if (E.Shape.size() != 2)
    return Top.fail(key::kDType, "'" + E.DType +
                                     "' needs a 2-D shape [N, K], not " +
                                     formatShape(E.Shape));
  Reader R(V, Where + "quant ", Error);
  QuantParams Q;
  int64_t K = E.Shape[1];
  int64_t Bits = E.DType == "i8" ? 8 : 4;
  R.integer("bits", Q.Bits, 0);
  if (!R.failed() && Q.Bits != 4 && Q.Bits != 8)
    R.fail("bits", "is " + std::to_string(Q.Bits) + "; it must be 4 or 8");
  if (!R.failed() && Q.Bits != Bits)
    R.fail("bits", "is " + std::to_string(Q.Bits) + ", but dtype '" + E.DType +
                       "' has " + std::to_string(Bits) + "-bit elements");
  R.integer("group", Q.Group, 1);
  if (!R.failed() && Bits == 8 && Q.Group != K)
    R.fail("group", "is " + std::to_string(Q.Group) +
                        ", but 'i8' is per channel: it must be K (" +
                        std::to_string(K) + ")");
  R.string("scale_dtype", Q.ScaleDType);
  if (!R.failed() && Q.ScaleDType != "f32" && Q.ScaleDType != "f16" &&
      Q.ScaleDType != "bf16")
    R.fail("scale_dtype",
           "is '" + Q.ScaleDType + "'; it must be 'f32', 'f16' or 'bf16'");
  R.bytes("scales_offset", Q.ScalesOffset);
  if (!R.failed() && Q.ScalesOffset % 64 != 0)
    R.fail("scales_offset", "must be a multiple of 64");
  R.bytes("row_bytes", Q.RowBytes);
  uint64_t Packed =
      Bits == 8 ? static_cast<uint64_t>(K) : (static_cast<uint64_t>(K) + 1) / 2;
  uint64_t Want = (Packed + 15) / 16 * 16;
  if (!R.failed() && Q.RowBytes != Want)
    R.fail("row_bytes", "is " + std::to_string(Q.RowBytes) + ", but a row of " +
                            std::to_string(K) + " " + std::to_string(Bits) +
                            "-bit elements takes " + std::to_string(Want) +
                            " (16-aligned)");
  if (R.failed())
    return false;
  E.Quant = Q;
  return true;
}

bool parseRecipeEntry(const JsonValue &V, size_t Index, RecipeEntry &E,
                      std::string &Error) {
  std::string Where = "recipe[" + std::to_string(Index) + "]: ";
  if (!V.isObject()) {
    Error = "model info: " + Where + "is not an object";
    return false;
  }
  Reader R(V, Where, Error);
  R.string(key::kParam, E.Param);
  if (!E.Param.empty())
    Where = "recipe entry '" + E.Param + "': ";
  Reader RE(V, Where, Error);
  int64_t Offset = 0;
  RE.integer(key::kOffset, Offset, 0);
  E.Offset = static_cast<uint64_t>(Offset);
  if (!RE.failed() && E.Offset % 64 != 0)
    RE.fail(key::kOffset, "must be a multiple of 64");
  RE.string(key::kDType, E.DType);
  RE.string(key::kTransform, E.Transform);
  if (const JsonValue *S = RE.get(key::kShape)) {
    if (!S->isArray())
      RE.fail(key::kShape, "must be an array of non-negative integers");
    for (const JsonValue &D : S->array()) {
      if (!D.isInt() || D.asInt() < 0) {
        RE.fail(key::kShape, "must be an array of non-negative integers");
        break;
      }
      E.Shape.push_back(D.asInt());
    }
  }
  if (const JsonValue *S = RE.get(key::kSources)) {
    if (!S->isArray() || S->size() == 0)
      RE.fail(key::kSources, "must be a non-empty array of tensor names");
    for (const JsonValue &N : S->array()) {
      if (!N.isString()) {
        RE.fail(key::kSources, "must be a non-empty array of tensor names");
        break;
      }
      E.Sources.emplace_back(N.asString());
    }
  }
  if (RE.failed())
    return false;
  if (const JsonValue *P = V.find(key::kPairRows))
    if (!parsePairRows(*P, E, RE))
      return false;
  const JsonValue *Q = V.find(key::kQuant);
  bool Quantized = E.DType == "i8" || E.DType == "i4";
  if (Quantized && !Q)
    return RE.fail(key::kDType, "'" + E.DType + "' needs a 'quant' member");
  if (Q && !Quantized)
    return RE.fail(key::kQuant, "is only valid with dtype 'i8' or 'i4'");
  if (Q && !parseQuant(*Q, E, Where, Error))
    return false;
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
  R.integer(key::kFormat, Out.Format, 0);
  if (R.failed())
    return false;
  // Checked first: a program of another format may spell everything
  // after this differently.
  if (Out.Format != contract::kModelInfoFormat) {
    Error = "model info has format " + std::to_string(Out.Format) +
            "; this launcher reads format " +
            std::to_string(contract::kModelInfoFormat);
    return false;
  }
  R.string(key::kTarget, Out.Target);
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
  R.bytes(key::kWeightsBytes, Out.WeightsBytes);
  R.bytes(key::kKvBytes, Out.KvBytes);
  R.bytes(key::kArenaBytes, Out.ArenaBytes);
  R.string(key::kFingerprint, Out.Fingerprint);
  if (R.failed())
    return false;

  if (Out.VocabSize > INT32_MAX)
    return R.fail("vocab_size", "does not fit 32-bit token ids");
  if (Out.Fingerprint.size() != 16 ||
      Out.Fingerprint.find_first_not_of("0123456789abcdef") !=
          std::string::npos)
    return R.fail(key::kFingerprint, "must be 16 lowercase hex digits");
  Out.FingerprintValue = std::stoull(Out.Fingerprint, nullptr, 16);

  const JsonValue *Recipe = R.get(key::kRecipe);
  if (!Recipe)
    return false;
  if (!Recipe->isArray())
    return R.fail(key::kRecipe, "must be an array");
  Out.Recipe.resize(Recipe->size());
  for (size_t I = 0; I < Recipe->size(); ++I)
    if (!parseRecipeEntry((*Recipe)[I], I, Out.Recipe[I], Error))
      return false;

  // The CUDA steps are launch lists in the info itself; a CUDA model
  // without them has nothing to run.
  if (const JsonValue *Cuda = Root.find(key::kCuda))
    return parseCudaLaunchPlan(*Cuda, Out, Out.Cuda, Error);
  if (Out.Target == "cuda")
    return R.fail(key::kCuda, "is missing (the target is 'cuda')");
  return true;
}
