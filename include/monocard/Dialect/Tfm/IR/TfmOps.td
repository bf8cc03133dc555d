//===- TfmOps.td - tfm operations --------------------------*- tablegen -*-===//
//
// Shapes follow one convention throughout:
//   activations  [T, D]            T rows (tokens) of width D
//   heads        [T, H, Dh]        after splitting a projection into heads
//   KV cache     [Hkv, S, Dh]      one layer's keys or values, S = max_seq
//   weights      [N, K]            Hugging Face's [out, in]; linear is x·Wᵀ+b
// Every op has a verifier that names the mismatch it finds.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMOPS_TD
#define MONOCARD_DIALECT_TFM_IR_TFMOPS_TD

include "monocard/Dialect/Tfm/IR/TfmDialect.td"
include "monocard/Dialect/Tfm/IR/TfmAttrs.td"
include "monocard/Dialect/Tfm/IR/TfmTypes.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Model state: weights and the KV cache
//===----------------------------------------------------------------------===//

def Tfm_ParamOp : Tfm_Op<"param", [Pure]> {
  let summary = "a named weight tensor, resolved when weights are packed";
  let description = [{
    Names a tensor of the checkpoint. Its data never enters the IR: the
    packer fills it from the safetensors file, converted to the result's
    element type (or quantized, for a `!tfm.qweight`), at an offset the
    compiler chooses.

    ```mlir
    %w = tfm.param @"model.layers.0.self_attn.q_proj.weight" : tensor<64x64xf32>
    ```

    A param made by fusion names several checkpoint tensors in `sources`:
    they are concatenated along axis 0. `pair_rows` holds triples
    `(start, count, block)`: within rows `[start, start + count)` each run
    of `block` rows is reordered so that rows `i` and `i + block/2` of the
    run become neighbours `2i`, `2i + 1` (RoPE's rotate-half partners, or
    a gate row and its up row). docs/packed-weights-format.md has the
    packer's side.

    ```mlir
    %gu = tfm.param @"gate+up" {sources = ["l.gate_proj.weight", "l.up_proj.weight"],
                                pair_rows = array<i64: 0, 1376, 1376>}
        : tensor<1376x256xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name,
                       OptionalAttr<StrArrayAttr>:$sources,
                       OptionalAttr<DenseI64ArrayAttr>:$pair_rows);
  let results = (outs Tfm_Weight:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The checkpoint tensors this param is read from, in order.
    ::llvm::SmallVector<::llvm::StringRef> getSourceNames();
  }];
}

def Tfm_KvCacheOp : Tfm_Op<"kv_cache", [Pure]> {
  let summary = "one layer's key or value cache at the start of the step";
  let description = [{
    The persistent cache of layer `layer`, shaped `[Hkv, S, Dh]` (S is the
    compiled `--max-seq`). `tfm.kv_append` returns the updated contents; the
    step's persistent state becomes the last appended value of each
    (layer, kind).

    ```mlir
    %k = tfm.kv_cache key[0] : tensor<2x256x16xf32>
    ```
  }];
  let arguments = (ins Tfm_KvKindAttr:$kind,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$layer);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = "$kind `[` $layer `]` attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Tfm_KvAppendOp : Tfm_Op<"kv_append", [Pure,
    AllTypesMatch<["cache", "result"]>]> {
  let summary = "write T new rows into a KV cache at position `position`";
  let description = [{
    `rows` is `[T, Hkv, Dh]` (the projection's layout); row t lands at cache
    position `position + t` of every head.
  }];
  let arguments = (ins Tfm_FloatTensor:$cache, Tfm_FloatTensor:$rows,
                       Index:$position);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `into` $cache `[` $position `]` attr-dict `:`
    type($rows) `into` type($cache)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Embeddings, norms, projections
//===----------------------------------------------------------------------===//

def Tfm_EmbeddingOp : Tfm_Op<"embedding", [Pure]> {
  let summary = "gather rows of an embedding table";
  let arguments = (ins Tfm_FloatTensor:$table, Tfm_TokenTensor:$ids);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $table `[` $ids `]` attr-dict `:` type($table) `,` type($ids) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def Tfm_RmsNormOp : Tfm_Op<"rms_norm", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "x · rsqrt(mean(x²) + eps) · weight over the last axis";
  let arguments = (ins Tfm_FloatTensor:$input, Tfm_FloatTensor:$weight,
                       F64Attr:$eps);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Tfm_LayerNormOp : Tfm_Op<"layer_norm", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "(x - mean) · rsqrt(var + eps) · weight + bias, last axis";
  let arguments = (ins Tfm_FloatTensor:$input, Tfm_FloatTensor:$weight,
                       Tfm_FloatTensor:$bias, F64Attr:$eps);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias attr-dict `:` type($input) `,`
    type($weight) `,` type($bias)
  }];
  let hasVerifier = 1;
}

def Tfm_LinearOp : Tfm_Op<"linear", [Pure]> {
  let summary = "x · Wᵀ (+ b), W in Hugging Face's [out, in] layout";
  let arguments = (ins Tfm_FloatTensor:$input, Tfm_Weight:$weight,
                       Optional<Tfm_FloatTensor>:$bias);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,`
    type($weight) (`,` type($bias)^)? `->` type($result)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def Tfm_RopeOp : Tfm_Op<"rope", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding, Hugging Face rotate-half layout";
  let description = [{
    Rotates pairs (i, i + Dh/2) of each head of `input` (`[T, H, Dh]`) by
    angle `p · θ^(-2i/Dh)` where p = `position` + t for row t. `scaling`, if
    present, adjusts the frequencies as Llama 3 does.
  }];
  let arguments = (ins Tfm_FloatTensor:$input, Index:$position,
                       F64Attr:$theta,
                       OptionalAttr<Tfm_Llama3RopeScalingAttr>:$scaling);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $input `[` $position `]` attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The inverse frequencies theta^(-2i/d) for i < d/2, with Llama 3's
    /// scaling applied when present, rounded to f32 the way transformers
    /// computes them. Every target's lowering uses these.
    ::llvm::SmallVector<float> getInverseFrequencies();
  }];
}

