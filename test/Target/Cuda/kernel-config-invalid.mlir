// RUN: monocard-opt %s --tfm-layout-weights '--tfm-lower-to-gpu=gpu=v100' -verify-diagnostics

// A GPU the target description does not know is refused, with the names it
// knows (the kernels need sm_80 or newer).
// expected-error @+1 {{tfm-lower-to-gpu: unknown GPU 'v100'; known: a100, a10, a40, rtx3090, l4, l40s, rtx4090, h100-sxm, h100-pcie, h200, sm_80, sm_86, sm_89, sm_90}}
module attributes {tfm.model = {architecture = "LlamaForCausalLM", prefill_chunk = 4 : i64}} {
  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> tensor<1x16xf16> {
    %emb = tfm.param @embed : tensor<16x64xf16>
    %x = tfm.embedding %emb[%tokens] : tensor<16x64xf16>, tensor<1xi32> -> tensor<1x64xf16>
    %logits = tfm.fused_linear %x, %emb : tensor<1x64xf16>, tensor<16x64xf16> -> tensor<1x16xf16>
    return %logits : tensor<1x16xf16>
  }
}
