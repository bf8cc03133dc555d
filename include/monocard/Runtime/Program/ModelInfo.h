//===- ModelInfo.h - The monocard_model_info description --------*- C++ -*-===//
//
// The compiled host object carries a JSON description of the model and of
// its packing recipe (docs/runtime-abi.md). The launcher reads it to size
// its buffers and check the weights file; the packer reads the recipe.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_PROGRAM_MODELINFO_H
#define MONOCARD_RUNTIME_PROGRAM_MODELINFO_H

#include "monocard/Runtime/Program/CudaLaunchPlan.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace monocard {

/// The `quant` member of a quantized recipe entry (docs/packed-weights-
/// format.md): a data plane of RowBytes per row at the entry's offset and a
/// parameter plane of [scale, zero] pairs at ScalesOffset.
struct QuantParams {
  int64_t Bits = 0;          // 8 ("i8") or 4 ("i4")
  int64_t Group = 0;         // elements per scale; K for i8
  std::string ScaleDType;    // "f32", "f16", "bf16"
  uint64_t ScalesOffset = 0; // bytes from the weights base, 64-aligned
  uint64_t RowBytes = 0;     // alignTo(ceil(K * Bits / 8), 16)

  /// Groups per row: ceil(K / Group).
  int64_t groups(int64_t K) const { return (K + Group - 1) / Group; }
};

/// One packed tensor: where it goes and how it is made from the checkpoint.
struct RecipeEntry {
  std::string Param;                // e.g. "model.embed_tokens.weight"
  uint64_t Offset = 0;              // bytes from the weights base, 64-aligned
  std::string DType;                // "f32", "f16", "bf16", "i8", "i4"
  std::vector<int64_t> Shape;       // the packed tensor's shape
  std::vector<std::string> Sources; // safetensors names read, in order
  std::string Transform;            // "convert", "concat", "quantize"
  /// Flat triples (start, count, block) of row pairing; empty if none.
  std::vector<int64_t> PairRows;
  /// Present exactly when DType is "i8" or "i4".
  std::optional<QuantParams> Quant;
};

struct ModelInfo {
  int64_t Format = 0;
  std::string Target;       // "cpu", "cuda"
  std::string Architecture; // e.g. "LlamaForCausalLM"
  int64_t VocabSize = 0;
  int64_t HiddenSize = 0;
  int64_t NumLayers = 0;
  int64_t NumHeads = 0;
  int64_t NumKvHeads = 0;
  int64_t HeadDim = 0;
  int64_t MaxSeq = 0;
  int64_t PrefillChunk = 0;
  /// -1 when the model has none (JSON null or absent).
  int64_t BosTokenId = -1;
  /// The first end-of-sequence id, -1 if none. HF configs may list several
  /// (Llama 3), so "eos_token_id" may also be an array: EosTokenIds has all.
  int64_t EosTokenId = -1;
  std::vector<int64_t> EosTokenIds;
  uint64_t WeightsBytes = 0;
  uint64_t KvBytes = 0;
  uint64_t ArenaBytes = 0;
  std::string Fingerprint;       // 16 lowercase hex digits
  uint64_t FingerprintValue = 0; // the same, as the number stored in .weights
  std::vector<RecipeEntry> Recipe;
  /// The "cuda" member: required when Target is "cuda", else optional.
  CudaLaunchPlan Cuda;

  bool isEos(int64_t Token) const;
};

/// Parses and validates \p Json. Unknown members are ignored (newer
/// compilers may add some). On failure sets \p Error to one line, e.g.
/// "model info: 'vocab_size' must be a positive integer".
bool parseModelInfo(std::string_view Json, ModelInfo &Out, std::string &Error);

/// FNV-1a 64 of \p Text (the fingerprint's hash).
uint64_t fnv1a64(std::string_view Text);

/// \p V as 16 lowercase hex digits.
std::string formatFingerprint(uint64_t V);

} // namespace monocard

#endif // MONOCARD_RUNTIME_PROGRAM_MODELINFO_H