def Tfm_AttentionOp : Tfm_Op<"attention", [Pure]> {
  let summary = "scaled dot-product attention of T queries over a KV cache";
  let description = [{
    `query` is `[T, H, Dh]`, the caches `[Hkv, S, Dh]` with H a multiple of
    Hkv (grouped-query attention: query head h reads KV head h / (H/Hkv)).
    Query row t sits at position `position + t`; with `causal` it attends to
    cache positions `0 .. position + t`, otherwise to
    `0 .. position + T - 1`. Scores are scaled by `scale` (usually
    1/sqrt(Dh)) and softmax'ed in f32.
  }];
  let arguments = (ins Tfm_FloatTensor:$query, Tfm_FloatTensor:$key_cache,
                       Tfm_FloatTensor:$value_cache, Index:$position,
                       F64Attr:$scale, DefaultValuedAttr<BoolAttr, "true">:$causal);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key_cache `,` $value_cache `[` $position `]` attr-dict `:`
    type($query) `,` type($key_cache) `,` type($value_cache) `->`
    type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumHeads() { return getQuery().getType().getDimSize(1); }
    int64_t getNumKvHeads() { return getKeyCache().getType().getDimSize(0); }
    int64_t getHeadDim() { return getQuery().getType().getDimSize(2); }
  }];
}

//===----------------------------------------------------------------------===//
// Fused ops (made by tfm-fuse; each lowers to one kernel)
//===----------------------------------------------------------------------===//

def Tfm_FusedLinearOp : Tfm_Op<"fused_linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "a linear layer with an RMSNorm prologue and a SwiGLU or "
                "residual epilogue";
  let description = [{
    With `x` the `input` (`[T, K]`) and `W` the `weight` (`[N, K]`):

    1. prologue: `x' = rms_norm(x, norm_weight, eps)` if `norm_weight` is
       given, else `x' = x`. The normalized row stays in f32; it is not
       rounded to the storage type before the product.
    2. `z = x' · Wᵀ (+ bias)`.
    3. epilogue: with `swiglu`, W's rows are (gate, up) pairs and
       `result[:, i] = silu(z[:, 2i]) · z[:, 2i + 1]` (`[T, N/2]`); else
       `result = z`. Then `+ residual` if given.

    ```mlir
    %h2 = tfm.fused_linear %a, %wo residual(%h : tensor<1x256xf32>)
        : tensor<1x256xf32>, tensor<256x256xf32> -> tensor<1x256xf32>
    ```
  }];
  let arguments = (ins Tfm_FloatTensor:$input, Tfm_Weight:$weight,
                       Optional<Tfm_FloatTensor>:$bias,
                       Optional<Tfm_FloatTensor>:$norm_weight,
                       Optional<Tfm_FloatTensor>:$residual,
                       OptionalAttr<F64Attr>:$eps, UnitAttr:$swiglu);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)?
    (`residual` `(` $residual^ `:` type($residual) `)`)?
    attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Tfm_FusedQkvOp : Tfm_Op<"fused_qkv", [Pure, AttrSizedOperandSegments,
    AllTypesMatch<["key_cache", "value_cache", "new_key_cache",
                   "new_value_cache"]>]> {
  let summary = "the attention block's entry: RMSNorm, one q/k/v projection, "
                "RoPE on q and k, and the KV-cache append";
  let description = [{
    With `x` the `input` (`[T, K]`), H query heads, Hkv KV heads of width
    Dh (from `query` `[T, H, Dh]` and the caches `[Hkv, S, Dh]`), `W` is
    `[(H + 2·Hkv)·Dh, K]`: the q rows, then k, then v, where the q and k rows
    of every head are in pair order (`tfm.param`'s `pair_rows` with block
    Dh): rows `2i`, `2i + 1` of a head are its rotate-half partners `i`,
    `i + Dh/2`. Then:

    - `x' = rms_norm(x, norm_weight, eps)` if `norm_weight` is given;
    - `z = x' · Wᵀ (+ bias)`;
    - `query` = RoPE (at `position + t`, `theta`, `scaling`) of the q part,
      in the usual rotate-half layout `[T, H, Dh]`;
    - `new_key_cache` = `key_cache` with the rotated k part written at
      positions `position .. position + T - 1`; `new_value_cache` likewise
      with the v part.

    It computes what rms_norm, three linears, two ropes and two kv_appends
    compute, in one kernel.
  }];
  let arguments = (ins Tfm_FloatTensor:$input, Tfm_Weight:$weight,
                       Optional<Tfm_FloatTensor>:$bias,
                       Optional<Tfm_FloatTensor>:$norm_weight,
                       Tfm_FloatTensor:$key_cache, Tfm_FloatTensor:$value_cache,
                       Index:$position, OptionalAttr<F64Attr>:$eps,
                       F64Attr:$theta,
                       OptionalAttr<Tfm_Llama3RopeScalingAttr>:$scaling);
  let results = (outs Tfm_FloatTensor:$query, Tfm_FloatTensor:$new_key_cache,
                      Tfm_FloatTensor:$new_value_cache);
  let assemblyFormat = [{
    $input `,` $weight
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)?
    `into` $key_cache `,` $value_cache `[` $position `]`
    attr-dict `:` type($input) `,` type($weight) `,` type($key_cache) `->`
    type($query)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumHeads() { return getQuery().getType().getDimSize(1); }
    int64_t getNumKvHeads() { return getKeyCache().getType().getDimSize(0); }
    int64_t getHeadDim() { return getQuery().getType().getDimSize(2); }
    ::llvm::SmallVector<float> getInverseFrequencies() {
      return ropeInverseFrequencies(getHeadDim(), getTheta().convertToDouble(),
                                    getScalingAttr());
    }
  }];
}

