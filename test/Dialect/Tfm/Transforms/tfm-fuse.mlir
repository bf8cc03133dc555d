// RUN: monocard-opt %s -split-input-file --tfm-fuse | FileCheck %s

// fuse-qkv: norm + three projections + two ropes + two appends -> fused_qkv.
// The merged weight concatenates q, k, v and pairs the q and k rows per head.
// CHECK-LABEL: func.func @qkv
// CHECK-DAG: %[[G:.*]] = tfm.param @g : tensor<16xf32>
// CHECK-DAG: %[[KC:.*]] = tfm.kv_cache key[0]
// CHECK-DAG: %[[VC:.*]] = tfm.kv_cache value[0]
// CHECK: %[[W:.*]] = tfm.param @"wq+wk+wv" {pair_rows = array<i64: 0, 24, 8>, sources = ["wq", "wk", "wv"]} : tensor<32x16xf32>
// CHECK: %[[Q:.*]], %[[K:.*]], %[[V:.*]] = tfm.fused_qkv %arg0, %[[W]] norm(%[[G]] : tensor<16xf32>) into %[[KC]], %[[VC]][%arg1] {eps = 1.000000e-05 : f64, theta = 1.000000e+04 : f64} : tensor<2x16xf32>, tensor<32x16xf32>, tensor<1x8x8xf32> -> tensor<2x2x8xf32>
// CHECK: tfm.attention %[[Q]], %[[K]], %[[V]][%arg1]
// CHECK-NOT: tfm.linear
// CHECK-NOT: tfm.rope
// CHECK-NOT: tfm.kv_append
// CHECK-NOT: tfm.rms_norm
func.func @qkv(%x: tensor<2x16xf32>, %pos: index) -> tensor<2x2x8xf32> {
  %g = tfm.param @g : tensor<16xf32>
  %n = tfm.rms_norm %x, %g {eps = 1.0e-5 : f64} : tensor<2x16xf32>, tensor<16xf32>
  %wq = tfm.param @wq : tensor<16x16xf32>
  %q = tfm.linear %n, %wq : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
  %wk = tfm.param @wk : tensor<8x16xf32>
  %k = tfm.linear %n, %wk : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
  %wv = tfm.param @wv : tensor<8x16xf32>
  %v = tfm.linear %n, %wv : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
  %qh = tensor.expand_shape %q [[0], [1, 2]] output_shape [2, 2, 8] : tensor<2x16xf32> into tensor<2x2x8xf32>
  %qr = tfm.rope %qh[%pos] {theta = 1.0e4 : f64} : tensor<2x2x8xf32>
  %kh = tensor.expand_shape %k [[0], [1, 2]] output_shape [2, 1, 8] : tensor<2x8xf32> into tensor<2x1x8xf32>
  %kr = tfm.rope %kh[%pos] {theta = 1.0e4 : f64} : tensor<2x1x8xf32>
  %vh = tensor.expand_shape %v [[0], [1, 2]] output_shape [2, 1, 8] : tensor<2x8xf32> into tensor<2x1x8xf32>
  %kc = tfm.kv_cache key[0] : tensor<1x8x8xf32>
  %vc = tfm.kv_cache value[0] : tensor<1x8x8xf32>
  %k2 = tfm.kv_append %kr into %kc[%pos] : tensor<2x1x8xf32> into tensor<1x8x8xf32>
  %v2 = tfm.kv_append %vh into %vc[%pos] : tensor<2x1x8xf32> into tensor<1x8x8xf32>
  %a = tfm.attention %qr, %k2, %v2[%pos] {scale = 0.35 : f64} : tensor<2x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32> -> tensor<2x2x8xf32>
  return %a : tensor<2x2x8xf32>
}

// -----

