// RUN: monocard-opt %s --split-input-file --tfm-layout-weights --tfm-lower-to-gpu --canonicalize --cse | FileCheck %s

// A one-layer-shaped decode step in f16: the signature becomes the CUDA
// device ABI, params and the KV cache are views of their buffers, the step's
// inputs and outputs views of %io, and each op one launch of a kernel
// specialised to its shapes and types. The step ends by sampling on the
// device.
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 4 : i64}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x16xf16> {
    %emb = tfm.param @embed : tensor<16x64xf16>
    %x = tfm.embedding %emb[%tokens] : tensor<16x64xf16>, tensor<1xi32> -> tensor<1x64xf16>
    %g = tfm.param @norm : tensor<64xf16>
    %h = tfm.rms_norm %x, %g {eps = 1.0e-5 : f64} : tensor<1x64xf16>, tensor<64xf16>
    %wk = tfm.param @wk : tensor<64x64xf16>
    %bk = tfm.param @bk : tensor<64xf16>
    %k = tfm.linear %h, %wk, %bk : tensor<1x64xf16>, tensor<64x64xf16>, tensor<64xf16> -> tensor<1x64xf16>
    %kh = tensor.expand_shape %k [[0], [1, 2]] output_shape [1, 2, 32] : tensor<1x64xf16> into tensor<1x2x32xf16>
    %kr = tfm.rope %kh[%pos] {theta = 10000.0 : f64} : tensor<1x2x32xf16>
    %kc = tfm.kv_cache key[0] : tensor<2x16x32xf16>
    %vc = tfm.kv_cache value[0] : tensor<2x16x32xf16>
    %kc2 = tfm.kv_append %kr into %kc[%pos] : tensor<1x2x32xf16> into tensor<2x16x32xf16>
    %vc2 = tfm.kv_append %kh into %vc[%pos] : tensor<1x2x32xf16> into tensor<2x16x32xf16>
    %a = tfm.attention %kr, %kc2, %vc2[%pos] {scale = 0.5 : f64} : tensor<1x2x32xf16>, tensor<2x16x32xf16>, tensor<2x16x32xf16> -> tensor<1x2x32xf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<1x2x32xf16> into tensor<1x64xf16>
    %s = tfm.swiglu %af, %x : tensor<1x64xf16>
    %r = tfm.add %s, %x : tensor<1x64xf16>
    %logits = tfm.linear %r, %emb : tensor<1x64xf16>, tensor<16x64xf16> -> tensor<1x16xf16>
    return %logits : tensor<1x16xf16>
  }
}

// The I/O layout: logits, then the token ids, then the step scalars, each
// rounded up to 256 bytes.
// CHECK: module attributes {gpu.container_module, tfm.io = {bytes = 768 : i64, logits = 0 : i64, scalars = 512 : i64, tokens = 256 : i64}

// Kernels are specialised per shape and storage type; reductions use warp
// shuffles, the GEMV loads 8 halves at a time, RoPE reads its frequencies
// from a constant table.
// CHECK: gpu.module @monocard_kernels
// CHECK: memref.global "private" constant @rope_inv_freq_[[HASH:[0-9a-f]+]] : memref<16xf32>
// CHECK: gpu.func @embedding_v16_h64_r1_f16_f16(%{{.*}}: memref<1024xf16>, %{{.*}}: memref<1xi32>, %{{.*}}: memref<64xf16>) kernel
// CHECK: gpu.func @rms_norm_r1_h64_eps1d000000em05_f16_f16_f16({{.*}}) workgroup(%{{.*}} : memref<32xf32, #gpu.address_space<workgroup>>) kernel
// CHECK: gpu.shuffle xor
// CHECK: gpu.func @gemv_n64_k64_f16_f16_bias_f16_f16(%{{.*}}: memref<64xf16>, %{{.*}}: memref<4096xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<64xf16>) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<4096xf16>, vector<8xf16>
// CHECK: gpu.shuffle xor
// CHECK: gpu.func @rope_r1_h2_d32_[[HASH]]_f16_f16
// CHECK: memref.get_global @rope_inv_freq_[[HASH]]
// CHECK: gpu.func @kv_append_r1_h2_d32_s16_f16_f16
// Decode attention: a block per query head; lane groups walk the keys with
// an online softmax (running max, sum and accumulator as loop-carried
// values), 16-byte K and V loads, dot products meeting through shuffles;
// the warps' states meet in shared memory (max, sum, accumulator).
// CHECK: gpu.func @attention_decode_r1_h2_kv2_d32_s16_sc5d000000em01_f16_f16_f16({{.*}}) workgroup(%{{.*}} : memref<4xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<4xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<128xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32, vector<8xf32>)
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<1024xf16>, vector<8xf16>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<1024xf16>, vector<8xf16>
// CHECK: gpu.shuffle xor
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: vector.fma
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: gpu.func @swiglu_n64_f16_f16_f16
// CHECK: gpu.func @add_n64_f16_f16_f16
// CHECK: gpu.func @gemv_n16_k64_f16_f16_f32
// CHECK: gpu.func @sample_v16(%{{.*}}: memref<16xf32>, %{{.*}}: memref<8xi32>)

