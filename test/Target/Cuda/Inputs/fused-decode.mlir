// A fused, partly quantized decode step (what tfm-fuse and tfm-quantize
// make), for emit-ptx.test: every kind of fused GEMV kernel.
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 4 : i64}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x16xf16> {
    %emb = tfm.param @embed : tensor<16x256xf16>
    %x = tfm.embedding %emb[%tokens] : tensor<16x256xf16>, tensor<1xi32> -> tensor<1x256xf16>
    %g1 = tfm.param @ln1 : tensor<256xf16>
    %kc = tfm.kv_cache key[0] : tensor<2x64x32xf16>
    %vc = tfm.kv_cache value[0] : tensor<2x64x32xf16>
    // int4 q/k/v with the norm, RoPE and the cache writes.
    %wqkv = tfm.param @"q+k+v" {pair_rows = array<i64: 0, 320, 32>, sources = ["q", "k", "v"]} : !tfm.qweight<384x256xi4, group = 128, scale = f16>
    %q, %kc2, %vc2 = tfm.fused_qkv %x, %wqkv norm(%g1 : tensor<256xf16>) into %kc, %vc[%pos] {eps = 1.0e-05 : f64, theta = 1.0e+04 : f64} : tensor<1x256xf16>, !tfm.qweight<384x256xi4, group = 128, scale = f16>, tensor<2x64x32xf16> -> tensor<1x8x32xf16>
    %a = tfm.attention %q, %kc2, %vc2[%pos] {scale = 0.17677669529663687 : f64} : tensor<1x8x32xf16>, tensor<2x64x32xf16>, tensor<2x64x32xf16> -> tensor<1x8x32xf16>
    %af = tensor.collapse_shape %a [[0], [1, 2]] : tensor<1x8x32xf16> into tensor<1x256xf16>
    // int8 o-projection with the residual.
    %wo = tfm.param @o : !tfm.qweight<256x256xi8, group = 256, scale = f16>
    %h = tfm.fused_linear %af, %wo residual(%x : tensor<1x256xf16>) : tensor<1x256xf16>, !tfm.qweight<256x256xi8, group = 256, scale = f16> -> tensor<1x256xf16>
    // f16 gate/up with the norm and SwiGLU.
    %g2 = tfm.param @ln2 : tensor<256xf16>
    %wgu = tfm.param @"gate+up" {pair_rows = array<i64: 0, 1376, 1376>, sources = ["gate", "up"]} : tensor<1376x256xf16>
    %m = tfm.fused_linear %h, %wgu norm(%g2 : tensor<256xf16>) {eps = 1.0e-05 : f64, swiglu} : tensor<1x256xf16>, tensor<1376x256xf16> -> tensor<1x688xf16>
    // int4 down-projection: K = 688 ends in a short chunk.
    %wd = tfm.param @down : !tfm.qweight<256x688xi4, group = 128, scale = f16>
    %h2 = tfm.fused_linear %m, %wd residual(%h : tensor<1x256xf16>) : tensor<1x688xf16>, !tfm.qweight<256x688xi4, group = 128, scale = f16> -> tensor<1x256xf16>
    // A row too long for shared memory: lanes read x themselves.
    %embw = tfm.param @wide_embed : tensor<16x14336xf16>
    %xw = tfm.embedding %embw[%tokens] : tensor<16x14336xf16>, tensor<1xi32> -> tensor<1x14336xf16>
    %gw = tfm.param @wide_norm : tensor<14336xf16>
    %ww = tfm.param @wide : !tfm.qweight<256x14336xi4, group = 128, scale = f16>
    %h3 = tfm.fused_linear %xw, %ww norm(%gw : tensor<14336xf16>) residual(%h2 : tensor<1x256xf16>) {eps = 1.0e-05 : f64} : tensor<1x14336xf16>, !tfm.qweight<256x14336xi4, group = 128, scale = f16> -> tensor<1x256xf16>
    %gf = tfm.param @lnf : tensor<256xf16>
    %logits = tfm.fused_linear %h3, %emb norm(%gf : tensor<256xf16>) {eps = 1.0e-05 : f64} : tensor<1x256xf16>, tensor<16x256xf16> -> tensor<1x16xf16>
    return %logits : tensor<1x16xf16>
  }
}
