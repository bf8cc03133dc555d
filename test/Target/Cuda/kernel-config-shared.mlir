// Prefill attention's shared memory comes from the target description: 160
// KiB where the GPU allows it (an A100, an H200), 99 KiB on an sm_86/sm_89
// GPU (an A10) and for the default, which must run on those too. There a
// 64-row tile of head dim 256 does not fit even with one key per thread, so
// 32 rows are built instead. The config recorded on the kernel says which.
// RUN: monocard-opt %s --tfm-layout-weights '--tfm-lower-to-gpu=gpu=a100' | FileCheck %s --check-prefix=A100
// RUN: monocard-opt %s --tfm-layout-weights '--tfm-lower-to-gpu=gpu=a10' | FileCheck %s --check-prefix=A10
// RUN: monocard-opt %s --tfm-layout-weights --tfm-lower-to-gpu | FileCheck %s --check-prefix=DEFAULT

module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 448 : i64}} {
  func.func @prefill(%t: tensor<448xi32>, %p: index, %n: index) -> tensor<1x8xf16> {
    %w = tfm.param @w : tensor<16x4096xf16>
    %x = tfm.embedding %w[%t] : tensor<16x4096xf16>, tensor<448xi32> -> tensor<448x4096xf16>
    %q = tensor.expand_shape %x [[0], [1, 2]] output_shape [448, 16, 256] : tensor<448x4096xf16> into tensor<448x16x256xf16>
    %kc = tfm.kv_cache key[0] : tensor<16x2048x256xf16>
    %vc = tfm.kv_cache value[0] : tensor<16x2048x256xf16>
    %a = tfm.attention %q, %kc, %vc[%p] {scale = 0.0625 : f64} : tensor<448x16x256xf16>, tensor<16x2048x256xf16>, tensor<16x2048x256xf16> -> tensor<448x16x256xf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<448x16x256xf16> into tensor<448x4096xf16>
    %c1 = arith.constant 1 : index
    %r = arith.subi %n, %c1 : index
    %s = tensor.extract_slice %af[%r, 0] [1, 4096] [1, 1] : tensor<448x4096xf16> to tensor<1x4096xf16>
    %wo = tfm.param @wo : tensor<8x4096xf16>
    %l = tfm.linear %s, %wo : tensor<1x4096xf16>, tensor<8x4096xf16> -> tensor<1x8xf16>
    return %l : tensor<1x8xf16>
  }
}

// A100: gpu.func @attention_prefill_r448_h16_kv16_d256_s2048_
// A100-SAME: monocard.config = {gpu = "a100", kind = "attention_prefill", max_shared_bytes = 163840 : i64, tile_rows = 64 : i64}
// A10: gpu.func @attention_prefill_r448_h16_kv16_d256_s2048_
// A10-SAME: monocard.config = {gpu = "a10", kind = "attention_prefill", max_shared_bytes = 101376 : i64, tile_rows = 32 : i64}
// DEFAULT: gpu.func @attention_prefill_r448_h16_kv16_d256_s2048_
// DEFAULT-SAME: monocard.config = {gpu = "generic", kind = "attention_prefill", max_shared_bytes = 101376 : i64, tile_rows = 32 : i64}