// The host side: a straight line of launches over the device ABI.
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[W:.*]]: memref<10496xi8> {tfm.abi = "weights"}, %[[KV:.*]]: memref<4096xi8> {tfm.abi = "kv"}, %{{.*}}: memref<?xi8> {tfm.abi = "arena"}, %[[IO:.*]]: memref<768xi8> {tfm.abi = "io"})
// CHECK-DAG: %[[BK:.*]] = memref.view %[[W]][%c10368][] : memref<10496xi8> to memref<64xf16>
// CHECK-DAG: %[[WK:.*]] = memref.view %[[W]][%c2176][] : memref<10496xi8> to memref<4096xf16>
// CHECK-DAG: %[[NORM:.*]] = memref.view %[[W]][%c2048][] : memref<10496xi8> to memref<64xf16>
// CHECK-DAG: %[[EMB:.*]] = memref.view %[[W]][%c0][] : memref<10496xi8> to memref<1024xf16>
// CHECK-DAG: %[[LOGITS:.*]] = memref.view %[[IO]][%c0][] : memref<768xi8> to memref<16xf32>
// CHECK-DAG: %[[TOK:.*]] = memref.view %[[IO]][%c256][] : memref<768xi8> to memref<1xi32>
// CHECK-DAG: %[[SC:.*]] = memref.view %[[IO]][%c512][] : memref<768xi8> to memref<8xi32>
// CHECK: %[[X:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@embedding_v16_h64_r1_f16_f16 blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%[[EMB]] : memref<1024xf16>, %[[TOK]] : memref<1xi32>, %[[X]] : memref<64xf16>)
// CHECK: %[[H:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@rms_norm_r1_h64_eps1d000000em05_f16_f16_f16 {{.*}} args(%[[X]] : memref<64xf16>, %[[NORM]] : memref<64xf16>, %[[H]] : memref<64xf16>)
// CHECK: %[[K:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@gemv_n64_k64_f16_f16_bias_f16_f16 blocks in (%c8, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[H]] : memref<64xf16>, %[[WK]] : memref<4096xf16>, %[[BK]] : memref<64xf16>, %[[K]] : memref<64xf16>)
// CHECK: %[[KR:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@rope_r1_h2_d32_[[HASH]]_f16_f16 {{.*}} args(%[[K]] : memref<64xf16>, %[[KR]] : memref<64xf16>, %[[SC]] : memref<8xi32>)
// CHECK: %[[KC:.*]] = memref.view %[[KV]][%c0][] : memref<4096xi8> to memref<1024xf16>
// CHECK: %[[VC:.*]] = memref.view %[[KV]][%c2048][] : memref<4096xi8> to memref<1024xf16>
// CHECK: gpu.launch_func @monocard_kernels::@kv_append_r1_h2_d32_s16_f16_f16 {{.*}} args(%[[KR]] : memref<64xf16>, %[[KC]] : memref<1024xf16>, %[[SC]] : memref<8xi32>)
// CHECK: gpu.launch_func @monocard_kernels::@kv_append_r1_h2_d32_s16_f16_f16 {{.*}} args(%[[K]] : memref<64xf16>, %[[VC]] : memref<1024xf16>, %[[SC]] : memref<8xi32>)
// CHECK: %[[A:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@attention_decode_r1_h2_kv2_d32_s16_sc5d000000em01_f16_f16_f16 blocks in (%c2, %c1, %c1) threads in (%c128, %c1, %c1) args(%[[KR]] : memref<64xf16>, %[[KC]] : memref<1024xf16>, %[[VC]] : memref<1024xf16>, %[[A]] : memref<64xf16>, %[[SC]] : memref<8xi32>)
// CHECK: %[[S:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@swiglu_n64_f16_f16_f16 {{.*}} args(%[[A]] : memref<64xf16>, %[[X]] : memref<64xf16>, %[[S]] : memref<64xf16>)
// CHECK: %[[R:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@add_n64_f16_f16_f16 {{.*}} args(%[[S]] : memref<64xf16>, %[[X]] : memref<64xf16>, %[[R]] : memref<64xf16>)
// The returned logits are written straight into the I/O buffer as f32.
// CHECK: gpu.launch_func @monocard_kernels::@gemv_n16_k64_f16_f16_f32 blocks in (%c2, %c1, %c1) {{.*}} args(%[[R]] : memref<64xf16>, %[[EMB]] : memref<1024xf16>, %[[LOGITS]] : memref<16xf32>)
// CHECK: gpu.launch_func @monocard_kernels::@sample_v16 blocks in (%c1, %c1, %c1) threads in (%c1024, %c1, %c1) args(%[[LOGITS]] : memref<16xf32>, %[[SC]] : memref<8xi32>)
// CHECK-NEXT: return


