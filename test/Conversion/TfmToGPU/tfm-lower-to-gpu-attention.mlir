// RUN: monocard-opt %s -split-input-file --tfm-layout-weights --tfm-lower-to-gpu --canonicalize --cse | FileCheck %s

// Prefill: flash-style tiles. A block per (query head, tile of 32 rows),
// heaviest tiles first; Q, the K/V tiles and the probabilities live in
// dynamic shared memory (f32 rows padded to 4 mod 8 floats), the launch
// passes its size. The key-tile loop carries the prefetched K/V vectors
// (16-byte loads), each row's running max and sum, and the accumulators.
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 48 : i64}} {
  func.func @prefill(%t: tensor<48xi32>, %p: index, %n: index) -> tensor<1x8xf16> {
    %w = tfm.param @w : tensor<16x256xf16>
    %x = tfm.embedding %w[%t] : tensor<16x256xf16>, tensor<48xi32> -> tensor<48x256xf16>
    %q = tensor.expand_shape %x [[0], [1, 2]] output_shape [48, 4, 64] : tensor<48x256xf16> into tensor<48x4x64xf16>
    %kc = tfm.kv_cache key[0] : tensor<2x256x64xf16>
    %vc = tfm.kv_cache value[0] : tensor<2x256x64xf16>
    %a = tfm.attention %q, %kc, %vc[%p] {scale = 0.125 : f64} : tensor<48x4x64xf16>, tensor<2x256x64xf16>, tensor<2x256x64xf16> -> tensor<48x4x64xf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<48x4x64xf16> into tensor<48x256xf16>
    %c1 = arith.constant 1 : index
    %r = arith.subi %n, %c1 : index
    %s = tensor.extract_slice %af[%r, 0] [1, 256] [1, 1] : tensor<48x256xf16> to tensor<1x256xf16>
    %wo = tfm.param @wo : tensor<8x256xf16>
    %l = tfm.linear %s, %wo : tensor<1x256xf16>, tensor<8x256xf16> -> tensor<1x8xf16>
    return %l : tensor<1x8xf16>
  }
}

// CHECK-LABEL: gpu.func @attention_prefill_r48_h4_kv2_d64_s256_sc1d250000em01_nvalid_f16_f16_f16(
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>, monocard.config = {{{.*}}}}
// CHECK: %[[SMEM:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]][%c0][] : {{.*}} to memref<2176xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]][%c8704][] : {{.*}} to memref<4352xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]][%c26112][] : {{.*}} to memref<4352xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]][%c43520][] : {{.*}} to memref<2176xf32, #gpu.address_space<workgroup>>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<32768xf16>, vector<8xf16>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf16>, vector<8xf16>, vector<8xf16>, vector<8xf16>, vector<8xf16>, vector<8xf16>, vector<8xf16>, vector<8xf16>, f32, f32, f32, f32, f32, f32, f32, f32, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// The tile goes to shared memory as f32, then the next one is loaded.
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}} {alignment = 16 : i64} : memref<4352xf32, #gpu.address_space<workgroup>>, vector<8xf32>
// CHECK: gpu.barrier
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<32768xf16>, vector<8xf16>
// Scores from float4s of Q and K in shared memory.
// CHECK: scf.for
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<2176xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<4352xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: llvm.intr.fma
// Online softmax: the row max over 16 lanes, rescaling by 2^(m - m').
// CHECK: gpu.shuffle xor %{{.*}}, %c8_i32, %c32_i32 : f32
// CHECK: arith.maximumf
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: memref.store %{{.*}} : memref<2176xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// P V from shared memory into the rescaled accumulators.
// CHECK: arith.mulf %{{.*}} : vector<4xf32>
// CHECK: scf.for
// CHECK: vector.fma
// CHECK: scf.yield
// CHECK: scf.yield
// Rows past n_valid get zeros.
// CHECK: arith.select
// CHECK: memref.store %{{.*}} : memref<12288xf16>

// Row tiles on grid y, the tile's shared memory as the launch's dynamic
// shared memory.
// CHECK-LABEL: func.func @prefill(
// CHECK: gpu.launch_func @monocard_kernels::@attention_prefill_r48_h4_kv2_d64_s256_sc1d250000em01_nvalid_f16_f16_f16 blocks in (%c4, %c2, %c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %c52224_i32 args(

// -----