// Biases merge like the weights (Qwen2); a norm with another user stays a
// separate op and the fused op reads its result.
// CHECK-LABEL: func.func @qkv_bias_shared_norm
// CHECK: %[[N:.*]] = tfm.rms_norm
// CHECK-DAG: %[[W:.*]] = tfm.param @"wq+wk+wv" {{.*}} : tensor<32x16xf32>
// CHECK-DAG: %[[B:.*]] = tfm.param @"bq+bk+bv" {pair_rows = array<i64: 0, 24, 8>, sources = ["bq", "bk", "bv"]} : tensor<32xf32>
// CHECK: tfm.fused_qkv %[[N]], %[[W]] bias(%[[B]] : tensor<32xf32>) into
// CHECK-NOT: norm(
// CHECK: return
func.func @qkv_bias_shared_norm(%x: tensor<1x16xf32>, %pos: index) -> (tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x16xf32>) {
  %g = tfm.param @g : tensor<16xf32>
  %n = tfm.rms_norm %x, %g {eps = 1.0e-5 : f64} : tensor<1x16xf32>, tensor<16xf32>
  %wq = tfm.param @wq : tensor<16x16xf32>
  %bq = tfm.param @bq : tensor<16xf32>
  %q = tfm.linear %n, %wq, %bq : tensor<1x16xf32>, tensor<16x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
  %wk = tfm.param @wk : tensor<8x16xf32>
  %bk = tfm.param @bk : tensor<8xf32>
  %k = tfm.linear %n, %wk, %bk : tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %wv = tfm.param @wv : tensor<8x16xf32>
  %bv = tfm.param @bv : tensor<8xf32>
  %v = tfm.linear %n, %wv, %bv : tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %qh = tensor.expand_shape %q [[0], [1, 2]] output_shape [1, 2, 8] : tensor<1x16xf32> into tensor<1x2x8xf32>
  %qr = tfm.rope %qh[%pos] {theta = 1.0e4 : f64} : tensor<1x2x8xf32>
  %kh = tensor.expand_shape %k [[0], [1, 2]] output_shape [1, 1, 8] : tensor<1x8xf32> into tensor<1x1x8xf32>
  %kr = tfm.rope %kh[%pos] {theta = 1.0e4 : f64} : tensor<1x1x8xf32>
  %vh = tensor.expand_shape %v [[0], [1, 2]] output_shape [1, 1, 8] : tensor<1x8xf32> into tensor<1x1x8xf32>
  %kc = tfm.kv_cache key[0] : tensor<1x8x8xf32>
  %vc = tfm.kv_cache value[0] : tensor<1x8x8xf32>
  %k2 = tfm.kv_append %kr into %kc[%pos] : tensor<1x1x8xf32> into tensor<1x8x8xf32>
  %v2 = tfm.kv_append %vh into %vc[%pos] : tensor<1x1x8xf32> into tensor<1x8x8xf32>
  return %qr, %k2, %v2, %n : tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x16xf32>
}

// -----

// fuse-gate-up: swiglu of two projections of one normed input -> one
// fused_linear over paired gate/up rows, with the norm as prologue.
// CHECK-LABEL: func.func @gate_up
// CHECK: %[[W:.*]] = tfm.param @"wg+wu" {pair_rows = array<i64: 0, 24, 24>, sources = ["wg", "wu"]} : tensor<24x16xf32>
// CHECK: %[[Y:.*]] = tfm.fused_linear %arg0, %[[W]] norm(%{{.*}} : tensor<16xf32>) {eps = 1.000000e-05 : f64, swiglu} : tensor<1x16xf32>, tensor<24x16xf32> -> tensor<1x12xf32>
// CHECK: return %[[Y]]
func.func @gate_up(%x: tensor<1x16xf32>) -> tensor<1x12xf32> {
  %g = tfm.param @g : tensor<16xf32>
  %n = tfm.rms_norm %x, %g {eps = 1.0e-5 : f64} : tensor<1x16xf32>, tensor<16xf32>
  %wg = tfm.param @wg : tensor<12x16xf32>
  %gate = tfm.linear %n, %wg : tensor<1x16xf32>, tensor<12x16xf32> -> tensor<1x12xf32>
  %wu = tfm.param @wu : tensor<12x16xf32>
  %up = tfm.linear %n, %wu : tensor<1x16xf32>, tensor<12x16xf32> -> tensor<1x12xf32>
  %y = tfm.swiglu %gate, %up : tensor<1x12xf32>
  return %y : tensor<1x12xf32>
}

// -----

// fuse-residual: add(r, linear) -> fused_linear residual(r), either operand
// order; the down-proj after a fused gate/up fuses too.
// CHECK-LABEL: func.func @residual
// CHECK: %[[O:.*]] = tfm.fused_linear %arg1, %{{.*}} residual(%arg0 : tensor<1x16xf32>) : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
// CHECK: %[[D:.*]] = tfm.fused_linear %arg2, %{{.*}} residual(%[[O]] : tensor<1x16xf32>) : tensor<1x12xf32>, tensor<16x12xf32> -> tensor<1x16xf32>
// CHECK: return %[[D]]
func.func @residual(%h: tensor<1x16xf32>, %a: tensor<1x16xf32>, %m: tensor<1x12xf32>) -> tensor<1x16xf32> {
  %wo = tfm.param @wo : tensor<16x16xf32>
  %o = tfm.linear %a, %wo : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
  %h2 = tfm.add %h, %o : tensor<1x16xf32>
  %wd = tfm.param @wd : tensor<16x12xf32>
  %d = tfm.linear %m, %wd : tensor<1x12xf32>, tensor<16x12xf32> -> tensor<1x16xf32>
  %h3 = tfm.add %d, %h2 : tensor<1x16xf32>
  return %h3 : tensor<1x16xf32>
}

// -----

// fuse-norm: the final norm becomes the lm_head's prologue.
// CHECK-LABEL: func.func @norm_prologue
// CHECK: %[[Y:.*]] = tfm.fused_linear %arg0, %{{.*}} norm(%{{.*}} : tensor<16xf32>) {eps = {{.*}} : f64} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
// CHECK-NOT: tfm.rms_norm
// CHECK: return %[[Y]]
func.func @norm_prologue(%x: tensor<1x16xf32>) -> tensor<1x32xf32> {
  %g = tfm.param @g : tensor<16xf32>
  %n = tfm.rms_norm %x, %g {eps = 1.0e-6 : f64} : tensor<1x16xf32>, tensor<16xf32>
  %w = tfm.param @lm_head : tensor<32x16xf32>
  %y = tfm.linear %n, %w : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}
