//===- TfmTypes.td - tfm types -----------------------------*- tablegen -*-===//
//
// Type constraints shared by the ops. The dialect's own types (the quantized
// weight type) arrive with quantization.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMTYPES_TD
#define MONOCARD_DIALECT_TFM_IR_TFMTYPES_TD

include "monocard/Dialect/Tfm/IR/TfmDialect.td"
include "mlir/IR/BuiltinTypes.td"
include "mlir/IR/CommonTypeConstraints.td"

def Tfm_Float : AnyTypeOf<[F32, F16, BF16]>;
def Tfm_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Tfm_TokenTensor : RankedTensorOf<[I32]>;

#endif // MONOCARD_DIALECT_TFM_IR_TFMTYPES_TD
