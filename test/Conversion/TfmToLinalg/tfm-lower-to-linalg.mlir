// RUN: monocard-opt %s -split-input-file --tfm-layout-weights --tfm-lower-to-linalg | FileCheck %s

// A one-layer-shaped step: the signature becomes the runtime ABI, params are
// views of %weights at their packed offsets, the KV cache a view of %kv
// updated in place, and every op linalg on tensors.
module attributes {tfm.model = {architecture = "LlamaForCausalLM"}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x10xf32> {
    %emb = tfm.param @embed : tensor<10x8xf32>
    %x = tfm.embedding %emb[%tokens] : tensor<10x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %g = tfm.param @norm : tensor<8xf32>
    %h = tfm.rms_norm %x, %g {eps = 1.0e-5 : f64} : tensor<1x8xf32>, tensor<8xf32>
    %wk = tfm.param @wk : tensor<8x8xf32>
    %bk = tfm.param @bk : tensor<8xf32>
    %k = tfm.linear %h, %wk, %bk : tensor<1x8xf32>, tensor<8x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
    %kh = tensor.expand_shape %k [[0], [1, 2]] output_shape [1, 2, 4] : tensor<1x8xf32> into tensor<1x2x4xf32>
    %kr = tfm.rope %kh[%pos] {theta = 10000.0 : f64} : tensor<1x2x4xf32>
    %kc = tfm.kv_cache key[0] : tensor<2x16x4xf32>
    %vc = tfm.kv_cache value[0] : tensor<2x16x4xf32>
    %kc2 = tfm.kv_append %kr into %kc[%pos] : tensor<1x2x4xf32> into tensor<2x16x4xf32>
    %vc2 = tfm.kv_append %kh into %vc[%pos] : tensor<1x2x4xf32> into tensor<2x16x4xf32>
    %a = tfm.attention %kr, %kc2, %vc2[%pos] {scale = 0.5 : f64} : tensor<1x2x4xf32>, tensor<2x16x4xf32>, tensor<2x16x4xf32> -> tensor<1x2x4xf32>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<1x2x4xf32> into tensor<1x8xf32>
    %s = tfm.swiglu %af, %x : tensor<1x8xf32>
    %r = tfm.add %s, %x : tensor<1x8xf32>
    %logits = tfm.linear %r, %emb : tensor<1x8xf32>, tensor<10x8xf32> -> tensor<1x10xf32>
    return %logits : tensor<1x10xf32>
  }
}

// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[W:.*]]: memref<704xi8> {tfm.abi = "weights"}, %[[KV:.*]]: memref<1024xi8> {tfm.abi = "kv"}, %{{.*}}: memref<?xi8> {tfm.abi = "arena"},
// CHECK-SAME: %[[TOK:.*]]: memref<1xi32> {tfm.abi = "tokens"}, %[[POS:.*]]: index {tfm.abi = "position"}, %[[OUT:.*]]: memref<1x10xf32> {tfm.abi = "logits"})
// CHECK-NOT: tfm.
// Weights are read in place: embed at 0, norm at 320, wk at 384, bk at 640.
// CHECK-DAG: memref.view %[[W]][%c0{{.*}}][] : memref<704xi8> to memref<10x8xf32>
// CHECK-DAG: memref.view %[[W]][%c320{{.*}}][] : memref<704xi8> to memref<8xf32>
// CHECK-DAG: memref.view %[[W]][%c384{{.*}}][] : memref<704xi8> to memref<8x8xf32>
// The gather, the norm's reduction, the projection's reduction:
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK: tensor.extract
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.addf {{.*}} fastmath<reassoc,contract>
// RoPE and the in-place append into the cache slice:
// CHECK: math.cos
// CHECK: math.sin
// Keys of layer 0 at byte 0 of the KV buffer, values after them (2*16*4*4 = 512).
// CHECK-DAG: %[[KVIEW:.*]] = memref.view %[[KV]][%c0{{.*}}][] : memref<1024xi8> to memref<2x16x4xf32>
// CHECK-DAG: memref.view %[[KV]][%c512{{.*}}][] : memref<1024xi8> to memref<2x16x4xf32>
// CHECK: %[[SLICE:.*]] = tensor.extract_slice %{{.*}}[0, %[[POS]], 0] [2, 1, 4] [1, 1, 1]
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x2x4xf32>) outs(%[[SLICE]] : tensor<2x1x4xf32>) permutation = [1, 0, 2]
// CHECK: %[[UPD:.*]] = tensor.insert_slice
// CHECK: bufferization.materialize_in_destination %[[UPD]] in restrict writable %[[KVIEW]]
// Attention: masked scores, softmax, weighted sum.
// CHECK: arith.cmpi ule
// CHECK: math.exp
// The logits land in the output buffer.
// CHECK: bufferization.materialize_in_destination %{{.*}} in restrict writable %[[OUT]]
// CHECK: return

