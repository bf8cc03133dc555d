// RUN: monocard-opt %s -split-input-file --tfm-lower-to-gpu -verify-diagnostics

// Lowering needs the packing recipe.
// expected-error @+1 {{module has no tfm.weights; run tfm-layout-weights first}}
module {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x4xf32> {
    %w = tfm.param @w : tensor<4x4xf32>
    %x = tfm.embedding %w[%t] : tensor<4x4xf32>, tensor<1xi32> -> tensor<1x4xf32>
    return %x : tensor<1x4xf32>
  }
}

// -----

// The attention kernels keep a thread's share of a head in registers: head
// dimensions past 256 are refused.
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x1x512xf16> {
    %w = tfm.param @w : tensor<16x512xf16>
    %e = tfm.embedding %w[%t] : tensor<16x512xf16>, tensor<1xi32> -> tensor<1x512xf16>
    %q = tensor.expand_shape %e [[0], [1, 2]] output_shape [1, 1, 512] : tensor<1x512xf16> into tensor<1x1x512xf16>
    %kc = tfm.kv_cache key[0] : tensor<1x8x512xf16>
    %vc = tfm.kv_cache value[0] : tensor<1x8x512xf16>
    // expected-error @+1 {{head dimension 512 is not supported by the CUDA attention kernels (at most 256)}}
    %a = tfm.attention %q, %kc, %vc[%p] {scale = 0.5 : f64} : tensor<1x1x512xf16>, tensor<1x8x512xf16>, tensor<1x8x512xf16> -> tensor<1x1x512xf16>
    return %a : tensor<1x1x512xf16>
  }
}

// -----

// Positions are read on the device from the step's scalars, so they must be
// the step's own position argument, not arithmetic on it.
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x2x8xf32> {
    %w = tfm.param @w : tensor<16x16xf32>
    %e = tfm.embedding %w[%t] : tensor<16x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %x = tensor.expand_shape %e [[0], [1, 2]] output_shape [1, 2, 8] : tensor<1x16xf32> into tensor<1x2x8xf32>
    %c1 = arith.constant 1 : index
    %p1 = arith.addi %p, %c1 : index
    // expected-error @+1 {{position must be the step function's position argument for the CUDA target (it is read on the device)}}
    %r = tfm.rope %x[%p1] {theta = 10000.0 : f64} : tensor<1x2x8xf32>
    return %r : tensor<1x2x8xf32>
  }
}

// -----

// Ops without a CUDA kernel builder are named.
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x8xf32> {
    %w = tfm.param @w : tensor<16x8xf32>
    %x = tfm.embedding %w[%t] : tensor<16x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    // expected-error @+1 {{'tfm.gelu' op has no lowering to the CUDA target}}
    %g = tfm.gelu %x : tensor<1x8xf32>
    return %g : tensor<1x8xf32>
  }
}

// -----

// The only dynamic slice the importer makes is the last valid row.
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}]}} {
  func.func @prefill(%t: tensor<4xi32>, %p: index, %n: index) -> tensor<1x8xf32> {
    %w = tfm.param @w : tensor<16x8xf32>
    %x = tfm.embedding %w[%t] : tensor<16x8xf32>, tensor<4xi32> -> tensor<4x8xf32>
    // expected-error @+1 {{the CUDA target supports a dynamic row offset only of the form n_valid - c}}
    %s = tensor.extract_slice %x[%p, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
    return %s : tensor<1x8xf32>
  }
}
