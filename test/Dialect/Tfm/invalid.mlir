// RUN: monocard-opt %s -split-input-file -verify-diagnostics

func.func @param_dynamic() {
  // expected-error @+1 {{result must have a static shape}}
  %w = tfm.param @w : tensor<?x4xf32>
  return
}

// -----

func.func @param_int() {
  // expected-error @+1 {{must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %w = tfm.param @w : tensor<4x4xi8>
  return
}

// -----

func.func @kv_cache_rank() {
  // expected-error @+1 {{cache must have rank 3}}
  %c = tfm.kv_cache key[0] : tensor<8x16xf32>
  return
}

// -----

func.func @kv_append_heads(%k: tensor<1x4x16xf32>, %p: index) {
  %c = tfm.kv_cache key[0] : tensor<2x8x16xf32>
  // expected-error @+1 {{new rows dim 1 (4) does not match cache dim 0 (2)}}
  %c2 = tfm.kv_append %k into %c[%p] : tensor<1x4x16xf32> into tensor<2x8x16xf32>
  return
}

// -----

func.func @kv_append_head_dim(%k: tensor<1x2x8xf32>, %p: index) {
  %c = tfm.kv_cache key[0] : tensor<2x8x16xf32>
  // expected-error @+1 {{new rows dim 2 (8) does not match cache dim 2 (16)}}
  %c2 = tfm.kv_append %k into %c[%p] : tensor<1x2x8xf32> into tensor<2x8x16xf32>
  return
}

// -----

func.func @kv_append_too_many(%k: tensor<9x2x16xf32>, %p: index) {
  %c = tfm.kv_cache key[0] : tensor<2x8x16xf32>
  // expected-error @+1 {{appends 9 rows to a cache of only 8 positions}}
  %c2 = tfm.kv_append %k into %c[%p] : tensor<9x2x16xf32> into tensor<2x8x16xf32>
  return
}

// -----

func.func @kv_append_dtype(%k: tensor<1x2x16xf16>, %p: index) {
  %c = tfm.kv_cache key[0] : tensor<2x8x16xf32>
  // expected-error @+1 {{new rows element type 'f16' does not match cache element type 'f32'}}
  %c2 = tfm.kv_append %k into %c[%p] : tensor<1x2x16xf16> into tensor<2x8x16xf32>
  return
}

// -----

func.func @embedding_width(%ids: tensor<3xi32>) {
  %t = tfm.param @t : tensor<100x64xf32>
  // expected-error @+1 {{result dim 1 (32) does not match table dim 1 (64)}}
  %x = tfm.embedding %t[%ids] : tensor<100x64xf32>, tensor<3xi32> -> tensor<3x32xf32>
  return
}

// -----

func.func @embedding_rows(%ids: tensor<3xi32>) {
  %t = tfm.param @t : tensor<100x64xf32>
  // expected-error @+1 {{result dim 0 (2) does not match ids dim 0 (3)}}
  %x = tfm.embedding %t[%ids] : tensor<100x64xf32>, tensor<3xi32> -> tensor<2x64xf32>
  return
}

// -----

func.func @embedding_ids_rank(%ids: tensor<3x1xi32>) {
  %t = tfm.param @t : tensor<100x64xf32>
  // expected-error @+1 {{ids must have rank 1}}
  %x = tfm.embedding %t[%ids] : tensor<100x64xf32>, tensor<3x1xi32> -> tensor<3x64xf32>
  return
}

// -----

func.func @rms_norm_width(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<32xf32>
  // expected-error @+1 {{weight dim 0 (32) does not match input dim 1 (64)}}
  %y = tfm.rms_norm %x, %w {eps = 1.0e-5 : f64} : tensor<3x64xf32>, tensor<32xf32>
  return
}

// -----

func.func @rms_norm_dtype(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<64xf16>
  // expected-error @+1 {{weight element type 'f16' does not match input element type 'f32'}}
  %y = tfm.rms_norm %x, %w {eps = 1.0e-5 : f64} : tensor<3x64xf32>, tensor<64xf16>
  return
}

// -----

