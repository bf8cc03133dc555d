// RUN: monocard-opt %s -split-input-file --tfm-lower-to-linalg -verify-diagnostics

// Lowering needs the packing recipe.
// expected-error @+1 {{module has no 'tfm.weights' layout; run tfm-layout-weights first}}
module {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x4xf32> {
    %w = tfm.param @w : tensor<4x4xf32>
    %x = tfm.embedding %w[%t] : tensor<4x4xf32>, tensor<1xi32> -> tensor<1x4xf32>
    return %x : tensor<1x4xf32>
  }
}

// -----

// The CPU kernels compute in f32.
module attributes {tfm.weights = {bytes = 32 : i64, recipe = [{dtype = "f16", offset = 0 : i64, param = "w", shape = [4, 4], sources = ["w"], transform = "convert"}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x4xf16> {
    // expected-error @+1 {{computes in 'f16'; tfm-lower-to-linalg supports f32 (compile with --dtype f32)}}
    %w = tfm.param @w : tensor<4x4xf16>
    %x = tfm.embedding %w[%t] : tensor<4x4xf16>, tensor<1xi32> -> tensor<1x4xf16>
    return %x : tensor<1x4xf16>
  }
}

// -----

// tfm.sample has no CPU kernel: the launcher samples on the host.
module attributes {tfm.weights = {bytes = 64 : i64, recipe = [{dtype = "f32", offset = 0 : i64, param = "w", shape = [4, 4], sources = ["w"], transform = "convert"}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x4xf32> {
    %w = tfm.param @w : tensor<4x4xf32>
    %x = tfm.embedding %w[%t] : tensor<4x4xf32>, tensor<1xi32> -> tensor<1x4xf32>
    %u = arith.constant dense<0.5> : tensor<1xf32>
    %temp = arith.constant 1.0 : f32
    %k = arith.constant 0 : i32
    // expected-error @+1 {{has no CPU lowering: the launcher samples on the host}}
    %s = tfm.sample %x, %u temperature %temp top_k %k top_p %temp : tensor<1x4xf32>, tensor<1xf32> -> tensor<1xi32>
    return %x : tensor<1x4xf32>
  }
}