// -----

// A fused decode layer in f16, as tfm-fuse makes it: q/k/v as one paired
// weight with the norm, RoPE and the cache writes in its epilogue; o and down
// with the residual; gate/up paired with the norm and SwiGLU; the final norm
// in the lm_head. Each is one launch of the fused GEMV: a row pair per warp,
// x staged once per block as f32 in shared memory (16-byte aligned).
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 4 : i64}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x16xf16> {
    %emb = tfm.param @embed : tensor<16x64xf16>
    %x = tfm.embedding %emb[%tokens] : tensor<16x64xf16>, tensor<1xi32> -> tensor<1x64xf16>
    %g1 = tfm.param @ln1 : tensor<64xf16>
    %kc = tfm.kv_cache key[0] : tensor<1x16x32xf16>
    %vc = tfm.kv_cache value[0] : tensor<1x16x32xf16>
    %wqkv = tfm.param @"q+k+v" {pair_rows = array<i64: 0, 96, 32>, sources = ["q", "k", "v"]} : tensor<128x64xf16>
    %q, %kc2, %vc2 = tfm.fused_qkv %x, %wqkv norm(%g1 : tensor<64xf16>) into %kc, %vc[%pos] {eps = 1.0e-05 : f64, theta = 1.0e+04 : f64} : tensor<1x64xf16>, tensor<128x64xf16>, tensor<1x16x32xf16> -> tensor<1x2x32xf16>
    %a = tfm.attention %q, %kc2, %vc2[%pos] {scale = 0.5 : f64} : tensor<1x2x32xf16>, tensor<1x16x32xf16>, tensor<1x16x32xf16> -> tensor<1x2x32xf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<1x2x32xf16> into tensor<1x64xf16>
    %wo = tfm.param @o : tensor<64x64xf16>
    %h = tfm.fused_linear %af, %wo residual(%x : tensor<1x64xf16>) : tensor<1x64xf16>, tensor<64x64xf16> -> tensor<1x64xf16>
    %g2 = tfm.param @ln2 : tensor<64xf16>
    %wgu = tfm.param @"gate+up" {pair_rows = array<i64: 0, 192, 192>, sources = ["gate", "up"]} : tensor<192x64xf16>
    %m = tfm.fused_linear %h, %wgu norm(%g2 : tensor<64xf16>) {eps = 1.0e-05 : f64, swiglu} : tensor<1x64xf16>, tensor<192x64xf16> -> tensor<1x96xf16>
    %wd = tfm.param @down : tensor<64x96xf16>
    %h2 = tfm.fused_linear %m, %wd residual(%h : tensor<1x64xf16>) : tensor<1x96xf16>, tensor<64x96xf16> -> tensor<1x64xf16>
    %gf = tfm.param @lnf : tensor<64xf16>
    %logits = tfm.fused_linear %h2, %emb norm(%gf : tensor<64xf16>) {eps = 1.0e-05 : f64} : tensor<1x64xf16>, tensor<16x64xf16> -> tensor<1x16xf16>
    return %logits : tensor<1x16xf16>
  }
}