// -----

// A fused MLP: the norm prologue, one matmul over paired gate/up rows
// starting from the bias, then silu(z[:, 2i]) * z[:, 2i + 1] + residual in
// one elementwise epilogue; and a fused linear with a residual only.
module attributes {tfm.model = {architecture = "LlamaForCausalLM"}} {
  func.func @fused_mlp(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x8xf32> {
    %emb = tfm.param @embed : tensor<10x8xf32>
    %x = tfm.embedding %emb[%tokens] : tensor<10x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %g = tfm.param @norm : tensor<8xf32>
    %wgu = tfm.param @"gate+up" {sources = ["gate", "up"], pair_rows = array<i64: 0, 16, 16>} : tensor<16x8xf32>
    %bgu = tfm.param @"bgate+bup" {sources = ["bgate", "bup"], pair_rows = array<i64: 0, 16, 16>} : tensor<16xf32>
    %h = tfm.fused_linear %x, %wgu bias(%bgu : tensor<16xf32>) norm(%g : tensor<8xf32>) residual(%x : tensor<1x8xf32>) {eps = 1.0e-5 : f64, swiglu} : tensor<1x8xf32>, tensor<16x8xf32> -> tensor<1x8xf32>
    %wd = tfm.param @down : tensor<8x8xf32>
    %o = tfm.fused_linear %h, %wd residual(%x : tensor<1x8xf32>) : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
    return %o : tensor<1x8xf32>
  }
}

// CHECK-LABEL: func.func @fused_mlp(
// CHECK-NOT: = tfm.
// The merged gate/up weight and bias are read in place like any param.
// CHECK-DAG: %[[WGU:.*]] = bufferization.to_tensor %{{.*}} : memref<16x8xf32> to tensor<16x8xf32>
// CHECK-DAG: %[[X:.*]] = linalg.generic {{.*}}ins(%{{.*}} : tensor<1xi32>) outs(%{{.*}} : tensor<1x8xf32>)
// Norm: sum of squares, then the scaled row.
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[X]] : tensor<1x8xf32>)
// CHECK: %[[N:.*]] = linalg.generic {{.*}}ins(%[[X]], %{{.*}}, %{{.*}} : tensor<1x8xf32>, tensor<1xf32>, tensor<8xf32>)
// CHECK: math.rsqrt
// The accumulator starts at the bias; the product reduces over K.
// CHECK: %[[BIAS:.*]] = linalg.generic {{.*}}ins(%{{.*}} : tensor<16xf32>) outs(%{{.*}} : tensor<1x16xf32>)
// CHECK: %[[Z:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[N]], %[[WGU]] : tensor<1x8xf32>, tensor<16x8xf32>) outs(%[[BIAS]] : tensor<1x16xf32>)
// Column pairs (2i, 2i + 1): gate and up.
// CHECK: %[[PAIRS:.*]] = tensor.expand_shape %[[Z]] {{\[\[}}0], [1, 2]] output_shape [1, 8, 2] : tensor<1x16xf32> into tensor<1x8x2xf32>
// CHECK: %[[H:.*]] = linalg.generic {indexing_maps = [#[[GATE:.*]], #[[UP:.*]], #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel"]} ins(%[[PAIRS]], %[[PAIRS]], %[[X]] : tensor<1x8x2xf32>, tensor<1x8x2xf32>, tensor<1x8xf32>) outs(%{{.*}} : tensor<1x8xf32>)
// CHECK-NEXT: ^bb0(%[[G:.*]]: f32, %[[U:.*]]: f32, %[[R:.*]]: f32, %{{.*}}: f32):
// CHECK: math.exp
// CHECK: %[[SILU:.*]] = arith.divf %[[G]]
// CHECK: %[[SW:.*]] = arith.mulf %[[SILU]], %[[U]]
// CHECK: arith.addf %[[SW]], %[[R]]
// Residual only: the product, then the sum.
// CHECK: %[[Z2:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[H]], %{{.*}} : tensor<1x8xf32>, tensor<8x8xf32>)
// CHECK: linalg.generic {{.*}}ins(%[[Z2]], %[[X]] : tensor<1x8xf32>, tensor<1x8xf32>)
// CHECK: arith.addf
// CHECK: bufferization.materialize_in_destination

