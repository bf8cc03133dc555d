//===- ModelConfig.cpp - parse and validate config.json -------------------===//
//
// Unknown fields are ignored (configs carry many that do not change the
// math); fields that change the math and are not supported are errors, so a
// model never compiles into something that silently computes the wrong thing.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/ModelConfig.h"
#include "monocard/Frontend/JsonLimits.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;
using namespace monocard;

namespace {

/// Reads fields of one JSON object, turning every problem into an Error that
/// names the file and the field.
class FieldReader {
public:
  FieldReader(const json::Object &obj, StringRef path) : obj(obj), path(path) {}

  Error fail(const Twine &msg) const {
    return createStringError(inconvertibleErrorCode(), path + ": " + msg);
  }

  bool has(StringRef key) const {
    const json::Value *v = obj.get(key);
    return v && v->kind() != json::Value::Null;
  }

  Expected<int64_t> integer(StringRef key) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return fail("missing field '" + key + "'");
    if (std::optional<int64_t> i = v->getAsInteger())
      return *i;
    return fail("field '" + key + "' must be an integer");
  }

  Expected<int64_t> positive(StringRef key) const {
    Expected<int64_t> i = integer(key);
    if (i && *i <= 0)
      return fail("field '" + key + "' must be > 0, got " + Twine(*i));
    return i;
  }

  Expected<int64_t> integerOr(StringRef key, int64_t dflt) const {
    return has(key) ? integer(key) : Expected<int64_t>(dflt);
  }

  Expected<double> number(StringRef key, double dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt;
    if (std::optional<double> d = v->getAsNumber())
      return *d;
    return fail("field '" + key + "' must be a number");
  }

  Expected<bool> boolean(StringRef key, bool dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt;
    if (std::optional<bool> b = v->getAsBoolean())
      return *b;
    return fail("field '" + key + "' must be true or false");
  }

  Expected<std::string> string(StringRef key, StringRef dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt.str();
    if (std::optional<StringRef> s = v->getAsString())
      return s->str();
    return fail("field '" + key + "' must be a string");
  }

  /// A token id, or the first of a list of them (eos may be a list).
  Expected<int64_t> tokenId(StringRef key) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return -1;
    if (const json::Array *a = v->getAsArray()) {
      if (!a->empty())
        if (std::optional<int64_t> i = a->front().getAsInteger())
          return *i;
      return fail("field '" + key + "' must be a token id or a list of them");
    }
    return integer(key);
  }

private:
  const json::Object &obj;
  StringRef path;
};

Error parseRopeScaling(const json::Object &obj, StringRef path,
                       ModelConfig &cfg) {
  FieldReader rs(obj, path);
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
  Expected<double> factor = rs.number("factor", -1);
  Expected<double> low = rs.number("low_freq_factor", -1);
  Expected<double> high = rs.number("high_freq_factor", -1);
  Expected<int64_t> orig = rs.integer("original_max_position_embeddings");
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
  READ(hiddenSize, f.positive("hidden_size"));
  READ(intermediateSize, f.positive("intermediate_size"));
  READ(numLayers, f.positive("num_hidden_layers"));
  READ(numHeads, f.positive("num_attention_heads"));
  READ(numKvHeads, f.integerOr("num_key_value_heads", cfg.numHeads));
  READ(vocabSize, f.positive("vocab_size"));
  READ(maxPositionEmbeddings, f.integerOr("max_position_embeddings", 2048));
  READ(rmsNormEps, f.number("rms_norm_eps", 1e-6));
  READ(ropeTheta, f.number("rope_theta", 10000.0));
  READ(tieWordEmbeddings, f.boolean("tie_word_embeddings", false));
  READ(bosTokenId, f.tokenId("bos_token_id"));
  READ(eosTokenId, f.tokenId("eos_token_id"));
#undef READ

  if (cfg.numKvHeads <= 0 || cfg.numHeads % cfg.numKvHeads != 0)
    return f.fail("num_attention_heads (" + Twine(cfg.numHeads) +
                  ") must be a multiple of num_key_value_heads (" +
                  Twine(cfg.numKvHeads) + ")");
  if (f.has("head_dim")) {
    Expected<int64_t> hd = f.positive("head_dim");
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
  if (cfg.rmsNormEps <= 0)
    return f.fail("field 'rms_norm_eps' must be > 0");
  if (cfg.ropeTheta <= 0)
    return f.fail("field 'rope_theta' must be > 0");

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
    Expected<int64_t> w = f.positive("sliding_window");
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
      Expected<double> theta = FieldReader(*rsObj, path).number("rope_theta",
                                                                10000.0);
      if (!theta)
        return theta.takeError();
      if (*theta <= 0)
        return f.fail("field 'rope_theta' must be > 0");
      cfg.ropeTheta = *theta;
    }
    if (Error e = parseRopeScaling(*rsObj, path, cfg))
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
