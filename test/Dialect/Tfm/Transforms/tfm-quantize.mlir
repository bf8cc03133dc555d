// RUN: monocard-opt %s -split-input-file --tfm-quantize | FileCheck %s --check-prefix=INT4
// RUN: monocard-opt %s -split-input-file --tfm-quantize="bits=4 group=32" | FileCheck %s --check-prefix=G32
// RUN: monocard-opt %s -split-input-file --tfm-quantize="bits=8" | FileCheck %s --check-prefix=INT8
// RUN: monocard-opt %s -split-input-file --tfm-quantize="bits=4 lm-head=true" | FileCheck %s --check-prefix=HEAD

// Linear weights become !tfm.qweight (f16 scales for f16 weights, group
// capped at the row length); the embedding table and the norm weight stay;
// the output projection stays unless lm-head is set.
// INT4-LABEL: func.func @step
// INT4: tfm.param @embed : tensor<64x256xf16>
// INT4: tfm.param @wo : !tfm.qweight<256x256xi4, group = 128, scale = f16>
// INT4: tfm.param @wd : !tfm.qweight<256x96xi4, group = 96, scale = f16>
// INT4: tfm.param @g : tensor<256xf16>
// INT4: tfm.param @lm_head : tensor<64x256xf16>
// G32: tfm.param @wo : !tfm.qweight<256x256xi4, group = 32, scale = f16>
// G32: tfm.param @wd : !tfm.qweight<256x96xi4, group = 32, scale = f16>
// INT8: tfm.param @wo : !tfm.qweight<256x256xi8, group = 256, scale = f16>
// INT8: tfm.param @wd : !tfm.qweight<256x96xi8, group = 96, scale = f16>
// INT8: tfm.param @lm_head : tensor<64x256xf16>
// HEAD: tfm.param @lm_head : !tfm.qweight<64x256xi4, group = 128, scale = f16>
func.func @step(%ids: tensor<1xi32>, %m: tensor<1x96xf16>) -> tensor<1x64xf16> {
  %e = tfm.param @embed : tensor<64x256xf16>
  %x = tfm.embedding %e[%ids] : tensor<64x256xf16>, tensor<1xi32> -> tensor<1x256xf16>
  %wo = tfm.param @wo : tensor<256x256xf16>
  %o = tfm.fused_linear %x, %wo residual(%x : tensor<1x256xf16>) : tensor<1x256xf16>, tensor<256x256xf16> -> tensor<1x256xf16>
  %wd = tfm.param @wd : tensor<256x96xf16>
  %d = tfm.linear %m, %wd : tensor<1x96xf16>, tensor<256x96xf16> -> tensor<1x256xf16>
  %s = tfm.add %o, %d : tensor<1x256xf16>
  %g = tfm.param @g : tensor<256xf16>
  %h = tfm.param @lm_head : tensor<64x256xf16>
  %y = tfm.fused_linear %s, %h norm(%g : tensor<256xf16>) {eps = 1.0e-5 : f64} : tensor<1x256xf16>, tensor<64x256xf16> -> tensor<1x64xf16>
  return %y : tensor<1x64xf16>
}

// -----

// f32 weights keep f32 scales. A tied embedding is one packed tensor read
// by an embedding and by the lm_head: it stays full precision even with
// lm-head, since the gather reads it too.
// INT4-LABEL: func.func @tied
// INT4: tfm.param @w : !tfm.qweight<32x16xi4, group = 16, scale = f32>
// INT4: tfm.param @embed : tensor<64x16xf32>
// HEAD-LABEL: func.func @tied
// HEAD: tfm.param @embed : tensor<64x16xf32>
// HEAD: func.func @head
// HEAD: tfm.param @embed : tensor<64x16xf32>
func.func @tied(%ids: tensor<1xi32>) -> tensor<1x32xf32> {
  %e = tfm.param @embed : tensor<64x16xf32>
  %x = tfm.embedding %e[%ids] : tensor<64x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
  %w = tfm.param @w : tensor<32x16xf32>
  %y = tfm.linear %x, %w : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  %s = tfm.silu %y : tensor<1x32xf32>
  return %s : tensor<1x32xf32>
}
func.func @head(%x: tensor<1x16xf32>) -> tensor<1x64xf32> {
  %e = tfm.param @embed : tensor<64x16xf32>
  %y = tfm.linear %x, %e : tensor<1x16xf32>, tensor<64x16xf32> -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}