//===----------------------------------------------------------------------===//
// Elementwise and reductions
//===----------------------------------------------------------------------===//

class Tfm_UnaryOp<string mnemonic, list<Trait> traits = []>
    : Tfm_Op<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType])> {
  let arguments = (ins Tfm_FloatTensor:$input);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

class Tfm_BinaryOp<string mnemonic, list<Trait> traits = []>
    : Tfm_Op<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType])> {
  let arguments = (ins Tfm_FloatTensor:$lhs, Tfm_FloatTensor:$rhs);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Tfm_SiluOp : Tfm_UnaryOp<"silu"> {
  let summary = "x · sigmoid(x)";
}

def Tfm_GeluOp : Tfm_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "Gaussian error linear unit, exact (erf) or tanh-approximated";
  let arguments = (ins Tfm_FloatTensor:$input,
      DefaultValuedAttr<Tfm_GeluApproximationAttr,
                        "::monocard::tfm::GeluApproximation::none">:$approximate);
  let results = (outs Tfm_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Tfm_SwigluOp : Tfm_BinaryOp<"swiglu"> {
  let summary = "silu(gate) · up";
  let arguments = (ins Tfm_FloatTensor:$gate, Tfm_FloatTensor:$up);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

def Tfm_AddOp : Tfm_BinaryOp<"add", [Commutative]> {
  let summary = "elementwise sum (the residual connection)";
  let hasFolder = 1;
}

def Tfm_MulOp : Tfm_BinaryOp<"mul", [Commutative]> {
  let summary = "elementwise product";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Tfm_SoftmaxOp : Tfm_UnaryOp<"softmax"> {
  let summary = "softmax over the last axis";
}

def Tfm_ArgmaxOp : Tfm_Op<"argmax", [Pure]> {
  let summary = "index of the largest value of the last axis (lowest wins ties)";
  let arguments = (ins Tfm_FloatTensor:$input);
  let results = (outs Tfm_TokenTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Tfm_SampleOp : Tfm_Op<"sample", [Pure]> {
  let summary = "draw a token from logits with temperature, top-k and top-p";
  let description = [{
    Samples one id per row of `logits` (`[..., V]`). `uniform` is a number
    in [0, 1) per row drawn by the caller's seeded generator, so the op
    itself is pure. `top_k` = 0 and `top_p` = 1 disable those filters.
  }];
  let arguments = (ins Tfm_FloatTensor:$logits, F32:$temperature,
                       I32:$top_k, F32:$top_p, Tfm_FloatTensor:$uniform);
  let results = (outs Tfm_TokenTensor:$result);
  let assemblyFormat = [{
    $logits `,` $uniform `temperature` $temperature `top_k` $top_k `top_p`
    $top_p attr-dict `:` type($logits) `,` type($uniform) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // MONOCARD_DIALECT_TFM_IR_TFMOPS_TD
