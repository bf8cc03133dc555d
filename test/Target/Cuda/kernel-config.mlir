// The launch shapes KernelConfig chooses (monocard.config on each kernel)
// for the default target and two chips whose SM counts differ: an H200 (132
// SMs, what the default's shapes were tuned on) and an A100 (108).
// RUN: monocard-opt %s --split-input-file --tfm-layout-weights --tfm-lower-to-gpu | FileCheck %s --check-prefixes=CHECK,DEFAULT
// RUN: monocard-opt %s --split-input-file --tfm-layout-weights '--tfm-lower-to-gpu=gpu=h200' | FileCheck %s --check-prefixes=CHECK,H200
// RUN: monocard-opt %s --split-input-file --tfm-layout-weights '--tfm-lower-to-gpu=gpu=a100' | FileCheck %s --check-prefixes=CHECK,A100
// Overrides: the GEMV's tuning and the GEMM's tile, recorded in the name.
// RUN: monocard-opt %s --split-input-file --tfm-layout-weights '--tfm-lower-to-gpu=gemv-tune=u=2,persist=0 gemm-tile=32x64' | FileCheck %s --check-prefix=TUNED

// Decode: Llama-2-7B's int4 o projection and an f16 gate+up-sized GEMV.
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 4 : i64}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x16xf16> {
    %emb = tfm.param @embed : tensor<16x4096xf16>
    %x = tfm.embedding %emb[%tokens] : tensor<16x4096xf16>, tensor<1xi32> -> tensor<1x4096xf16>
    %wo = tfm.param @o : !tfm.qweight<4096x4096xi4, group = 128, scale = f16>
    %h = tfm.fused_linear %x, %wo residual(%x : tensor<1x4096xf16>) : tensor<1x4096xf16>, !tfm.qweight<4096x4096xi4, group = 128, scale = f16> -> tensor<1x4096xf16>
    %wgu = tfm.param @gate_up : tensor<22016x4096xf16>
    %m = tfm.fused_linear %h, %wgu : tensor<1x4096xf16>, tensor<22016x4096xf16> -> tensor<1x22016xf16>
    %wl = tfm.param @lm : tensor<16x22016xf16>
    %logits = tfm.fused_linear %m, %wl : tensor<1x22016xf16>, tensor<16x22016xf16> -> tensor<1x16xf16>
    return %logits : tensor<1x16xf16>
  }
}

// The int4 GEMV keeps 4 chunk slots unless that leaves each warp a single
// iteration: on 132 SMs the 2048 pairs fit in 2112 warps, on 108 they do not.
// CHECK-LABEL: gpu.func @fgemv_n4096_k4096_f16_i4g128f16_res_f16_f16
// DEFAULT-SAME: monocard.config = {blocks_per_sm = 2 : i64, gpu = "generic", grid = 256 : i64, kind = "gemv", max_pairs = 1 : i64, persistent = true, roll = true, unroll = 2 : i64}
// H200-SAME: monocard.config = {blocks_per_sm = 2 : i64, gpu = "h200", grid = 256 : i64, kind = "gemv", max_pairs = 1 : i64, persistent = true, roll = true, unroll = 2 : i64}
// A100-SAME: monocard.config = {blocks_per_sm = 2 : i64, gpu = "a100", grid = 216 : i64, kind = "gemv", max_blocks = 256 : i64, max_pairs = 2 : i64, min_blocks = 128 : i64, persistent = true, roll = true, unroll = 4 : i64}
// TUNED-LABEL: gpu.func @fgemv_n4096_k4096_f16_i4g128f16_res_f16_f16_tu2b2p0r1(
// TUNED-SAME: monocard.config = {blocks_per_sm = 2 : i64, gpu = "generic", grid = 256 : i64, kind = "gemv", max_pairs = 1 : i64, persistent = false, roll = true, unroll = 2 : i64}

// 11008 pairs: a persistent grid of 2 blocks per SM, each warp with up to 6
// pairs (7 on an A100); the launcher never goes below min_blocks.
// CHECK-LABEL: gpu.func @fgemv_n22016_k4096_f16_f16_f16(
// DEFAULT-SAME: monocard.config = {blocks_per_sm = 2 : i64, gpu = "generic", grid = 264 : i64, kind = "gemv", max_blocks = 1376 : i64, max_pairs = 6 : i64, min_blocks = 230 : i64, persistent = true, roll = false, unroll = 4 : i64}
// H200-SAME: monocard.config = {blocks_per_sm = 2 : i64, gpu = "h200", grid = 264 : i64, kind = "gemv", max_blocks = 1376 : i64, max_pairs = 6 : i64, min_blocks = 230 : i64, persistent = true, roll = false, unroll = 4 : i64}
// A100-SAME: monocard.config = {blocks_per_sm = 2 : i64, gpu = "a100", grid = 216 : i64, kind = "gemv", max_blocks = 1376 : i64, max_pairs = 7 : i64, min_blocks = 197 : i64, persistent = true, roll = false, unroll = 4 : i64}
// The kernel reads its grid size.
// CHECK: gpu.grid_dim x

