// RUN: monocard-opt %s | FileCheck %s
// RUN: monocard-opt %s | monocard-opt | FileCheck %s
// RUN: monocard-opt -mlir-print-op-generic %s | monocard-opt | FileCheck %s

// Round-trip of every tfm op.

// CHECK-LABEL: func.func @state
func.func @state(%k: tensor<3x2x16xf32>, %pos: index) -> tensor<2x8x16xf32> {
  // CHECK: tfm.param @model.layers.0.self_attn.q_proj.weight : tensor<64x64xbf16>
  %w = tfm.param @"model.layers.0.self_attn.q_proj.weight" : tensor<64x64xbf16>
  // CHECK: tfm.kv_cache key[0] : tensor<2x8x16xf32>
  %kc = tfm.kv_cache key[0] : tensor<2x8x16xf32>
  // CHECK: tfm.kv_cache value[3] : tensor<2x8x16xf32>
  %vc = tfm.kv_cache value[3] : tensor<2x8x16xf32>
  // CHECK: tfm.kv_append %{{.*}} into %{{.*}}[%{{.*}}] : tensor<3x2x16xf32> into tensor<2x8x16xf32>
  %kc2 = tfm.kv_append %k into %kc[%pos] : tensor<3x2x16xf32> into tensor<2x8x16xf32>
  return %kc2 : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @layer
func.func @layer(%ids: tensor<3xi32>, %pos: index) -> tensor<3x64xf16> {
  %table = tfm.param @embed : tensor<100x64xf16>
  // CHECK: tfm.embedding %{{.*}}[%{{.*}}] : tensor<100x64xf16>, tensor<3xi32> -> tensor<3x64xf16>
  %x = tfm.embedding %table[%ids] : tensor<100x64xf16>, tensor<3xi32> -> tensor<3x64xf16>
  %g = tfm.param @g : tensor<64xf16>
  %beta = tfm.param @beta : tensor<64xf16>
  // CHECK: tfm.rms_norm %{{.*}}, %{{.*}} {eps = 9.9999999999999995E-7 : f64} : tensor<3x64xf16>, tensor<64xf16>
  %n = tfm.rms_norm %x, %g {eps = 1.0e-6 : f64} : tensor<3x64xf16>, tensor<64xf16>
  // CHECK: tfm.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {eps = 1.000000e-05 : f64} : tensor<3x64xf16>, tensor<64xf16>, tensor<64xf16>
  %ln = tfm.layer_norm %n, %g, %beta {eps = 1.0e-5 : f64} : tensor<3x64xf16>, tensor<64xf16>, tensor<64xf16>
  %wq = tfm.param @wq : tensor<64x64xf16>
  %bq = tfm.param @bq : tensor<64xf16>
  // CHECK: tfm.linear %{{.*}}, %{{.*}}, %{{.*}} : tensor<3x64xf16>, tensor<64x64xf16>, tensor<64xf16> -> tensor<3x64xf16>
  %q = tfm.linear %ln, %wq, %bq : tensor<3x64xf16>, tensor<64x64xf16>, tensor<64xf16> -> tensor<3x64xf16>
  // CHECK: tfm.linear %{{.*}}, %{{.*}} : tensor<3x64xf16>, tensor<64x64xf16> -> tensor<3x64xf16>
  %q2 = tfm.linear %q, %wq : tensor<3x64xf16>, tensor<64x64xf16> -> tensor<3x64xf16>
  %qh = tensor.expand_shape %q2 [[0], [1, 2]] output_shape [3, 4, 16] : tensor<3x64xf16> into tensor<3x4x16xf16>
  // CHECK: tfm.rope %{{.*}}[%{{.*}}] {theta = 1.000000e+04 : f64} : tensor<3x4x16xf16>
  %r = tfm.rope %qh[%pos] {theta = 10000.0 : f64} : tensor<3x4x16xf16>
  // CHECK: tfm.rope %{{.*}}[%{{.*}}] {scaling = #tfm.llama3_scaling<factor = 8.000000e+00, low_freq_factor = 1.000000e+00, high_freq_factor = 4.000000e+00, original_max_position_embeddings = 8192>, theta = 5.000000e+05 : f64} : tensor<3x4x16xf16>
  %r3 = tfm.rope %r[%pos] {theta = 500000.0 : f64, scaling = #tfm.llama3_scaling<factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8192>} : tensor<3x4x16xf16>
  %kc = tfm.kv_cache key[0] : tensor<2x32x16xf16>
  %vc = tfm.kv_cache value[0] : tensor<2x32x16xf16>
  // CHECK: tfm.attention %{{.*}}, %{{.*}}, %{{.*}}[%{{.*}}] {scale = 2.500000e-01 : f64} : tensor<3x4x16xf16>, tensor<2x32x16xf16>, tensor<2x32x16xf16> -> tensor<3x4x16xf16>
  %a = tfm.attention %r3, %kc, %vc[%pos] {scale = 0.25 : f64} : tensor<3x4x16xf16>, tensor<2x32x16xf16>, tensor<2x32x16xf16> -> tensor<3x4x16xf16>
  // CHECK: tfm.attention {{.*}} {causal = false, scale = 2.500000e-01 : f64}
  %a2 = tfm.attention %a, %kc, %vc[%pos] {scale = 0.25 : f64, causal = false} : tensor<3x4x16xf16>, tensor<2x32x16xf16>, tensor<2x32x16xf16> -> tensor<3x4x16xf16>
  %flat = tensor.collapse_shape %a2 [[0], [1, 2]] : tensor<3x4x16xf16> into tensor<3x64xf16>
  // CHECK: tfm.silu %{{.*}} : tensor<3x64xf16>
  %s = tfm.silu %flat : tensor<3x64xf16>
  // CHECK: tfm.gelu %{{.*}} : tensor<3x64xf16>
  %ge = tfm.gelu %s : tensor<3x64xf16>
  // CHECK: tfm.gelu %{{.*}} {approximate = #tfm<gelu_approximation tanh>} : tensor<3x64xf16>
  %gt = tfm.gelu %ge {approximate = #tfm<gelu_approximation tanh>} : tensor<3x64xf16>
  // CHECK: tfm.swiglu %{{.*}}, %{{.*}} : tensor<3x64xf16>
  %sw = tfm.swiglu %gt, %s : tensor<3x64xf16>
  // CHECK: tfm.add %{{.*}}, %{{.*}} : tensor<3x64xf16>
  %ad = tfm.add %sw, %x : tensor<3x64xf16>
  // CHECK: tfm.mul %{{.*}}, %{{.*}} : tensor<3x64xf16>
  %mu = tfm.mul %ad, %x : tensor<3x64xf16>
  return %mu : tensor<3x64xf16>
}

// CHECK-LABEL: func.func @heads
func.func @heads(%logits: tensor<2x100xf32>, %u: tensor<2xf32>, %t: f32, %k: i32, %p: f32) -> (tensor<2xi32>, tensor<2xi32>) {
  // CHECK: tfm.softmax %{{.*}} : tensor<2x100xf32>
  %sm = tfm.softmax %logits : tensor<2x100xf32>
  // CHECK: tfm.argmax %{{.*}} : tensor<2x100xf32> -> tensor<2xi32>
  %am = tfm.argmax %sm : tensor<2x100xf32> -> tensor<2xi32>
  // CHECK: tfm.sample %{{.*}}, %{{.*}} temperature %{{.*}} top_k %{{.*}} top_p %{{.*}} : tensor<2x100xf32>, tensor<2xf32> -> tensor<2xi32>
  %sa = tfm.sample %logits, %u temperature %t top_k %k top_p %p : tensor<2x100xf32>, tensor<2xf32> -> tensor<2xi32>
  return %am, %sa : tensor<2xi32>, tensor<2xi32>
}

// Quantized weights and the fused ops round-trip.
// CHECK-LABEL: func.func @fused
// CHECK: tfm.param @w {pair_rows = array<i64: 0, 24, 24>, sources = ["g", "u"]} : !tfm.qweight<24x16xi4, group = 8, scale = f16>
// CHECK: tfm.fused_linear %arg0, %{{.*}} norm(%{{.*}} : tensor<16xf32>) {eps = 1.000000e-05 : f64, swiglu} : tensor<1x16xf32>, !tfm.qweight<24x16xi4, group = 8, scale = f16> -> tensor<1x12xf32>
// CHECK: tfm.fused_linear %arg0, %{{.*}} bias(%{{.*}} : tensor<16xf32>) residual(%arg0 : tensor<1x16xf32>) : tensor<1x16xf32>, !tfm.qweight<16x16xi8, group = 16, scale = f32> -> tensor<1x16xf32>
// CHECK: tfm.fused_qkv %arg0, %{{.*}} norm(%{{.*}} : tensor<16xf32>) into %{{.*}}, %{{.*}}[%arg1] {eps = 1.000000e-05 : f64, theta = 1.000000e+04 : f64} : tensor<1x16xf32>, tensor<32x16xf32>, tensor<1x8x8xf32> -> tensor<1x2x8xf32>
func.func @fused(%x: tensor<1x16xf32>, %pos: index) -> (tensor<1x12xf32>, tensor<1x16xf32>, tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>) {
  %g = tfm.param @norm : tensor<16xf32>
  %w = tfm.param @w {sources = ["g", "u"], pair_rows = array<i64: 0, 24, 24>} : !tfm.qweight<24x16xi4, group = 8, scale = f16>
  %y = tfm.fused_linear %x, %w norm(%g : tensor<16xf32>) {eps = 1.0e-5 : f64, swiglu} : tensor<1x16xf32>, !tfm.qweight<24x16xi4, group = 8, scale = f16> -> tensor<1x12xf32>
  %w8 = tfm.param @w8 : !tfm.qweight<16x16xi8, group = 16, scale = f32>
  %b = tfm.param @b : tensor<16xf32>
  %z = tfm.fused_linear %x, %w8 bias(%b : tensor<16xf32>) residual(%x : tensor<1x16xf32>) : tensor<1x16xf32>, !tfm.qweight<16x16xi8, group = 16, scale = f32> -> tensor<1x16xf32>
  %wqkv = tfm.param @wqkv : tensor<32x16xf32>
  %kc = tfm.kv_cache key[0] : tensor<1x8x8xf32>
  %vc = tfm.kv_cache value[0] : tensor<1x8x8xf32>
  %q, %k, %v = tfm.fused_qkv %x, %wqkv norm(%g : tensor<16xf32>) into %kc, %vc[%pos] {eps = 1.0e-5 : f64, theta = 1.0e4 : f64} : tensor<1x16xf32>, tensor<32x16xf32>, tensor<1x8x8xf32> -> tensor<1x2x8xf32>
  return %y, %z, %q, %k, %v : tensor<1x12xf32>, tensor<1x16xf32>, tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>
}
