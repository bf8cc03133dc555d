// RUN: monocard-opt %s -split-input-file --tfm-layout-weights -verify-diagnostics
// RUN: not monocard-opt %s --tfm-layout-weights=alignment=48 2>&1 | FileCheck %s --check-prefix=ALIGN

// One name, two types: the packed tensor would be ambiguous.
func.func @a() -> (tensor<4xf32>, tensor<4xf16>) {
  %x = tfm.param @w : tensor<4xf32>
  // expected-error @+1 {{param 'w' has type 'tensor<4xf16>' here but 'tensor<4xf32>' elsewhere}}
  %y = tfm.param @w : tensor<4xf16>
  return %x, %y : tensor<4xf32>, tensor<4xf16>
}
// ALIGN: alignment must be a power of two, got 48

// -----

// 2^60 f32s each: the second param's offset would wrap past 2^63.
func.func @b() -> (tensor<1152921504606846976xf32>, tensor<1152921504606846976xf32>) {
  %x = tfm.param @big0 : tensor<1152921504606846976xf32>
  // expected-error @+1 {{param 'big1' of type 'tensor<1152921504606846976xf32>' takes the weights past 64-bit sizes}}
  %y = tfm.param @big1 : tensor<1152921504606846976xf32>
  return %x, %y : tensor<1152921504606846976xf32>, tensor<1152921504606846976xf32>
}