// The launches: persistent ones carry the grid range.
// CHECK-LABEL: func.func @decode(
// DEFAULT: gpu.launch_func @monocard_kernels::@fgemv_n4096_k4096_f16_i4g128f16_res_f16_f16 blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) args({{[^}]*}}){{$}}
// DEFAULT: gpu.launch_func @monocard_kernels::@fgemv_n22016_k4096_f16_f16_f16 {{.*}} {monocard.persistent = {blocks_per_sm = 2 : i64, max_blocks = 1376 : i64, min_blocks = 230 : i64}}
// A100: gpu.launch_func @monocard_kernels::@fgemv_n4096_k4096_f16_i4g128f16_res_f16_f16 {{.*}} {monocard.persistent = {blocks_per_sm = 2 : i64, max_blocks = 256 : i64, min_blocks = 128 : i64}}
// A100: gpu.launch_func @monocard_kernels::@fgemv_n22016_k4096_f16_f16_f16 {{.*}} {monocard.persistent = {blocks_per_sm = 2 : i64, max_blocks = 1376 : i64, min_blocks = 197 : i64}}

// -----

// Prefill: the largest GEMM tile that still gives every SM a block. 512 x
// 4096 in 128 x 128 tiles is 128 blocks: enough for 108 SMs, not for 132.
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 512 : i64}} {
  func.func @prefill(%tokens: tensor<512xi32>, %pos: index, %n: index) -> tensor<1x16xf32> {
    %emb = tfm.param @embed : tensor<16x4096xf16>
    %x = tfm.embedding %emb[%tokens] : tensor<16x4096xf16>, tensor<512xi32> -> tensor<512x4096xf16>
    %w = tfm.param @w : tensor<4096x4096xf16>
    %y = tfm.fused_linear %x, %w : tensor<512x4096xf16>, tensor<4096x4096xf16> -> tensor<512x4096xf16>
    %embf = tfm.param @embed_f32 : tensor<16x4096xf32>
    %xf = tfm.embedding %embf[%tokens] : tensor<16x4096xf32>, tensor<512xi32> -> tensor<512x4096xf32>
    %wf = tfm.param @wf : tensor<4096x4096xf32>
    %yf = tfm.fused_linear %xf, %wf : tensor<512x4096xf32>, tensor<4096x4096xf32> -> tensor<512x4096xf32>
    %c1 = arith.constant 1 : index
    %r = arith.subi %n, %c1 : index
    %s = tensor.extract_slice %yf[%r, 0] [1, 4096] [1, 1] : tensor<512x4096xf32> to tensor<1x4096xf32>
    %wl = tfm.param @lm : tensor<16x4096xf32>
    %l = tfm.linear %s, %wl : tensor<1x4096xf32>, tensor<16x4096xf32> -> tensor<1x16xf32>
    return %l : tensor<1x16xf32>
  }
}

// CHECK-LABEL: gpu.func @gemm_m512_n4096_k4096_f16_f16_f16(
// DEFAULT-SAME: monocard.config = {gpu = "generic", kind = "gemm", path = "mma", tile = array<i64: 64, 128, 32>, warps = array<i64: 2, 4>}
// H200-SAME: monocard.config = {gpu = "h200", kind = "gemm", path = "mma", tile = array<i64: 64, 128, 32>, warps = array<i64: 2, 4>}
// A100-SAME: monocard.config = {gpu = "a100", kind = "gemm", path = "mma", tile = array<i64: 128, 128, 32>, warps = array<i64: 2, 4>}
// TUNED-LABEL: gpu.func @gemm_m512_n4096_k4096_f16_f16_f16_tile32x64(
// TUNED-SAME: monocard.config = {gpu = "generic", kind = "gemm", path = "mma", tile = array<i64: 32, 64, 32>, warps = array<i64: 2, 4>}
// The SIMT path (f32) has 128 x 128 and 64 x 64 tiles; 32 x 64 is not
// one of them, so it keeps its own choice (and name).
// CHECK-LABEL: gpu.func @gemm_m512_n4096_k4096_f32_f32_f32(
// DEFAULT-SAME: monocard.config = {gpu = "generic", kind = "gemm", path = "simt", per_thread = array<i64: 4, 4>, tile = array<i64: 64, 64, 16>}
// A100-SAME: monocard.config = {gpu = "a100", kind = "gemm", path = "simt", per_thread = array<i64: 8, 8>, tile = array<i64: 128, 128, 16>}
// TUNED-LABEL: gpu.func @gemm_m512_n4096_k4096_f32_f32_f32(
// TUNED-SAME: monocard.config = {gpu = "generic", kind = "gemm", path = "simt", per_thread = array<i64: 4, 4>, tile = array<i64: 64, 64, 16>}

