//===- TfmDialect.td - the transformer dialect -------------*- tablegen -*-===//
//
// `tfm` models transformer inference at the grain of its natural ops, on
// tensors with value semantics. Weights are named parameters, never dense
// constants: a 70B model must compile without 70B of RAM.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMDIALECT_TD
#define MONOCARD_DIALECT_TFM_IR_TFMDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Tfm_Dialect : Dialect {
  let name = "tfm";
  let cppNamespace = "::monocard::tfm";
  let summary = "Transformer inference ops on tensors";
  let description = [{
    The `tfm` dialect is Monocard's entry IR. The importer builds two step
    functions per model: `prefill` (a chunk of prompt tokens) and `decode`
    (one token against the KV cache). Weights appear as `tfm.param` ops that
    name a packed tensor; the KV cache as `tfm.kv_cache` ops that name a layer.
    All ops work on ranked, statically shaped tensors of `f32`, `f16` or
    `bf16`; token ids are `i32`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

class Tfm_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tfm_Dialect, mnemonic, traits>;

#endif // MONOCARD_DIALECT_TFM_IR_TFMDIALECT_TD
