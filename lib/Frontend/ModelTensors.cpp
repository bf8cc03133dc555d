//===- ModelTensors.cpp - the tensors an architecture reads ---------------===//

#include "monocard/Frontend/ModelTensors.h"

using namespace monocard;

std::vector<ExpectedTensor> monocard::expectedTensors(const ModelConfig &cfg) {
  std::vector<ExpectedTensor> out;
  auto add = [&](std::string name, llvm::SmallVector<int64_t> shape) {
    out.push_back({std::move(name), std::move(shape)});
  };
  int64_t d = cfg.hiddenSize, f = cfg.intermediateSize;
  int64_t q = cfg.numHeads * cfg.headDim, kv = cfg.numKvHeads * cfg.headDim;
  add("model.embed_tokens.weight", {cfg.vocabSize, d});
  for (int64_t l = 0; l < cfg.numLayers; ++l) {
    std::string p = "model.layers." + std::to_string(l);
    add(p + ".input_layernorm.weight", {d});
    add(p + ".self_attn.q_proj.weight", {q, d});
    add(p + ".self_attn.k_proj.weight", {kv, d});
    add(p + ".self_attn.v_proj.weight", {kv, d});
    if (cfg.qkvBias) {
      add(p + ".self_attn.q_proj.bias", {q});
      add(p + ".self_attn.k_proj.bias", {kv});
      add(p + ".self_attn.v_proj.bias", {kv});
    }
    add(p + ".self_attn.o_proj.weight", {d, q});
    if (cfg.oBias)
      add(p + ".self_attn.o_proj.bias", {d});
    add(p + ".post_attention_layernorm.weight", {d});
    add(p + ".mlp.gate_proj.weight", {f, d});
    add(p + ".mlp.up_proj.weight", {f, d});
    add(p + ".mlp.down_proj.weight", {d, f});
  }
  add("model.norm.weight", {d});
  if (!cfg.tieWordEmbeddings)
    add("lm_head.weight", {cfg.vocabSize, d});
  return out;
}

bool monocard::isIgnorableTensor(const ModelConfig &cfg,
                                 llvm::StringRef name) {
  if (name.ends_with(".rotary_emb.inv_freq"))
    return true;
  return cfg.tieWordEmbeddings && name == "lm_head.weight";
}