// -----

// Attention: decode splits a head's keys over warps by the cache length;
// prefill takes 64-row tiles when that still gives about a block per SM
// (16 heads x 7 tiles = 112 blocks: enough for an A100, not for 132 SMs).
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 448 : i64}} {
  func.func @prefill(%t: tensor<448xi32>, %p: index, %n: index) -> tensor<1x8xf16> {
    %w = tfm.param @w : tensor<16x1024xf16>
    %x = tfm.embedding %w[%t] : tensor<16x1024xf16>, tensor<448xi32> -> tensor<448x1024xf16>
    %q = tensor.expand_shape %x [[0], [1, 2]] output_shape [448, 16, 64] : tensor<448x1024xf16> into tensor<448x16x64xf16>
    %kc = tfm.kv_cache key[0] : tensor<4x2048x64xf16>
    %vc = tfm.kv_cache value[0] : tensor<4x2048x64xf16>
    %a = tfm.attention %q, %kc, %vc[%p] {scale = 0.125 : f64} : tensor<448x16x64xf16>, tensor<4x2048x64xf16>, tensor<4x2048x64xf16> -> tensor<448x16x64xf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<448x16x64xf16> into tensor<448x1024xf16>
    %c1 = arith.constant 1 : index
    %r = arith.subi %n, %c1 : index
    %s = tensor.extract_slice %af[%r, 0] [1, 1024] [1, 1] : tensor<448x1024xf16> to tensor<1x1024xf16>
    %wo = tfm.param @wo : tensor<8x1024xf16>
    %l = tfm.linear %s, %wo : tensor<1x1024xf16>, tensor<8x1024xf16> -> tensor<1x8xf16>
    return %l : tensor<1x8xf16>
  }
  func.func @decode(%t: tensor<1xi32>, %p: index) -> tensor<1x8xf16> {
    %w = tfm.param @w : tensor<16x1024xf16>
    %x = tfm.embedding %w[%t] : tensor<16x1024xf16>, tensor<1xi32> -> tensor<1x1024xf16>
    %q = tensor.expand_shape %x [[0], [1, 2]] output_shape [1, 16, 64] : tensor<1x1024xf16> into tensor<1x16x64xf16>
    %kc = tfm.kv_cache key[0] : tensor<4x2048x64xf16>
    %vc = tfm.kv_cache value[0] : tensor<4x2048x64xf16>
    %a = tfm.attention %q, %kc, %vc[%p] {scale = 0.125 : f64} : tensor<1x16x64xf16>, tensor<4x2048x64xf16>, tensor<4x2048x64xf16> -> tensor<1x16x64xf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<1x16x64xf16> into tensor<1x1024xf16>
    %wo = tfm.param @wo : tensor<8x1024xf16>
    %l = tfm.linear %af, %wo : tensor<1x1024xf16>, tensor<8x1024xf16> -> tensor<1x8xf16>
    return %l : tensor<1x8xf16>
  }
}

// CHECK-LABEL: gpu.func @attention_prefill_r448_h16_kv4_d64_s2048_
// DEFAULT-SAME: monocard.config = {gpu = "generic", kind = "attention_prefill", max_shared_bytes = 101376 : i64, tile_rows = 32 : i64}
// H200-SAME: monocard.config = {gpu = "h200", kind = "attention_prefill", max_shared_bytes = 163840 : i64, tile_rows = 32 : i64}
// A100-SAME: monocard.config = {gpu = "a100", kind = "attention_prefill", max_shared_bytes = 163840 : i64, tile_rows = 64 : i64}
// CHECK-LABEL: gpu.func @attention_decode_
// DEFAULT-SAME: monocard.config = {gpu = "generic", kind = "attention_decode", warps = 32 : i64}
// A100-SAME: monocard.config = {gpu = "a100", kind = "attention_decode", warps = 32 : i64}
