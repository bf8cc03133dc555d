//===- TfmAttrs.td - tfm attributes and enums --------------*- tablegen -*-===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMATTRS_TD
#define MONOCARD_DIALECT_TFM_IR_TFMATTRS_TD

include "monocard/Dialect/Tfm/IR/TfmDialect.td"
include "mlir/IR/EnumAttr.td"

def Tfm_GeluApproximation : I32EnumAttr<"GeluApproximation",
    "how gelu is computed", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"tanh", 1>
    ]> {
  let cppNamespace = "::monocard::tfm";
  let genSpecializedAttr = 0;
}
def Tfm_GeluApproximationAttr
    : EnumAttr<Tfm_Dialect, Tfm_GeluApproximation, "gelu_approximation">;

def Tfm_KvKind : I32EnumAttr<"KvKind", "which half of the KV cache", [
      I32EnumAttrCase<"key", 0>,
      I32EnumAttrCase<"value", 1>
    ]> {
  let cppNamespace = "::monocard::tfm";
  let genSpecializedAttr = 0;
}
def Tfm_KvKindAttr : EnumAttr<Tfm_Dialect, Tfm_KvKind, "kv_kind">;

// A double printed so that it round-trips exactly.
class Tfm_F64Parameter<string desc> : APFloatParameter<desc> {
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::APFloat> {
    double v;
    if ($_parser.parseFloat(v))
      return ::mlir::failure();
    return ::llvm::APFloat(v);
  }() }];
  let printer = [{ $_printer.printFloat($_self) }];
}

def Tfm_Llama3RopeScalingAttr : AttrDef<Tfm_Dialect, "Llama3RopeScaling"> {
  let mnemonic = "llama3_scaling";
  let summary = "Llama-3 RoPE frequency scaling";
  let description = [{
    The `rope_scaling` of type `llama3` in a Hugging Face config: long
    wavelengths are divided by `factor`, short ones kept, and the band in
    between interpolated smoothly (see transformers'
    `_compute_llama3_parameters`).
  }];
  let parameters = (ins
    Tfm_F64Parameter<"">:$factor,
    Tfm_F64Parameter<"">:$low_freq_factor,
    Tfm_F64Parameter<"">:$high_freq_factor,
    "int64_t":$original_max_position_embeddings
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // MONOCARD_DIALECT_TFM_IR_TFMATTRS_TD
