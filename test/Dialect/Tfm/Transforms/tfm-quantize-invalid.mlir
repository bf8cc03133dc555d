// RUN: monocard-opt %s -split-input-file --tfm-quantize="bits=3" -verify-diagnostics
// RUN: not monocard-opt %s --tfm-quantize="bits=4 group=0" 2>&1 | FileCheck %s --check-prefix=GROUP

// Only 8-bit per-channel and 4-bit group-wise codes exist.
// expected-error @+1 {{tfm-quantize: bits must be 4 or 8, got 3}}
module {
  func.func @f(%x: tensor<1x16xf32>) -> tensor<1x8xf32> {
    %w = tfm.param @w : tensor<8x16xf32>
    %y = tfm.linear %x, %w : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    return %y : tensor<1x8xf32>
  }
}
// GROUP: tfm-quantize: group must be positive, got 0
