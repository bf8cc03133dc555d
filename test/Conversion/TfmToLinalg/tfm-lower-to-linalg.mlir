// RUN: monocard-opt %s --tfm-layout-weights --tfm-lower-to-linalg | FileCheck %s

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
