//===- ModelConfig.cpp - parse and validate config.json -------------------===//
//
// Unknown fields are ignored (configs carry many that do not change the
// math); fields that change the math and are not supported are errors, so a
// model never compiles into something that silently computes the wrong thing.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/ModelConfig.h"
#include "monocard/Frontend/JsonInteger.h"
#include "monocard/Frontend/JsonLimits.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

using namespace llvm;
using namespace monocard;

namespace {

/// An upper bound and how messages write it.
struct Limit {
  int64_t value;
  const char *text;
};

// Generous limits: the largest real models are about 16x below each (hidden
// 16k-53k, 126 layers, 128 heads, vocab 256k, 1M positions, head_dim 256).
// They keep every size product the compiler forms from the config (weights,
// KV cache, RoPE tables) far from 2^63.
constexpr Limit kMaxWidth = {1 << 20, "2^20"}; // hidden, intermediate
constexpr Limit kMaxLayers = {1 << 12, "2^12"};
constexpr Limit kMaxHeads = {1 << 12, "2^12"}; // query and KV heads
constexpr Limit kMaxHeadDim = {1 << 12, "2^12"};
constexpr Limit kMaxVocab = {1 << 24, "2^24"};
constexpr Limit kMaxPositions = {1 << 24, "2^24"};
constexpr Limit kMaxTokenId = {(int64_t(1) << 31) - 1, "2^31-1"};
constexpr double kMaxRopeTheta = 1e12;
constexpr double kMaxRopeFactor = 1 << 20;

/// A JSON value as config.json spells it (1e+19, not an integer).
std::string jsonText(const json::Value &v) {
  std::string s;
  raw_string_ostream os(s);
  os << v;
  return s;
}

/// A limit as a person writes it: 0, 1, 1e+12.
std::string numText(double d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

/// Reads fields of one JSON object, turning every problem into an Error that
/// names the file and the field.
class FieldReader {
public:
  /// `prefix` names the enclosing object in messages ("rope_scaling.").
  FieldReader(const json::Object &obj, StringRef path, StringRef prefix = "")
      : obj(obj), path(path), prefix(prefix) {}

  Error fail(const Twine &msg) const {
    return createStringError(inconvertibleErrorCode(), path + ": " + msg);
  }

  /// "field 'rope_scaling.factor'"
  std::string field(StringRef key) const {
    return ("field '" + prefix + key + "'").str();
  }

  bool has(StringRef key) const {
    const json::Value *v = obj.get(key);
    return v && v->kind() != json::Value::Null;
  }

  /// The one way integers are read: an integer-valued number that fits
  /// int64 and lies in [lo, hi]. Upper bounds sit far beyond any real model;
  /// they exist so that sizes multiplied later cannot wrap around 2^64.
  Expected<int64_t> integer(StringRef key, int64_t lo, Limit hi) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return fail("missing " + field(key));
    std::optional<int64_t> i = exactInt64(*v);
    if (!i)
      return fail(field(key) + " must be an integer, got " + jsonText(*v));
    if (*i < lo)
      return fail(field(key) + " must be " +
                  (lo == 1 ? std::string("> 0") : ">= " + std::to_string(lo)) +
                  ", got " + Twine(*i));
    if (*i > hi.value)
      return fail(field(key) + " is " + Twine(*i) + ", beyond any " +
                  "real model (limit " + hi.text + ")");
    return *i;
  }

  Expected<int64_t> positive(StringRef key, Limit hi) const {
    return integer(key, 1, hi);
  }

  Expected<int64_t> positiveOr(StringRef key, int64_t dflt, Limit hi) const {
    return has(key) ? positive(key, hi) : Expected<int64_t>(dflt);
  }

  /// The one way floats are read: finite and in (lo, hi] (or [lo, hi] when
  /// `loInclusive`); NaN and infinities never reach the math.
  Expected<double> number(StringRef key, double dflt, double lo, double hi,
                          bool loInclusive = false) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt;
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return fail(field(key) + " must be a number");
    if (!std::isfinite(*d))
      return fail(field(key) + " must be finite, got " + jsonText(*v));
    if (loInclusive ? *d < lo : *d <= lo)
      return fail(field(key) + " must be " + (loInclusive ? ">= " : "> ") +
                  numText(lo) + ", got " + jsonText(*v));
    if (*d > hi)
      return fail(field(key) + " is " + jsonText(*v) +
                  ", beyond any real model (limit " + numText(hi) + ")");
    return *d;
  }