// CHECK-LABEL: gpu.module @monocard_kernels
// CHECK: memref.global "private" constant @rope_inv_freq_[[QH:[0-9a-f]+]] : memref<16xf32>
// The q/k/v GEMV reads x, W, the norm weight; writes the query and both
// caches; reads the position from the scalars. Shared memory: x, the norm's
// reduction, and each warp's finished dot products.
// CHECK: gpu.func @fgemv_n128_k64_f16_f16_norm_f16_eps1d000000em05_qkv_h2_kv1_d32_s16_[[QH]]_f16_f16(%{{.*}}: memref<64xf16>, %{{.*}}: memref<8192xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<512xf16>, %{{.*}}: memref<512xf16>, %{{.*}}: memref<8xi32>) workgroup(%{{.*}} : memref<96xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xf32, #gpu.address_space<workgroup>>, %[[Z:.*]] : memref<16xf32, #gpu.address_space<workgroup>>) kernel attributes {known_block_size = array<i32: 256, 1, 1>, monocard.config = {{{.*}}}, nvvm.minctasm = {{[0-9]+}} : i32}
// The first weight loads (16 bytes: 8 halves per lane and row) are issued
// before x is staged; the sum of squares is reduced across the block.
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<8192xf16>, vector<8xf16>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<8192xf16>, vector<8xf16>
// CHECK: vector.store %{{.*}} {alignment = 16 : i64} : memref<96xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"
// The pipeline: the next loads in flight while this step computes.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf16>, vector<8xf16>)
// CHECK: scf.if {{.*}} -> (vector<8xf16>, vector<8xf16>)
// CHECK: vector.load %{{.*}} : memref<8192xf16>, vector<8xf16>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<96xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[Z]]
// After the loop, a lane per pair: RoPE from the constant table, the q part
// and the cache rows.
// CHECK: gpu.barrier
// CHECK: memref.load %[[Z]]
// CHECK: memref.get_global @rope_inv_freq_[[QH]]
// CHECK: arith.fptosi
// CHECK-NOT: gpu.func
// CHECK: memref.get_global @rope_inv_freq_[[QH]]
// CHECK: gpu.func @attention_decode_r1_h2_kv1_d32_s16_sc5d000000em01_f16_f16_f16
// CHECK: gpu.func @fgemv_n64_k64_f16_f16_res_f16_f16(%{{.*}}: memref<64xf16>, %{{.*}}: memref<4096xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<64xf16>)
// CHECK: gpu.func @fgemv_n192_k64_f16_f16_norm_f16_eps1d000000em05_swiglu_f16(%{{.*}}: memref<64xf16>, %{{.*}}: memref<12288xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<96xf16>)
// SwiGLU in the epilogue: silu through ex2.
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: gpu.func @fgemv_n64_k96_f16_f16_res_f16_f16(%{{.*}}: memref<96xf16>, %{{.*}}: memref<6144xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<64xf16>)
// CHECK: gpu.func @fgemv_n16_k64_f16_f16_norm_f16_eps1d000000em05_f32(%{{.*}}: memref<64xf16>, %{{.*}}: memref<1024xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<16xf32>)

// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[W:.*]]: memref<63872xi8> {tfm.abi = "weights"}, %[[KV:.*]]: memref<2048xi8> {tfm.abi = "kv"}, %{{.*}}: memref<?xi8> {tfm.abi = "arena"}, %[[IO:.*]]: memref<768xi8> {tfm.abi = "io"})
// CHECK-DAG: %[[LNF:.*]] = memref.view %[[W]][%c63744][] : memref<63872xi8> to memref<64xf16>
// CHECK-DAG: %[[WD:.*]] = memref.view %[[W]][%c51456][] : memref<63872xi8> to memref<6144xf16>
// CHECK-DAG: %[[WGU:.*]] = memref.view %[[W]][%c26880][] : memref<63872xi8> to memref<12288xf16>
// CHECK-DAG: %[[LN2:.*]] = memref.view %[[W]][%c26752][] : memref<63872xi8> to memref<64xf16>
// CHECK-DAG: %[[WO:.*]] = memref.view %[[W]][%c18560][] : memref<63872xi8> to memref<4096xf16>
// CHECK-DAG: %[[WQKV:.*]] = memref.view %[[W]][%c2176][] : memref<63872xi8> to memref<8192xf16>
// CHECK-DAG: %[[LN1:.*]] = memref.view %[[W]][%c2048][] : memref<63872xi8> to memref<64xf16>
// CHECK-DAG: %[[EMB:.*]] = memref.view %[[W]][%c0][] : memref<63872xi8> to memref<1024xf16>
// CHECK-DAG: %[[LOGITS:.*]] = memref.view %[[IO]][%c0][] : memref<768xi8> to memref<16xf32>
// CHECK-DAG: %[[SC:.*]] = memref.view %[[IO]][%c512][] : memref<768xi8> to memref<8xi32>
// CHECK: %[[X:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@embedding_v16_h64_r1_f16_f16
// The caches are written in place: attention reads the same KV views.
// CHECK: %[[KC:.*]] = memref.view %[[KV]][%c0][] : memref<2048xi8> to memref<512xf16>
// CHECK: %[[VC:.*]] = memref.view %[[KV]][%c1024][] : memref<2048xi8> to memref<512xf16>
// CHECK: %[[Q:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@fgemv_n128_k64_f16_f16_norm_f16_eps1d000000em05_qkv_h2_kv1_d32_s16_[[QH]]_f16_f16 blocks in (%c8, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[X]] : memref<64xf16>, %[[WQKV]] : memref<8192xf16>, %[[LN1]] : memref<64xf16>, %[[Q]] : memref<64xf16>, %[[KC]] : memref<512xf16>, %[[VC]] : memref<512xf16>, %[[SC]] : memref<8xi32>)
// CHECK: %[[A:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@attention_decode_r1_h2_kv1_d32_s16_sc5d000000em01_f16_f16_f16 {{.*}} args(%[[Q]] : memref<64xf16>, %[[KC]] : memref<512xf16>, %[[VC]] : memref<512xf16>, %[[A]] : memref<64xf16>, %[[SC]] : memref<8xi32>)
// CHECK: %[[H:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@fgemv_n64_k64_f16_f16_res_f16_f16 blocks in (%c4, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[A]] : memref<64xf16>, %[[WO]] : memref<4096xf16>, %[[X]] : memref<64xf16>, %[[H]] : memref<64xf16>)
// CHECK: %[[M:.*]] = memref.alloc() : memref<96xf16>
// CHECK: gpu.launch_func @monocard_kernels::@fgemv_n192_k64_f16_f16_norm_f16_eps1d000000em05_swiglu_f16 blocks in (%c12, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[H]] : memref<64xf16>, %[[WGU]] : memref<12288xf16>, %[[LN2]] : memref<64xf16>, %[[M]] : memref<96xf16>)
// CHECK: %[[H2:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@fgemv_n64_k96_f16_f16_res_f16_f16 {{.*}} args(%[[M]] : memref<96xf16>, %[[WD]] : memref<6144xf16>, %[[H]] : memref<64xf16>, %[[H2]] : memref<64xf16>)
// CHECK: gpu.launch_func @monocard_kernels::@fgemv_n16_k64_f16_f16_norm_f16_eps1d000000em05_f32 blocks in (%c1, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[H2]] : memref<64xf16>, %[[EMB]] : memref<1024xf16>, %[[LNF]] : memref<64xf16>, %[[LOGITS]] : memref<16xf32>)
// CHECK: gpu.launch_func @monocard_kernels::@sample_v16

// -----

// Quantized weights: a !tfm.qweight param is two views of the weights, the
// codes as bytes at the recipe's offset and the (scale, zero) pairs at its
// scales_offset. int4 (groups of 128; K = 688 ends in a short chunk) under a
// plain tfm.linear with a bias, int8 (one group per row) under a fused
// residual.
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 4 : i64}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x16xf16> {
    %emb = tfm.param @embed : tensor<16x688xf16>
    %x = tfm.embedding %emb[%tokens] : tensor<16x688xf16>, tensor<1xi32> -> tensor<1x688xf16>
    %w4 = tfm.param @w4 : !tfm.qweight<64x688xi4, group = 128, scale = f16>
    %b4 = tfm.param @b4 : tensor<64xf16>
    %y = tfm.linear %x, %w4, %b4 : tensor<1x688xf16>, !tfm.qweight<64x688xi4, group = 128, scale = f16>, tensor<64xf16> -> tensor<1x64xf16>
    %w8 = tfm.param @w8 : !tfm.qweight<64x64xi8, group = 64, scale = f32>
    %r = tfm.fused_linear %y, %w8 residual(%y : tensor<1x64xf16>) : tensor<1x64xf16>, !tfm.qweight<64x64xi8, group = 64, scale = f32> -> tensor<1x64xf16>
    %wo = tfm.param @out : tensor<16x64xf16>
    %logits = tfm.linear %r, %wo : tensor<1x64xf16>, tensor<16x64xf16> -> tensor<1x16xf16>
    return %logits : tensor<1x16xf16>
  }
}

