// RUN: monocard-opt %s --tfm-layout-weights --tfm-lower-to-gpu --canonicalize --cse | FileCheck %s

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

