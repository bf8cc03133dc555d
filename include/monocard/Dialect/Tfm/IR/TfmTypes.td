//===- TfmTypes.td - tfm types -----------------------------*- tablegen -*-===//
//
// The dialect's one type (the quantized weight) and the type constraints
// shared by the ops.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_DIALECT_TFM_IR_TFMTYPES_TD
#define MONOCARD_DIALECT_TFM_IR_TFMTYPES_TD

include "monocard/Dialect/Tfm/IR/TfmDialect.td"
include "mlir/IR/BuiltinTypes.td"
include "mlir/IR/CommonTypeConstraints.td"

def Tfm_QWeightType : TypeDef<Tfm_Dialect, "QWeight", [ShapedTypeInterface]> {
  let mnemonic = "qweight";
  let summary = "a weight-only quantized [N, K] matrix";
  let description = [{
    A linear layer's weight `[N, K]` (Hugging Face's `[out, in]`) stored as
    integer codes of `i8` or `i4` with one `(scale, zero)` pair of
    `scale` type per `group` consecutive elements of a row (the last group
    of a row may be short). An element dequantizes to
    `(q - zero) * scale`. `i8` is per output channel (`group` = K).

    ```mlir
    %w = tfm.param @"model.layers.0.mlp.down_proj.weight"
        : !tfm.qweight<4096x11008xi4, group = 128, scale = f16>
    ```

    The bytes are the packer's: a data plane of rows padded to 16 bytes
    and a parameter plane of `[scale, zero]` pairs
    (docs/packed-weights-format.md). The type says what a kernel needs to
    address both; `tfm-layout-weights` records where they are.
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$shape,
                        "::mlir::IntegerType":$elementType,
                        "int64_t":$groupSize,
                        "::mlir::FloatType":$scaleType);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool hasRank() const { return true; }
    ::mlir::ShapedType cloneWith(std::optional<::llvm::ArrayRef<int64_t>> shape,
                                 ::mlir::Type elementType) const;
    unsigned getBits() const { return getElementType().getWidth(); }
    int64_t getNumRows() const { return getShape()[0]; }
    int64_t getNumCols() const { return getShape()[1]; }
    int64_t getNumGroups() const {
      return (getNumCols() + getGroupSize() - 1) / getGroupSize();
    }
    /// Bytes of one row of codes, padded so every row is 16-byte aligned.
    int64_t getRowBytes() const {
      return (getNumCols() * getBits() / 8 + (getNumCols() * getBits() % 8 ? 1 : 0)
              + 15) / 16 * 16;
    }
    int64_t getDataBytes() const { return getNumRows() * getRowBytes(); }
    /// Bytes of the [N, groups, 2] parameter plane.
    int64_t getScalesBytes() const {
      return getNumRows() * getNumGroups() * 2 * (getScaleType().getWidth() / 8);
    }
  }];
}

def Tfm_Float : AnyTypeOf<[F32, F16, BF16]>;
def Tfm_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Tfm_TokenTensor : RankedTensorOf<[I32]>;
/// A linear layer's weight: full precision, or quantized.
def Tfm_Weight : AnyTypeOf<[Tfm_FloatTensor, Tfm_QWeightType]>;

#endif // MONOCARD_DIALECT_TFM_IR_TFMTYPES_TD
