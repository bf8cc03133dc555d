//===- ModelConfig.h - a Hugging Face config.json, validated ----*- C++ -*-===//

#ifndef MONOCARD_FRONTEND_MODELCONFIG_H
#define MONOCARD_FRONTEND_MODELCONFIG_H

#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace monocard {

/// The `rope_scaling` block of type `llama3`.
struct Llama3RopeScaling {
  double factor = 8.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  int64_t originalMaxPositionEmbeddings = 8192;
};

/// What the importer needs of config.json, checked for consistency.
struct ModelConfig {
  std::string architecture; // LlamaForCausalLM, MistralForCausalLM, ...
  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  int64_t vocabSize = 0;
  int64_t maxPositionEmbeddings = 0;
  double rmsNormEps = 1e-6;
  double ropeTheta = 10000.0;
  std::optional<Llama3RopeScaling> ropeScaling;
  bool tieWordEmbeddings = false;
  bool qkvBias = false; // Qwen2 always; Llama with attention_bias
  bool oBias = false;   // Llama with attention_bias
  std::optional<int64_t> slidingWindow;
  int64_t bosTokenId = -1;
  int64_t eosTokenId = -1;
};

/// Parses and validates `text` (the contents of `path`). Errors name the
/// file and the field.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef text,
                                             llvm::StringRef path);

/// Reads and parses `<dir>/config.json`.
llvm::Expected<ModelConfig> readModelConfig(llvm::StringRef dir);

} // namespace monocard

#endif // MONOCARD_FRONTEND_MODELCONFIG_H