// Decode over a 16384-position cache: no context cap any more (the scores
// no longer live in shared memory); long caches get 32 warps per head.
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 1 : i64}} {
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x8xbf16> {
    %w = tfm.param @w : tensor<16x512xbf16>
    %x = tfm.embedding %w[%t] : tensor<16x512xbf16>, tensor<1xi32> -> tensor<1x512xbf16>
    %q = tensor.expand_shape %x [[0], [1, 2]] output_shape [1, 4, 128] : tensor<1x512xbf16> into tensor<1x4x128xbf16>
    %kc = tfm.kv_cache key[0] : tensor<1x16384x128xbf16>
    %vc = tfm.kv_cache value[0] : tensor<1x16384x128xbf16>
    %a = tfm.attention %q, %kc, %vc[%p] {scale = 0.08838834764831845 : f64, causal = true} : tensor<1x4x128xbf16>, tensor<1x16384x128xbf16>, tensor<1x16384x128xbf16> -> tensor<1x4x128xbf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<1x4x128xbf16> into tensor<1x512xbf16>
    %s = tensor.extract_slice %af[0, 0] [1, 512] [1, 1] : tensor<1x512xbf16> to tensor<1x512xbf16>
    %wo = tfm.param @wo : tensor<8x512xbf16>
    %l = tfm.linear %s, %wo : tensor<1x512xbf16>, tensor<8x512xbf16> -> tensor<1x8xbf16>
    return %l : tensor<1x8xbf16>
  }
}

// CHECK-LABEL: gpu.func @attention_decode_r1_h4_kv1_d128_s16384_sc8d838835em02_bf16_bf16_bf16(
// CHECK-SAME: workgroup(%{{.*}} : memref<32xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<4096xf32, #gpu.address_space<workgroup>>) kernel attributes {known_block_size = array<i32: 1024, 1, 1>, monocard.config = {{{.*}}}}
// CHECK: gpu.launch_func @monocard_kernels::@attention_decode_r1_h4_kv1_d128_s16384_sc8d838835em02_bf16_bf16_bf16 blocks in (%c4, %c1, %c1) threads in (%c1024, %c1, %c1) args(

// -----

// causal = false (every row sees keys 0 .. pos + 79) is its own kernel;
// head dim 80 works (zero-padded to whole float4s in shared memory).
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 80 : i64}} {
  func.func @prefill(%t: tensor<80xi32>, %p: index, %n: index) -> tensor<1x8xf32> {
    %w = tfm.param @w : tensor<16x160xf32>
    %x = tfm.embedding %w[%t] : tensor<16x160xf32>, tensor<80xi32> -> tensor<80x160xf32>
    %q = tensor.expand_shape %x [[0], [1, 2]] output_shape [80, 2, 80] : tensor<80x160xf32> into tensor<80x2x80xf32>
    %kc = tfm.kv_cache key[0] : tensor<1x256x80xf32>
    %vc = tfm.kv_cache value[0] : tensor<1x256x80xf32>
    %a = tfm.attention %q, %kc, %vc[%p] {scale = 0.11180339887498948 : f64, causal = false} : tensor<80x2x80xf32>, tensor<1x256x80xf32>, tensor<1x256x80xf32> -> tensor<80x2x80xf32>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<80x2x80xf32> into tensor<80x160xf32>
    %c1 = arith.constant 1 : index
    %r = arith.subi %n, %c1 : index
    %s = tensor.extract_slice %af[%r, 0] [1, 160] [1, 1] : tensor<80x160xf32> to tensor<1x160xf32>
    %wo = tfm.param @wo : tensor<8x160xf32>
    %l = tfm.linear %s, %wo : tensor<1x160xf32>, tensor<8x160xf32> -> tensor<1x8xf32>
    return %l : tensor<1x8xf32>
  }
}

// CHECK-LABEL: gpu.func @attention_prefill_r80_h2_kv1_d80_s256_sc1d118034em01_nc_nvalid_f32_f32_f32(
// CHECK: %[[POS:.*]] = arith.index_cast
// CHECK: arith.addi %[[POS]], %c80 : index
// CHECK: gpu.launch_func @monocard_kernels::@attention_prefill_r80_h2_kv1_d80_s256_sc1d118034em01_nc_nvalid_f32_f32_f32 blocks in (%c2, %c3, %c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %c36864_i32 args(