  Expected<bool> boolean(StringRef key, bool dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt;
    if (std::optional<bool> b = v->getAsBoolean())
      return *b;
    return fail(field(key) + " must be true or false");
  }

  Expected<std::string> string(StringRef key, StringRef dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt.str();
    if (std::optional<StringRef> s = v->getAsString())
      return s->str();
    return fail(field(key) + " must be a string");
  }

  /// A token id, or the first of a list of them (eos may be a list).
  Expected<int64_t> tokenId(StringRef key) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return -1;
    if (const json::Array *a = v->getAsArray()) {
      if (!a->empty())
        if (std::optional<int64_t> i = exactInt64(a->front()))
          if (*i >= 0 && *i <= kMaxTokenId.value)
            return *i;
      return fail(field(key) + " must be a token id or a list of them");
    }
    return integer(key, 0, kMaxTokenId);
  }

private:
  const json::Object &obj;
  StringRef path;
  StringRef prefix;
};

Error parseRopeScaling(const json::Object &obj, StringRef path,
                       StringRef prefix, ModelConfig &cfg) {
  FieldReader rs(obj, path, prefix);
  // Older configs say "type", newer ones "rope_type".
  Expected<std::string> type = rs.string("rope_type", "");
  if (!type)
    return type.takeError();
  if (type->empty()) {
    Expected<std::string> legacy = rs.string("type", "");
    if (!legacy)
      return legacy.takeError();
    *type = *legacy;
  }
  if (*type == "default" || type->empty())
    return Error::success();
  if (*type != "llama3")
    return rs.fail("unsupported rope_scaling type '" + *type +
                   "' (supported: llama3)");
  Llama3RopeScaling s;
  // -1 marks a missing factor; the combined check below reports it.
  Expected<double> factor =
      rs.number("factor", -1, 1, kMaxRopeFactor, /*loInclusive=*/true);
  Expected<double> low = rs.number("low_freq_factor", -1, 0, kMaxRopeFactor);
  Expected<double> high = rs.number("high_freq_factor", -1, 0, kMaxRopeFactor);
  Expected<int64_t> orig =
      rs.positive("original_max_position_embeddings", kMaxPositions);
  if (!factor)
    return factor.takeError();
  if (!low)
    return low.takeError();
  if (!high)
    return high.takeError();
  if (!orig)
    return orig.takeError();
  if (*factor <= 0 || *low <= 0 || *high <= *low || *orig <= 0)
    return rs.fail("rope_scaling of type llama3 needs factor > 0, "
                   "0 < low_freq_factor < high_freq_factor and "
                   "original_max_position_embeddings > 0");
  s.factor = *factor;
  s.lowFreqFactor = *low;
  s.highFreqFactor = *high;
  s.originalMaxPositionEmbeddings = *orig;
  cfg.ropeScaling = s;
  return Error::success();
}

} // namespace