func.func @rms_norm_eps(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<64xf32>
  // expected-error @+1 {{eps must be > 0}}
  %y = tfm.rms_norm %x, %w {eps = 0.0 : f64} : tensor<3x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<64xf32>
  %b = tfm.param @b : tensor<16xf32>
  // expected-error @+1 {{bias dim 0 (16) does not match input dim 1 (64)}}
  %y = tfm.layer_norm %x, %w, %b {eps = 1.0e-5 : f64} : tensor<3x64xf32>, tensor<64xf32>, tensor<16xf32>
  return
}

// -----

func.func @linear_inner(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<32x48xf32>
  // expected-error @+1 {{weight dim 1 (48) does not match input dim 1 (64)}}
  %y = tfm.linear %x, %w : tensor<3x64xf32>, tensor<32x48xf32> -> tensor<3x32xf32>
  return
}

// -----

func.func @linear_out(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<32x64xf32>
  // expected-error @+1 {{result dim 1 (16) does not match weight dim 0 (32)}}
  %y = tfm.linear %x, %w : tensor<3x64xf32>, tensor<32x64xf32> -> tensor<3x16xf32>
  return
}

// -----

func.func @linear_rows(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<32x64xf32>
  // expected-error @+1 {{result dim 0 (4) does not match input dim 0 (3)}}
  %y = tfm.linear %x, %w : tensor<3x64xf32>, tensor<32x64xf32> -> tensor<4x32xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<32x64xf32>
  %b = tfm.param @b : tensor<64xf32>
  // expected-error @+1 {{bias dim 0 (64) does not match weight dim 0 (32)}}
  %y = tfm.linear %x, %w, %b : tensor<3x64xf32>, tensor<32x64xf32>, tensor<64xf32> -> tensor<3x32xf32>
  return
}

// -----

func.func @linear_dtype(%x: tensor<3x64xf32>) {
  %w = tfm.param @w : tensor<32x64xbf16>
  // expected-error @+1 {{weight element type 'bf16' does not match input element type 'f32'}}
  %y = tfm.linear %x, %w : tensor<3x64xf32>, tensor<32x64xbf16> -> tensor<3x32xf32>
  return
}

// -----

func.func @linear_rank(%x: tensor<64xf32>) {
  %w = tfm.param @w : tensor<32x64xf32>
  // expected-error @+1 {{input must have rank 2}}
  %y = tfm.linear %x, %w : tensor<64xf32>, tensor<32x64xf32> -> tensor<3x32xf32>
  return
}

// -----

func.func @rope_odd(%x: tensor<3x4x15xf32>, %p: index) {
  // expected-error @+1 {{head dim must be even, got 15}}
  %y = tfm.rope %x[%p] {theta = 10000.0 : f64} : tensor<3x4x15xf32>
  return
}

// -----

func.func @rope_theta(%x: tensor<3x4x16xf32>, %p: index) {
  // expected-error @+1 {{theta must be > 0}}
  %y = tfm.rope %x[%p] {theta = -1.0 : f64} : tensor<3x4x16xf32>
  return
}

// -----

