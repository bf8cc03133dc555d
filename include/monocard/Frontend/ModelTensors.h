//===- ModelTensors.h - the tensors an architecture reads -------*- C++ -*-===//

#ifndef MONOCARD_FRONTEND_MODELTENSORS_H
#define MONOCARD_FRONTEND_MODELTENSORS_H

#include "monocard/Frontend/ModelConfig.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace monocard {

struct ExpectedTensor {
  std::string name; // Hugging Face's tensor name
  llvm::SmallVector<int64_t> shape;
};

/// Every tensor `cfg`'s architecture reads, in Hugging Face's names and
/// [out, in] shapes, in a stable order.
std::vector<ExpectedTensor> expectedTensors(const ModelConfig &cfg);

/// Tensors that checkpoints may carry but the model never reads: saved RoPE
/// buffers of old Llama exports, and lm_head.weight next to tied embeddings.
bool isIgnorableTensor(const ModelConfig &cfg, llvm::StringRef name);

} // namespace monocard

#endif // MONOCARD_FRONTEND_MODELTENSORS_H
