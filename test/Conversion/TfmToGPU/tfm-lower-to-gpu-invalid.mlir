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

// -----

// A quantized weight's (scale, zero) plane must be in the packing recipe.
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}, {param = "q", offset = 16384 : i64}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x64xf32> {
    %w = tfm.param @w : tensor<16x256xf32>
    %x = tfm.embedding %w[%t] : tensor<16x256xf32>, tensor<1xi32> -> tensor<1x256xf32>
    // expected-error @+1 {{'tfm.param' op is quantized but the packing recipe has no parameter plane for it; run tfm-layout-weights on the quantized IR}}
    %q = tfm.param @q : !tfm.qweight<64x256xi4, group = 128, scale = f16>
    %y = tfm.linear %x, %q : tensor<1x256xf32>, !tfm.qweight<64x256xi4, group = 128, scale = f16> -> tensor<1x64xf32>
    return %y : tensor<1x64xf32>
  }
}

// -----

// The GEMV reads a row's codes 16 bytes at a time and gives each load one
// (scale, zero): int4 groups are whole multiples of 32 codes (or one group
// spans the row).
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}, {param = "q", offset = 16384 : i64, quant = {scales_offset = 65536 : i64}}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x64xf32> {
    %w = tfm.param @w : tensor<16x256xf32>
    %x = tfm.embedding %w[%t] : tensor<16x256xf32>, tensor<1xi32> -> tensor<1x256xf32>
    %q = tfm.param @q : !tfm.qweight<64x256xi4, group = 48, scale = f16>
    // expected-error @+1 {{a quantization group of 48 is not supported by the CUDA linear kernels: int4 groups must be a multiple of 32 elements (one 16-byte load) or span the whole row}}
    %y = tfm.fused_linear %x, %q : tensor<1x256xf32>, !tfm.qweight<64x256xi4, group = 48, scale = f16> -> tensor<1x64xf32>
    return %y : tensor<1x64xf32>
  }
}

// -----

// int8 likewise, by 16 codes.
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}, {param = "q", offset = 16384 : i64, quant = {scales_offset = 65536 : i64}}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x64xf32> {
    %w = tfm.param @w : tensor<16x256xf32>
    %x = tfm.embedding %w[%t] : tensor<16x256xf32>, tensor<1xi32> -> tensor<1x256xf32>
    %q = tfm.param @q : !tfm.qweight<64x256xi8, group = 8, scale = f32>
    // expected-error @+1 {{a quantization group of 8 is not supported by the CUDA linear kernels: int8 groups must be a multiple of 16 elements (one 16-byte load) or span the whole row}}
    %y = tfm.linear %x, %q : tensor<1x256xf32>, !tfm.qweight<64x256xi8, group = 8, scale = f32> -> tensor<1x64xf32>
    return %y : tensor<1x64xf32>
  }
}

// -----

// fused_qkv writes the caches at the position read on the device.
module attributes {tfm.weights = {bytes = 1048576 : i64, recipe = [{param = "w", offset = 0 : i64}, {param = "qkv", offset = 16384 : i64}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x2x16xf32> {
    %w = tfm.param @w : tensor<16x64xf32>
    %x = tfm.embedding %w[%t] : tensor<16x64xf32>, tensor<1xi32> -> tensor<1x64xf32>
    %kc = tfm.kv_cache key[0] : tensor<1x8x16xf32>
    %vc = tfm.kv_cache value[0] : tensor<1x8x16xf32>
    %wqkv = tfm.param @qkv : tensor<64x64xf32>
    %c1 = arith.constant 1 : index
    %p1 = arith.addi %p, %c1 : index
    // expected-error @+1 {{position must be the step function's position argument for the CUDA target (it is read on the device)}}
    %q, %kc2, %vc2 = tfm.fused_qkv %x, %wqkv into %kc, %vc[%p1] {theta = 1.0e+04 : f64} : tensor<1x64xf32>, tensor<64x64xf32>, tensor<1x8x16xf32> -> tensor<1x2x16xf32>
    return %q : tensor<1x2x16xf32>
  }
}