// CHECK: tfm.weights = {bytes = 52864 : i64
// CHECK-SAME: {dtype = "i4", offset = 22016 : i64, param = "w4", quant = {bits = 4 : i64, group = 128 : i64, row_bytes = 352 : i64, scale_dtype = "f16", scales_offset = 44544 : i64}
// CHECK-LABEL: gpu.module @monocard_kernels
// int4: codes [64 x 352 bytes], params [64 x 6 groups x 2] f16, bias, y;
// shared memory for x and for each chunk's sum of x.
// CHECK: gpu.func @fgemv_n64_k688_f16_i4g128f16_bias_f16_f16(%{{.*}}: memref<688xf16>, %{{.*}}: memref<22528xi8>, %{{.*}}: memref<768xf16>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<64xf16>) workgroup(%{{.*}} : memref<736xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xf32, #gpu.address_space<workgroup>>, %[[SUMS:.*]] : memref<24xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<16xf32, #gpu.address_space<workgroup>>)
// 16 bytes of codes (32 of them) per lane and row, read as 4 words.
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<22528xi8>, vector<16xi8>
// CHECK: vector.bitcast %{{.*}} : vector<16xi8> to vector<4xi32>
// CHECK: vector.load %{{.*}} {alignment = 4 : i64} : memref<768xf16>, vector<2xf16>
// The chunk sums while x is staged.
// CHECK: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[SUMS]]
// With 16-bit activations a nibble becomes 0.5 + q / 256 by one PRMT
// under 0.5's exponent (0x3F000000), low nibbles and high ones.
// CHECK: memref.load %[[SUMS]]
// CHECK: arith.andi %{{.*}}, %c252645135_i32
// CHECK: arith.shrui %{{.*}}, %c4_i32
// CHECK: llvm.call_intrinsic "llvm.nvvm.prmt"(%{{.*}}, %c1056964608_i32, %c28740_i32)
// CHECK: llvm.intr.fma
// int8 with f32 scales, one group per row: a PRMT under 2^23 (0x4B000000),
// the sign bits flipped first (0x80808080).
// CHECK: gpu.func @fgemv_n64_k64_f16_i8g64f32_res_f16_f16(%{{.*}}: memref<64xf16>, %{{.*}}: memref<4096xi8>, %{{.*}}: memref<128xf32>, %{{.*}}: memref<64xf16>, %{{.*}}: memref<64xf16>)
// CHECK: vector.load %{{.*}} {alignment = 8 : i64} : memref<128xf32>, vector<2xf32>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<4096xi8>, vector<16xi8>
// CHECK: arith.xori %{{.*}}, %c-2139062144_i32
// CHECK: llvm.call_intrinsic "llvm.nvvm.prmt"(%{{.*}}, %c1258291200_i32, %c29760_i32)
// CHECK: arith.subf

// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[W:.*]]: memref<52864xi8> {tfm.abi = "weights"}
// CHECK-DAG: %[[C8:.*]] = memref.view %[[W]][%c46208][] : memref<52864xi8> to memref<4096xi8>
// CHECK-DAG: %[[P8:.*]] = memref.view %[[W]][%c50304][] : memref<52864xi8> to memref<128xf32>
// CHECK-DAG: %[[B4:.*]] = memref.view %[[W]][%c46080][] : memref<52864xi8> to memref<64xf16>
// CHECK-DAG: %[[C4:.*]] = memref.view %[[W]][%c22016][] : memref<52864xi8> to memref<22528xi8>
// CHECK-DAG: %[[P4:.*]] = memref.view %[[W]][%c44544][] : memref<52864xi8> to memref<768xf16>
// CHECK: %[[X:.*]] = memref.alloc() : memref<688xf16>
// CHECK: %[[Y:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@fgemv_n64_k688_f16_i4g128f16_bias_f16_f16 blocks in (%c4, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[X]] : memref<688xf16>, %[[C4]] : memref<22528xi8>, %[[P4]] : memref<768xf16>, %[[B4]] : memref<64xf16>, %[[Y]] : memref<64xf16>)
// CHECK: %[[R:.*]] = memref.alloc() : memref<64xf16>
// CHECK: gpu.launch_func @monocard_kernels::@fgemv_n64_k64_f16_i8g64f32_res_f16_f16 blocks in (%c4, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[Y]] : memref<64xf16>, %[[C8]] : memref<4096xi8>, %[[P8]] : memref<128xf32>, %[[Y]] : memref<64xf16>, %[[R]] : memref<64xf16>)
