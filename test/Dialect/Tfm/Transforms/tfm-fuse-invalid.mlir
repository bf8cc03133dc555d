// RUN: monocard-opt %s -split-input-file --tfm-fuse=remarks=true -verify-diagnostics

// Where fusion must not happen. Each case would change what the step
// computes (or read a value twice) if fused; the remark marks what was
// left alone.

// The k projection's result is also returned: merging q/k/v would drop it.
func.func @qkv_k_used_twice(%x: tensor<1x16xf32>, %pos: index) -> (tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8xf32>) {
  %wq = tfm.param @wq : tensor<16x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %q = tfm.linear %x, %wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
  %wk = tfm.param @wk : tensor<8x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %k = tfm.linear %x, %wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  %wv = tfm.param @wv : tensor<8x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %v = tfm.linear %x, %wv : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  %qh = tensor.expand_shape %q [[0], [1, 2]] output_shape [1, 2, 8] : tensor<1x16xf32> into tensor<1x2x8xf32>
  // expected-remark @+1 {{tfm.rope left unfused}}
  %qr = tfm.rope %qh[%pos] {theta = 1.0e4 : f64} : tensor<1x2x8xf32>
  %kh = tensor.expand_shape %k [[0], [1, 2]] output_shape [1, 1, 8] : tensor<1x8xf32> into tensor<1x1x8xf32>
  // expected-remark @+1 {{tfm.rope left unfused}}
  %kr = tfm.rope %kh[%pos] {theta = 1.0e4 : f64} : tensor<1x1x8xf32>
  %vh = tensor.expand_shape %v [[0], [1, 2]] output_shape [1, 1, 8] : tensor<1x8xf32> into tensor<1x1x8xf32>
  %kc = tfm.kv_cache key[0] : tensor<1x8x8xf32>
  %vc = tfm.kv_cache value[0] : tensor<1x8x8xf32>
  // expected-remark @+1 {{tfm.kv_append left unfused}}
  %k2 = tfm.kv_append %kr into %kc[%pos] : tensor<1x1x8xf32> into tensor<1x8x8xf32>
  // expected-remark @+1 {{tfm.kv_append left unfused}}
  %v2 = tfm.kv_append %vh into %vc[%pos] : tensor<1x1x8xf32> into tensor<1x8x8xf32>
  return %qr, %k2, %v2, %k : tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8xf32>
}

// -----

// q and k are roped with different thetas: no one epilogue computes both.
func.func @qkv_theta_differs(%x: tensor<1x16xf32>, %pos: index) -> (tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>) {
  %wq = tfm.param @wq : tensor<16x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %q = tfm.linear %x, %wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
  %wk = tfm.param @wk : tensor<8x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %k = tfm.linear %x, %wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  %wv = tfm.param @wv : tensor<8x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %v = tfm.linear %x, %wv : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  %qh = tensor.expand_shape %q [[0], [1, 2]] output_shape [1, 2, 8] : tensor<1x16xf32> into tensor<1x2x8xf32>
  // expected-remark @+1 {{tfm.rope left unfused}}
  %qr = tfm.rope %qh[%pos] {theta = 5.0e5 : f64} : tensor<1x2x8xf32>
  %kh = tensor.expand_shape %k [[0], [1, 2]] output_shape [1, 1, 8] : tensor<1x8xf32> into tensor<1x1x8xf32>
  // expected-remark @+1 {{tfm.rope left unfused}}
  %kr = tfm.rope %kh[%pos] {theta = 1.0e4 : f64} : tensor<1x1x8xf32>
  %vh = tensor.expand_shape %v [[0], [1, 2]] output_shape [1, 1, 8] : tensor<1x8xf32> into tensor<1x1x8xf32>
  %kc = tfm.kv_cache key[0] : tensor<1x8x8xf32>
  %vc = tfm.kv_cache value[0] : tensor<1x8x8xf32>
  // expected-remark @+1 {{tfm.kv_append left unfused}}
  %k2 = tfm.kv_append %kr into %kc[%pos] : tensor<1x1x8xf32> into tensor<1x8x8xf32>
  // expected-remark @+1 {{tfm.kv_append left unfused}}
  %v2 = tfm.kv_append %vh into %vc[%pos] : tensor<1x1x8xf32> into tensor<1x8x8xf32>
  return %qr, %k2, %v2 : tensor<1x2x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>
}

// -----

// Gate and up read different inputs: they are not one GEMM.
func.func @gate_up_other_inputs(%x: tensor<1x16xf32>, %y: tensor<1x16xf32>) -> tensor<1x12xf32> {
  %wg = tfm.param @wg : tensor<12x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %gate = tfm.linear %x, %wg : tensor<1x16xf32>, tensor<12x16xf32> -> tensor<1x12xf32>
  %wu = tfm.param @wu : tensor<12x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %up = tfm.linear %y, %wu : tensor<1x16xf32>, tensor<12x16xf32> -> tensor<1x12xf32>
  %r = tfm.swiglu %gate, %up : tensor<1x12xf32>
  return %r : tensor<1x12xf32>
}

// -----

// A weight that is not a checkpoint tensor cannot be merged by the packer.
func.func @gate_up_weight_not_param(%x: tensor<1x16xf32>, %wg: tensor<12x16xf32>) -> tensor<1x12xf32> {
  // expected-remark @+1 {{tfm.linear left unfused}}
  %gate = tfm.linear %x, %wg : tensor<1x16xf32>, tensor<12x16xf32> -> tensor<1x12xf32>
  %wu = tfm.param @wu : tensor<12x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %up = tfm.linear %x, %wu : tensor<1x16xf32>, tensor<12x16xf32> -> tensor<1x12xf32>
  %r = tfm.swiglu %gate, %up : tensor<1x12xf32>
  return %r : tensor<1x12xf32>
}

// -----

// The projection is also returned: a residual epilogue would lose it.
func.func @residual_linear_used_twice(%h: tensor<1x16xf32>, %a: tensor<1x16xf32>) -> (tensor<1x16xf32>, tensor<1x16xf32>) {
  %wo = tfm.param @wo : tensor<16x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %o = tfm.linear %a, %wo : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
  %h2 = tfm.add %h, %o : tensor<1x16xf32>
  return %h2, %o : tensor<1x16xf32>, tensor<1x16xf32>
}

// -----

// The normed rows are also returned: the prologue would not produce them.
func.func @norm_used_twice(%x: tensor<1x16xf32>) -> (tensor<1x32xf32>, tensor<1x16xf32>) {
  %g = tfm.param @g : tensor<16xf32>
  %n = tfm.rms_norm %x, %g {eps = 1.0e-6 : f64} : tensor<1x16xf32>, tensor<16xf32>
  %w = tfm.param @lm_head : tensor<32x16xf32>
  // expected-remark @+1 {{tfm.linear left unfused}}
  %y = tfm.linear %n, %w : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %y, %n : tensor<1x32xf32>, tensor<1x16xf32>
}