func.func @rope_scaling(%x: tensor<3x4x16xf32>, %p: index) {
  // expected-error @+1 {{llama3 rope scaling needs high_freq_factor > low_freq_factor}}
  %y = tfm.rope %x[%p] {theta = 10000.0 : f64, scaling = #tfm.llama3_scaling<factor = 8.0, low_freq_factor = 4.0, high_freq_factor = 1.0, original_max_position_embeddings = 8192>} : tensor<3x4x16xf32>
  return
}

// -----

func.func @attention_gqa(%q: tensor<3x6x16xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<4x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<4x32x16xf32>
  // expected-error @+1 {{number of query heads (6) must be a multiple of the number of KV heads (4)}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.25 : f64} : tensor<3x6x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32> -> tensor<3x6x16xf32>
  return
}

// -----

func.func @attention_head_dim(%q: tensor<3x4x8xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<2x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<2x32x16xf32>
  // expected-error @+1 {{query dim 2 (8) does not match key cache dim 2 (16)}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.25 : f64} : tensor<3x4x8xf32>, tensor<2x32x16xf32>, tensor<2x32x16xf32> -> tensor<3x4x8xf32>
  return
}

// -----

func.func @attention_kv_mismatch(%q: tensor<3x4x16xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<2x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<2x16x16xf32>
  // expected-error @+1 {{key cache 'tensor<2x32x16xf32>' and value cache 'tensor<2x16x16xf32>' must have the same type}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.25 : f64} : tensor<3x4x16xf32>, tensor<2x32x16xf32>, tensor<2x16x16xf32> -> tensor<3x4x16xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<3x4x16xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<2x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<2x32x16xf32>
  // expected-error @+1 {{result 'tensor<3x2x16xf32>' must have the query's type 'tensor<3x4x16xf32>'}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.25 : f64} : tensor<3x4x16xf32>, tensor<2x32x16xf32>, tensor<2x32x16xf32> -> tensor<3x2x16xf32>
  return
}

// -----

func.func @attention_rows(%q: tensor<40x4x16xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<2x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<2x32x16xf32>
  // expected-error @+1 {{40 query rows exceed the cache's 32 positions}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.25 : f64} : tensor<40x4x16xf32>, tensor<2x32x16xf32>, tensor<2x32x16xf32> -> tensor<40x4x16xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<3x4x16xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<2x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<2x32x16xf32>
  // expected-error @+1 {{scale must be > 0}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.0 : f64} : tensor<3x4x16xf32>, tensor<2x32x16xf32>, tensor<2x32x16xf32> -> tensor<3x4x16xf32>
  return
}

// -----

func.func @swiglu_types(%g: tensor<3x64xf32>, %u: tensor<3x32xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %y = "tfm.swiglu"(%g, %u) : (tensor<3x64xf32>, tensor<3x32xf32>) -> tensor<3x64xf32>
  return
}

// -----

func.func @add_types(%a: tensor<3x64xf32>, %b: tensor<3x64xf16>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %y = "tfm.add"(%a, %b) : (tensor<3x64xf32>, tensor<3x64xf16>) -> tensor<3x64xf32>
  return
}

// -----

func.func @argmax_shape(%x: tensor<2x100xf32>) {
  // expected-error @+1 {{result 'tensor<100xi32>' must have the input's shape without its last axis}}
  %y = tfm.argmax %x : tensor<2x100xf32> -> tensor<100xi32>
  return
}

// -----

func.func @sample_uniform(%x: tensor<2x100xf32>, %u: tensor<3xf32>, %t: f32, %k: i32, %p: f32) {
  // expected-error @+1 {{uniform 'tensor<3xf32>' must be f32 with one value per logits row}}
  %y = tfm.sample %x, %u temperature %t top_k %k top_p %p : tensor<2x100xf32>, tensor<3xf32> -> tensor<2xi32>
  return
}

// -----

func.func @sample_result(%x: tensor<2x100xf32>, %u: tensor<2xf32>, %t: f32, %k: i32, %p: f32) {
  // expected-error @+1 {{result 'tensor<3xi32>' must have the logits' shape without its last axis}}
  %y = tfm.sample %x, %u temperature %t top_k %k top_p %p : tensor<2x100xf32>, tensor<2xf32> -> tensor<3xi32>
  return
}

// -----

// expected-error @+1 {{qweight codes must be i4 or i8, got 'i3'}}
func.func @qweight_bits(%w: !tfm.qweight<8x16xi3, group = 8, scale = f16>) {
  return
}

// -----

// expected-error @+1 {{qweight group 32 must be in [1, 16]}}
func.func @qweight_group(%w: !tfm.qweight<8x16xi4, group = 32, scale = f16>) {
  return
}

// -----

func.func @pair_rows_block(%x: tensor<1x16xf32>) {
  // expected-error @+1 {{pair_rows block must be even and positive, got 3}}
  %w = tfm.param @w {pair_rows = array<i64: 0, 6, 3>} : tensor<8x16xf32>
  return
}

// -----

func.func @pair_rows_range(%x: tensor<1x16xf32>) {
  // expected-error @+1 {{pair_rows range [4, 12) is outside the 8 rows}}
  %w = tfm.param @w {pair_rows = array<i64: 4, 8, 4>} : tensor<8x16xf32>
  return
}

// -----

func.func @fused_swiglu_width(%x: tensor<1x16xf32>, %w: tensor<24x16xf32>) {
  // expected-error @+1 {{result width 24 must be half the 24 weight rows with swiglu}}
  %y = tfm.fused_linear %x, %w {swiglu} : tensor<1x16xf32>, tensor<24x16xf32> -> tensor<1x24xf32>
  return
}

// -----

func.func @fused_norm_eps(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %g: tensor<16xf32>) {
  // expected-error @+1 {{has a norm weight but no eps}}
  %y = tfm.fused_linear %x, %w norm(%g : tensor<16xf32>) : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  return
}

// -----

func.func @fused_residual(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>, %r: tensor<1x16xf32>) {
  // expected-error @+1 {{residual type 'tensor<1x16xf32>' does not match result type 'tensor<1x8xf32>'}}
  %y = tfm.fused_linear %x, %w residual(%r : tensor<1x16xf32>) : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  return
}

// -----

func.func @fused_qkv_rows(%x: tensor<1x16xf32>, %w: tensor<24x16xf32>, %kc: tensor<1x8x8xf32>, %vc: tensor<1x8x8xf32>, %pos: index) {
  // expected-error @+1 {{weight has 24 rows, but 2 query and 2x1 KV heads of 8 need 32}}
  %q, %k, %v = tfm.fused_qkv %x, %w into %kc, %vc[%pos] {theta = 1.0e4 : f64} : tensor<1x16xf32>, tensor<24x16xf32>, tensor<1x8x8xf32> -> tensor<1x2x8xf32>
  return
}

// -----

// expected-error @+1 {{qweight scale must be f32, f16 or bf16, got 'f64'}}
func.func @qweight_scale(%w: !tfm.qweight<8x16xi4, group = 8, scale = f64>) {
  return
}

// -----

func.func @fused_eps_without_norm(%x: tensor<1x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{has eps but no norm weight}}
  %y = tfm.fused_linear %x, %w {eps = 1.0e-5 : f64} : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  return
}