Expected<ModelConfig> monocard::parseModelConfig(StringRef text,
                                                 StringRef path) {
  Expected<json::Value> parsed = parseJsonChecked(text, path);
  if (!parsed)
    return parsed.takeError();
  const json::Object *obj = parsed->getAsObject();
  if (!obj)
    return createStringError(inconvertibleErrorCode(),
                             path + ": expected a JSON object");
  FieldReader f(*obj, path);
  ModelConfig cfg;

  const json::Array *archs = obj->getArray("architectures");
  if (!archs || archs->empty() || !archs->front().getAsString())
    return f.fail("missing field 'architectures'");
  cfg.architecture = archs->front().getAsString()->str();
  bool isLlama = cfg.architecture == "LlamaForCausalLM";
  bool isMistral = cfg.architecture == "MistralForCausalLM";
  bool isQwen2 = cfg.architecture == "Qwen2ForCausalLM";
  if (!isLlama && !isMistral && !isQwen2)
    return f.fail("unsupported architecture '" + cfg.architecture +
                  "' (supported: LlamaForCausalLM, MistralForCausalLM, "
                  "Qwen2ForCausalLM)");

#define READ(field, expr)                                                      \
  do {                                                                         \
    auto v = (expr);                                                           \
    if (!v)                                                                    \
      return v.takeError();                                                    \
    cfg.field = *v;                                                            \
  } while (false)
  READ(hiddenSize, f.positive("hidden_size", kMaxWidth));
  READ(intermediateSize, f.positive("intermediate_size", kMaxWidth));
  READ(numLayers, f.positive("num_hidden_layers", kMaxLayers));
  READ(numHeads, f.positive("num_attention_heads", kMaxHeads));
  READ(numKvHeads,
       f.positiveOr("num_key_value_heads", cfg.numHeads, kMaxHeads));
  READ(vocabSize, f.positive("vocab_size", kMaxVocab));
  READ(maxPositionEmbeddings,
       f.positiveOr("max_position_embeddings", 2048, kMaxPositions));
  // eps is added to a mean of squares: 1 or more would swamp it.
  READ(rmsNormEps, f.number("rms_norm_eps", 1e-6, 0, 1));
  READ(ropeTheta, f.number("rope_theta", 10000.0, 0, kMaxRopeTheta));
  READ(tieWordEmbeddings, f.boolean("tie_word_embeddings", false));
  READ(bosTokenId, f.tokenId("bos_token_id"));
  READ(eosTokenId, f.tokenId("eos_token_id"));
#undef READ

  if (cfg.numKvHeads <= 0 || cfg.numHeads % cfg.numKvHeads != 0)
    return f.fail("num_attention_heads (" + Twine(cfg.numHeads) +
                  ") must be a multiple of num_key_value_heads (" +
                  Twine(cfg.numKvHeads) + ")");
  if (f.has("head_dim")) {
    Expected<int64_t> hd = f.positive("head_dim", kMaxHeadDim);
    if (!hd)
      return hd.takeError();
    cfg.headDim = *hd;
  } else {
    if (cfg.hiddenSize % cfg.numHeads != 0)
      return f.fail("hidden_size (" + Twine(cfg.hiddenSize) +
                    ") is not a multiple of num_attention_heads (" +
                    Twine(cfg.numHeads) + ")");
    cfg.headDim = cfg.hiddenSize / cfg.numHeads;
  }
  if (cfg.headDim % 2 != 0)
    return f.fail("head_dim (" + Twine(cfg.headDim) + ") must be even");

  Expected<std::string> act = f.string("hidden_act", "silu");
  if (!act)
    return act.takeError();
  if (*act != "silu")
    return f.fail("unsupported hidden_act '" + *act + "' (supported: silu)");

  if (isQwen2) {
    cfg.qkvBias = true;
  } else if (isLlama) {
    Expected<bool> bias = f.boolean("attention_bias", false);
    if (!bias)
      return bias.takeError();
    cfg.qkvBias = cfg.oBias = *bias;
    Expected<bool> mlpBias = f.boolean("mlp_bias", false);
    if (!mlpBias)
      return mlpBias.takeError();
    if (*mlpBias)
      return f.fail("unsupported field 'mlp_bias': true");
  }

  // Sliding-window attention only changes results past the window; the
  // importer rejects a window shorter than the compiled context later.
  bool useWindow = true;
  if (isQwen2) {
    Expected<bool> use = f.boolean("use_sliding_window", false);
    if (!use)
      return use.takeError();
    useWindow = *use;
  }
  if (useWindow && f.has("sliding_window")) {
    // Only compared with --max-seq, never multiplied: any int64 is safe.
    Expected<int64_t> w = f.positive("sliding_window", {INT64_MAX, "2^63-1"});
    if (!w)
      return w.takeError();
    cfg.slidingWindow = *w;
  }

  // transformers >= 5 writes `rope_parameters` (theta and scaling in one
  // object) instead of `rope_theta` + `rope_scaling`.
  for (StringRef key : {"rope_scaling", "rope_parameters"}) {
    const json::Value *rs = obj->get(key);
    if (!rs || rs->kind() == json::Value::Null)
      continue;
    const json::Object *rsObj = rs->getAsObject();
    if (!rsObj)
      return f.fail("field '" + key + "' must be an object or null");
    if (key == "rope_parameters" && !f.has("rope_theta")) {
      Expected<double> theta =
          FieldReader(*rsObj, path, "rope_parameters.")
              .number("rope_theta", 10000.0, 0, kMaxRopeTheta);
      if (!theta)
        return theta.takeError();
      cfg.ropeTheta = *theta;
    }
    if (Error e = parseRopeScaling(*rsObj, path, (key + ".").str(), cfg))
      return std::move(e);
  }
  return cfg;
}

Expected<ModelConfig> monocard::readModelConfig(StringRef dir) {
  SmallString<256> path(dir);
  sys::path::append(path, "config.json");
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(path);
  if (!buf)
    return createStringError(buf.getError(),
                             "cannot read " + path + ": " +
                                 buf.getError().message());
  return parseModelConfig((*buf)->getBuffer(), path);
}
