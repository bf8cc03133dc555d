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

// -----

// A quantized weight needs the parameter plane that tfm-layout-weights
// records for it.
module attributes {tfm.weights = {bytes = 256 : i64, recipe = [{dtype = "f32", offset = 0 : i64, param = "e", shape = [4, 32], sources = ["e"], transform = "convert"}, {dtype = "i8", offset = 128 : i64, param = "w", shape = [4, 32], sources = ["w"], transform = "quantize"}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x4xf32> {
    %e = tfm.param @e : tensor<4x32xf32>
    %x = tfm.embedding %e[%t] : tensor<4x32xf32>, tensor<1xi32> -> tensor<1x32xf32>
    // expected-error @+1 {{has no packed offset and parameter plane for its quantized weight; run tfm-layout-weights after tfm-quantize}}
    %w = tfm.param @w : !tfm.qweight<4x32xi8, group = 32, scale = f32>
    %y = tfm.linear %x, %w : tensor<1x32xf32>, !tfm.qweight<4x32xi8, group = 32, scale = f32> -> tensor<1x4xf32>
    return %y : tensor<1x4xf32>
  }
}

// -----

// The two planes must lie inside the weights and apart.
module attributes {tfm.weights = {bytes = 256 : i64, recipe = [{dtype = "f32", offset = 0 : i64, param = "e", shape = [4, 32], sources = ["e"], transform = "convert"}, {dtype = "i8", offset = 128 : i64, param = "w", quant = {bits = 8 : i64, group = 32 : i64, row_bytes = 32 : i64, scale_dtype = "f32", scales_offset = 192 : i64}, shape = [4, 32], sources = ["w"], transform = "quantize"}]}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x4xf32> {
    %e = tfm.param @e : tensor<4x32xf32>
    %x = tfm.embedding %e[%t] : tensor<4x32xf32>, tensor<1xi32> -> tensor<1x32xf32>
    // expected-error @+1 {{quantized planes [128, 256) and [192, 224) overlap or lie outside the weights}}
    %w = tfm.param @w : !tfm.qweight<4x32xi8, group = 32, scale = f32>
    %y = tfm.linear %x, %w : tensor<1x32xf32>, !tfm.qweight<4x32xi8, group = 32, scale = f32> -> tensor<1x4xf32>
    return %y : tensor<1x4xf32>
  }
}

// -----

// fused_qkv appends in place: its caches must be the step's tfm.kv_cache
// views, not an earlier append's result.
module attributes {tfm.weights = {bytes = 832 : i64, recipe = [{dtype = "f32", offset = 0 : i64, param = "embed", shape = [10, 8], sources = ["embed"], transform = "convert"}, {dtype = "f32", offset = 320 : i64, pair_rows = [0, 12, 4], param = "q+k+v", shape = [16, 8], sources = ["q", "k", "v"], transform = "concat"}]}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x2x4xf32> {
    %emb = tfm.param @embed : tensor<10x8xf32>
    %x = tfm.embedding %emb[%tokens] : tensor<10x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %w = tfm.param @"q+k+v" {sources = ["q", "k", "v"], pair_rows = array<i64: 0, 12, 4>} : tensor<16x8xf32>
    %kc = tfm.kv_cache key[0] : tensor<1x16x4xf32>
    %vc = tfm.kv_cache value[0] : tensor<1x16x4xf32>
    %r = tensor.expand_shape %x [[0], [1, 2]] output_shape [1, 2, 4] : tensor<1x8xf32> into tensor<1x2x4xf32>
    %k0 = tensor.extract_slice %r[0, 0, 0] [1, 1, 4] [1, 1, 1] : tensor<1x2x4xf32> to tensor<1x1x4xf32>
    %kc1 = tfm.kv_append %k0 into %kc[%pos] : tensor<1x1x4xf32> into tensor<1x16x4xf32>
    // expected-error @+1 {{cache operand must come straight from tfm.kv_cache}}
    %q, %kc2, %vc2 = tfm.fused_qkv %x, %w into %kc1, %vc[%pos] {theta = 10000.0 : f64} : tensor<1x8xf32>, tensor<16x8xf32>, tensor<1x16x4xf32> -> tensor<1x2x4xf32>
    %a = tfm.attention %q, %kc2, %vc2[%pos] {scale = 0.5 : f64} : tensor<1x2x4xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32> -> tensor<1x2x4xf32>
    return %a : tensor<1x2x4xf32>
  }
}