// -----

func.func @fused_qkv_groups(%x: tensor<1x16xf32>, %w: tensor<40x16xf32>, %kc: tensor<2x8x8xf32>, %vc: tensor<2x8x8xf32>, %pos: index) {
  // expected-error @+1 {{3 query heads are not a multiple of 2 KV heads}}
  %q, %k, %v = tfm.fused_qkv %x, %w into %kc, %vc[%pos] {theta = 1.0e4 : f64} : tensor<1x16xf32>, tensor<40x16xf32>, tensor<2x8x8xf32> -> tensor<1x3x8xf32>
  return
}

// -----

// expected-error @+1 {{qweight needs integer codes and a float scale}}
func.func @qweight_kinds(%w: !tfm.qweight<8x16xi4, group = 8, scale = i8>) {
  return
}

// -----

// A KV cache of zero heads once divided by zero (SIGFPE) in the verifier.
func.func @fused_qkv_zero_kv_heads(%x: tensor<1x16xf32>, %w: tensor<16x16xf32>, %kc: tensor<0x8x8xf32>, %vc: tensor<0x8x8xf32>, %pos: index) {
  // expected-error @+1 {{needs at least one query and one KV head, got 2 and 0}}
  %q, %k, %v = tfm.fused_qkv %x, %w into %kc, %vc[%pos] {theta = 1.0e4 : f64} : tensor<1x16xf32>, tensor<16x16xf32>, tensor<0x8x8xf32> -> tensor<1x2x8xf32>
  return
}

// -----

func.func @fused_qkv_zero_heads(%x: tensor<1x16xf32>, %w: tensor<16x16xf32>, %kc: tensor<1x8x8xf32>, %vc: tensor<1x8x8xf32>, %pos: index) {
  // expected-error @+1 {{needs at least one query and one KV head, got 0 and 1}}
  %q, %k, %v = tfm.fused_qkv %x, %w into %kc, %vc[%pos] {theta = 1.0e4 : f64} : tensor<1x16xf32>, tensor<16x16xf32>, tensor<1x8x8xf32> -> tensor<1x0x8xf32>
  return
}

// -----

func.func @fused_qkv_zero_head_dim(%x: tensor<1x16xf32>, %w: tensor<16x16xf32>, %kc: tensor<1x8x0xf32>, %vc: tensor<1x8x0xf32>, %pos: index) {
  // expected-error @+1 {{head dim must be even and positive, got 0}}
  %q, %k, %v = tfm.fused_qkv %x, %w into %kc, %vc[%pos] {theta = 1.0e4 : f64} : tensor<1x16xf32>, tensor<16x16xf32>, tensor<1x8x0xf32> -> tensor<1x2x0xf32>
  return
}