// -----

// fused_qkv: norm, one matmul over the q, k, v rows (q and k in pair
// order), RoPE of q and k from the pairs into rotate-half layout, and both
// cache appends in place.
module attributes {tfm.model = {architecture = "LlamaForCausalLM"}} {
  func.func @fused_qkv(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x2x4xf32> {
    %emb = tfm.param @embed : tensor<10x8xf32>
    %x = tfm.embedding %emb[%tokens] : tensor<10x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %g = tfm.param @norm : tensor<8xf32>
    %w = tfm.param @"q+k+v" {sources = ["q", "k", "v"], pair_rows = array<i64: 0, 12, 4>} : tensor<16x8xf32>
    %bias = tfm.param @"bq+bk+bv" {sources = ["bq", "bk", "bv"], pair_rows = array<i64: 0, 12, 4>} : tensor<16xf32>
    %kc = tfm.kv_cache key[0] : tensor<1x16x4xf32>
    %vc = tfm.kv_cache value[0] : tensor<1x16x4xf32>
    %q, %kc2, %vc2 = tfm.fused_qkv %x, %w bias(%bias : tensor<16xf32>) norm(%g : tensor<8xf32>) into %kc, %vc[%pos] {eps = 1.0e-5 : f64, theta = 10000.0 : f64} : tensor<1x8xf32>, tensor<16x8xf32>, tensor<1x16x4xf32> -> tensor<1x2x4xf32>
    %a = tfm.attention %q, %kc2, %vc2[%pos] {scale = 0.5 : f64} : tensor<1x2x4xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32> -> tensor<1x2x4xf32>
    return %a : tensor<1x2x4xf32>
  }
}

// CHECK-DAG: #[[PAIR0:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, 0)>
// CHECK-DAG: #[[PAIR1:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, 1)>
// CHECK-LABEL: func.func @fused_qkv(
// CHECK-SAME: %[[KV:[a-z0-9_]+]]: memref<512xi8> {tfm.abi = "kv"}, %{{.*}}: memref<?xi8> {tfm.abi = "arena"}, %{{.*}}: memref<1xi32> {tfm.abi = "tokens"}, %[[POS:[a-z0-9_]+]]: index {tfm.abi = "position"}
// CHECK-NOT: = tfm.
// CHECK-DAG: %[[KVIEW:.*]] = memref.view %[[KV]][%c0{{.*}}][] : memref<512xi8> to memref<1x16x4xf32>
// CHECK-DAG: %[[VVIEW:.*]] = memref.view %[[KV]][%c256{{.*}}][] : memref<512xi8> to memref<1x16x4xf32>
// CHECK: math.rsqrt
// CHECK: %[[Z:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<1x8xf32>, tensor<16x8xf32>) outs(%{{.*}} : tensor<1x16xf32>)
// Two q heads and one k head of 4: columns [0, 12) as [T, 3, 2, 2] pairs.
// CHECK: %[[QK:.*]] = tensor.extract_slice %[[Z]][0, 0] [1, 12] [1, 1]
// CHECK: %[[PAIRS:.*]] = tensor.expand_shape %[[QK]] {{\[\[}}0], [1, 2, 3]] output_shape [1, 3, 2, 2]
// CHECK: %[[FREQ:.*]] = arith.constant dense<[1.000000e+00, 0.00999999977]> : tensor<2xf32>
// CHECK: %[[ROPED:.*]] = linalg.generic {indexing_maps = [#[[PAIR0]], #[[PAIR1]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[PAIRS]], %[[PAIRS]] : tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>) outs(%{{.*}} : tensor<1x3x2x2xf32>)
// CHECK: tensor.extract %[[FREQ]]
// CHECK: arith.addi %[[POS]]
// CHECK: math.cos
// CHECK: math.sin
// The [T, H + Hkv, 2, Dh/2] halves are rotate-half heads [T, H + Hkv, Dh].
// CHECK: %[[HEADS:.*]] = tensor.collapse_shape %[[ROPED]] {{\[\[}}0], [1], [2, 3]] : tensor<1x3x2x2xf32> into tensor<1x3x4xf32>
// CHECK: %[[Q:.*]] = tensor.extract_slice %[[HEADS]][0, 0, 0] [1, 2, 4] [1, 1, 1]
// CHECK: %[[K:.*]] = tensor.extract_slice %[[HEADS]][0, 2, 0] [1, 1, 4] [1, 1, 1]
// CHECK: %[[VCOLS:.*]] = tensor.extract_slice %[[Z]][0, 12] [1, 4] [1, 1]
// CHECK: %[[V:.*]] = tensor.expand_shape %[[VCOLS]] {{\[\[}}0], [1, 2]] output_shape [1, 1, 4]
// CHECK: linalg.transpose ins(%[[K]] : tensor<1x1x4xf32>)
// CHECK: bufferization.materialize_in_destination %{{.*}} in restrict writable %[[KVIEW]]
// CHECK: linalg.transpose ins(%[[V]] : tensor<1x1x4xf32>)
// CHECK: bufferization.materialize_in_destination %{{.*}} in restrict writable %[[VVIEW]]
// Attention reads the query and the appended caches.
// CHECK: linalg.generic {{.*}}ins(%[[Q]], %{{.*}} : tensor<1x2x4xf32>, tensor<1x16x4xf32>)

// -----

// Quantized weights: each is two views of the weights buffer, the codes
// (rows padded to row_bytes) and the (scale, zero) pairs, and the product
// dequantizes each code as it reads it. No f32 weight tensor exists.
// int8, per output channel (one group of 40).
// int4 in groups of 16 over K = 24: one whole group, whose x is split into
// even and odd elements so that each nibble's loop reads contiguously, then
// the short last group of 8 as a flat reduction.
module attributes {tfm.model = {architecture = "LlamaForCausalLM"}} {
  func.func @quantized(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x8xf32> {
    %emb = tfm.param @embed : tensor<10x40xf32>
    %x = tfm.embedding %emb[%tokens] : tensor<10x40xf32>, tensor<1xi32> -> tensor<1x40xf32>
    %w8 = tfm.param @w8 : !tfm.qweight<24x40xi8, group = 40, scale = f32>
    %y = tfm.linear %x, %w8 : tensor<1x40xf32>, !tfm.qweight<24x40xi8, group = 40, scale = f32> -> tensor<1x24xf32>
    %w4 = tfm.param @w4 : !tfm.qweight<8x24xi4, group = 16, scale = f16>
    %z = tfm.linear %y, %w4 : tensor<1x24xf32>, !tfm.qweight<8x24xi4, group = 16, scale = f16> -> tensor<1x8xf32>
    return %z : tensor<1x8xf32>
  }
}

// CHECK-DAG: #[[I8X:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
// CHECK-DAG: #[[I8Q:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2 * 40 + d3)>
// CHECK-DAG: #[[I8S:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, 0)>
// CHECK-DAG: #[[I8Z:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, 1)>
// CHECK-DAG: #[[I8O:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d0)>
// CHECK-DAG: #[[I4Q:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2 * 8 + d4)>
// CHECK-DAG: #[[TAILQ:.*]] = affine_map<(d0, d1, d2) -> (d0, d2 floordiv 2 + 8)>
// CHECK-DAG: #[[TAILS:.*]] = affine_map<(d0, d1, d2) -> (d0, d2 floordiv 16 + 1, 0)>
// CHECK-LABEL: func.func @quantized(
// CHECK-SAME: %[[W:[a-z0-9_]+]]: memref<3136xi8> {tfm.abi = "weights"}
// CHECK-NOT: = tfm.
// CHECK-NOT: tensor<24x40xf32>
// CHECK-NOT: tensor<8x24xf32>
// Codes at the param's offset, the pairs at quant.scales_offset.
// CHECK-DAG: %[[C4V:.*]] = memref.view %[[W]][%c2944{{.*}}][] : memref<3136xi8> to memref<8x16xi8>
// CHECK-DAG: %[[S4V:.*]] = memref.view %[[W]][%c3072{{.*}}][] : memref<3136xi8> to memref<8x2x2xf16>
// CHECK-DAG: %[[C8V:.*]] = memref.view %[[W]][%c1600{{.*}}][] : memref<3136xi8> to memref<24x48xi8>
// CHECK-DAG: %[[S8V:.*]] = memref.view %[[W]][%c2752{{.*}}][] : memref<3136xi8> to memref<24x1x2xf32>
// CHECK-DAG: %[[C4:.*]] = bufferization.to_tensor %[[C4V]] restrict : memref<8x16xi8> to tensor<8x16xi8>
// CHECK-DAG: %[[S4:.*]] = bufferization.to_tensor %[[S4V]] restrict : memref<8x2x2xf16> to tensor<8x2x2xf16>
// CHECK-DAG: %[[C8:.*]] = bufferization.to_tensor %[[C8V]] restrict : memref<24x48xi8> to tensor<24x48xi8>
// CHECK-DAG: %[[S8:.*]] = bufferization.to_tensor %[[S8V]] restrict : memref<24x1x2xf32> to tensor<24x1x2xf32>
// int8: sign-extended codes, (q - zero) * scale, f32 accumulation.
// CHECK: %[[X8:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [1, 1, 40]
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#[[I8X]], #[[I8Q]], #[[I8S]], #[[I8Z]], #[[I8O]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[X8]], %[[C8]], %[[S8]], %[[S8]] : tensor<1x1x40xf32>, tensor<24x48xi8>, tensor<24x1x2xf32>, tensor<24x1x2xf32>) outs(%{{.*}} : tensor<1x24xf32>)
// CHECK-NEXT: ^bb0(%[[XE:.*]]: f32, %[[Q8:.*]]: i8, %[[SC:.*]]: f32, %[[ZE:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[QF:.*]] = arith.sitofp %[[Q8]] : i8 to f32
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[QF]], %[[ZE]] : f32
// CHECK-NEXT: %[[WV:.*]] = arith.mulf %[[D]], %[[SC]] : f32
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[XE]], %[[WV]] fastmath<reassoc,contract> : f32
// CHECK-NEXT: arith.addf %[[ACC]], %[[P]] fastmath<reassoc,contract> : f32
// int4, whole groups: x as [T, groups, 2, group/2], the nibble by parity.
// CHECK: %[[XW:.*]] = tensor.extract_slice %[[Y]][0, 0] [1, 16] [1, 1]
// CHECK: %[[XP:.*]] = tensor.expand_shape %[[XW]] {{\[\[}}0], [1, 2, 3]] output_shape [1, 1, 8, 2]
// CHECK: %[[XT:.*]] = linalg.transpose ins(%[[XP]] : tensor<1x1x8x2xf32>) outs(%{{.*}} : tensor<1x1x2x8xf32>) permutation = [0, 1, 3, 2]
// CHECK: %[[S4W:.*]] = tensor.extract_slice %[[S4]][0, 0, 0] [8, 1, 2] [1, 1, 1]
// CHECK: %[[Z4:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[I4Q]], #{{.*}}, #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%[[XT]], %[[C4]], %[[S4W]], %[[S4W]] : tensor<1x1x2x8xf32>, tensor<8x16xi8>, tensor<8x1x2xf16>, tensor<8x1x2xf16>)
// CHECK: %[[PAR:.*]] = linalg.index 3 : index
// CHECK: %[[P8:.*]] = arith.index_cast %[[PAR]] : index to i8
// CHECK: %[[SH:.*]] = arith.shli %[[P8]], %c2_i8
// CHECK: %[[NIB:.*]] = arith.shrui %{{.*}}, %[[SH]] : i8
// CHECK: arith.andi %[[NIB]], %c15_i8
// CHECK: arith.uitofp %{{.*}} : i8 to f32
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.subf
// CHECK: arith.mulf
// The short last group continues the same accumulator.
// CHECK: %[[XTAIL:.*]] = tensor.extract_slice %[[Y]][0, 16] [1, 8] [1, 1]
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[TAILQ]], #[[TAILS]], #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[XTAIL]], %[[C4]], %[[S4]], %[[S4]] : tensor<1x8xf32>, tensor<8x16xi8>, tensor<8x2x2xf16>, tensor<8x2x2xf16>) outs(%[[Z4]] : tensor<1x8xf32>)
// CHECK: arith.remui
// CHECK: arith.shrui
// CHECK: arith.uitofp
