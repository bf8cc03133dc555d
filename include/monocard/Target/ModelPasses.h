//===- ModelPasses.h - the tfm passes both targets run first ----*- C++ -*-===//
//
// Before either target lays out the weights, the tfm IR may be fused
// (tfm-fuse) and its linear weights quantized (tfm-quantize). These are the
// options `monocard-compile` exposes as --no-fuse, --quant, --group and
// --quant-lm-head.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_MODELPASSES_H
#define MONOCARD_TARGET_MODELPASSES_H

#include "mlir/Pass/PassManager.h"

#include <cstdint>

namespace monocard {

struct ModelPassOptions {
  /// Run tfm-fuse.
  bool fuse = true;
  /// Bits per quantized weight: 0 (full precision), 8 or 4.
  int64_t quantBits = 0;
  /// Elements per scale of 4-bit weights.
  int64_t group = 128;
  /// Quantize the output projection (lm_head) too.
  bool quantLmHead = false;
};

/// tfm-fuse unless disabled, then tfm-quantize when quantBits != 0. Runs
/// before tfm-layout-weights.
void addModelPasses(mlir::OpPassManager &pm, const ModelPassOptions &options);

} // namespace monocard

#endif // MONOCARD_TARGET_MODELPASSES_H