// -----

// (2^61 + 2) * 8 wraps to 16, the weight's row count: it must not verify.
func.func @fused_qkv_rows_wrap(%x: tensor<1x16xf32>, %w: tensor<16x16xf32>, %kc: tensor<1x8x8xf32>, %vc: tensor<1x8x8xf32>, %pos: index) {
  // expected-error @+1 {{2305843009213693952 query and 2x1 KV heads of 8 overflow 64-bit sizes}}
  %q, %k, %v = tfm.fused_qkv %x, %w into %kc, %vc[%pos] {theta = 1.0e4 : f64} : tensor<1x16xf32>, tensor<16x16xf32>, tensor<1x8x8xf32> -> tensor<1x2305843009213693952x8xf32>
  return
}

// -----

func.func @fused_qkv_theta_inf(%x: tensor<1x32xf32>, %w: tensor<32x32xf32>, %kc: tensor<1x8x8xf32>, %vc: tensor<1x8x8xf32>, %pos: index) {
  // expected-error @+1 {{theta must be finite}}
  %q, %k, %v = tfm.fused_qkv %x, %w into %kc, %vc[%pos] {theta = 0x7FF0000000000000 : f64} : tensor<1x32xf32>, tensor<32x32xf32>, tensor<1x8x8xf32> -> tensor<1x2x8xf32>
  return
}

// -----

func.func @attention_zero_kv_heads(%q: tensor<3x4x16xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<0x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<0x32x16xf32>
  // expected-error @+1 {{number of query heads (4) must be a multiple of the number of KV heads (0)}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.25 : f64} : tensor<3x4x16xf32>, tensor<0x32x16xf32>, tensor<0x32x16xf32> -> tensor<3x4x16xf32>
  return
}

// -----

// Zero query heads pass `0 % kv == 0` but leave a GQA group of 0.
func.func @attention_zero_heads(%q: tensor<3x0x16xf32>, %p: index) {
  %k = tfm.kv_cache key[0] : tensor<2x32x16xf32>
  %v = tfm.kv_cache value[0] : tensor<2x32x16xf32>
  // expected-error @+1 {{number of query heads (0) must be a multiple of the number of KV heads (2)}}
  %a = tfm.attention %q, %k, %v[%p] {scale = 0.25 : f64} : tensor<3x0x16xf32>, tensor<2x32x16xf32>, tensor<2x32x16xf32> -> tensor<3x0x16xf32>
  return
}

// -----

func.func @rope_theta_inf(%x: tensor<3x4x16xf32>, %p: index) {
  // expected-error @+1 {{theta must be finite}}
  %y = tfm.rope %x[%p] {theta = 0x7FF0000000000000 : f64} : tensor<3x4x16xf32>
  return
}

// -----

// start + count wraps negative: the range check must not be fooled.
func.func @pair_rows_wrap(%x: tensor<1x16xf32>) {
  // expected-error @+1 {{pair_rows range [9223372036854775800, 9223372036854775808) is outside the 8 rows}}
  %w = tfm.param @w {pair_rows = array<i64: 9223372036854775800, 8, 2>} : tensor<8x16xf32>
  return
}

// -----

func.func @param_bytes_wrap() {
  // expected-error @+1 {{result 'tensor<4611686018427387904x4xf32>' overflows 64-bit sizes}}
  %w = tfm.param @w : tensor<4611686018427387904x4xf32>
  return
}

// -----

func.func @kv_cache_bytes_wrap() {
  // expected-error @+1 {{cache 'tensor<4096x1099511627776x4096xf32>' overflows 64-bit sizes}}
  %k = tfm.kv_cache key[0] : tensor<4096x1099511627776x4096xf32>
  return
}

// -----

// The lowering tabulates head_dim / 2 frequencies: 2^61 of them once ran
// the compiler out of memory.
func.func @rope_head_dim_huge(%x: tensor<1x1x4611686018427387904xf32>, %p: index) {
  // expected-error @+1 {{head dim 4611686018427387904 exceeds 2^16, beyond any real model}}
  %y = tfm.rope %x[%p] {theta = 10000.0 : f64} : tensor<1x1x4611686018427387904xf32>
  return
}
