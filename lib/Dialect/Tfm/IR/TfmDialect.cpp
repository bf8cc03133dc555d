//===- TfmDialect.cpp - the tfm dialect and its attributes ----------------===//

#include "monocard/Dialect/Tfm/IR/TfmDialect.h"
#include "monocard/Dialect/Tfm/IR/TfmAttrs.h"
#include "monocard/Dialect/Tfm/IR/TfmOps.h"
#include "monocard/Dialect/Tfm/IR/TfmTypes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace monocard::tfm;

#include "monocard/Dialect/Tfm/IR/TfmDialect.cpp.inc"
#include "monocard/Dialect/Tfm/IR/TfmEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmTypes.cpp.inc"

void TfmDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "monocard/Dialect/Tfm/IR/TfmOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "monocard/Dialect/Tfm/IR/TfmAttrs.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "monocard/Dialect/Tfm/IR/TfmTypes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// !tfm.qweight<NxKxi4, group = G, scale = f16>
//===----------------------------------------------------------------------===//

Type QWeightType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  Type element, scale;
  int64_t group = 0;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/false,
                                /*withTrailingX=*/true) ||
      parser.parseType(element) || parser.parseComma() ||
      parser.parseKeyword("group") || parser.parseEqual() ||
      parser.parseInteger(group) || parser.parseComma() ||
      parser.parseKeyword("scale") || parser.parseEqual() ||
      parser.parseType(scale) || parser.parseGreater())
    return {};
  auto intType = dyn_cast<IntegerType>(element);
  auto floatType = dyn_cast<FloatType>(scale);
  if (!intType || !floatType) {
    parser.emitError(loc) << "qweight needs integer codes and a float scale";
    return {};
  }
  return getChecked([&] { return parser.emitError(loc); },
                    parser.getContext(), shape, intType, group, floatType);
}

void QWeightType::print(AsmPrinter &printer) const {
  printer << "<";
  for (int64_t d : getShape())
    printer << d << "x";
  printer << getElementType() << ", group = " << getGroupSize()
          << ", scale = " << getScaleType() << ">";
}

LogicalResult
QWeightType::verify(function_ref<InFlightDiagnostic()> emitError,
                    ArrayRef<int64_t> shape, IntegerType element,
                    int64_t group, FloatType scale) {
  if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0)
    return emitError() << "qweight must be a static [N, K] matrix";
  if (!element.isSignless() ||
      (element.getWidth() != 4 && element.getWidth() != 8))
    return emitError() << "qweight codes must be i4 or i8, got " << element;
  if (group <= 0 || group > shape[1])
    return emitError() << "qweight group " << group << " must be in [1, "
                       << shape[1] << "]";
  if (!scale.isF32() && !scale.isF16() && !scale.isBF16())
    return emitError() << "qweight scale must be f32, f16 or bf16, got "
                       << scale;
  return success();
}

ShapedType QWeightType::cloneWith(std::optional<ArrayRef<int64_t>> shape,
                                  Type elementType) const {
  return QWeightType::get(getContext(), shape ? *shape : getShape(),
                          cast<IntegerType>(elementType), getGroupSize(),
                          getScaleType());
}

LogicalResult Llama3RopeScalingAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, APFloat factorF,
    APFloat lowFreqFactorF, APFloat highFreqFactorF,
    int64_t originalMaxPositionEmbeddings) {
  double factor = factorF.convertToDouble();
  double lowFreqFactor = lowFreqFactorF.convertToDouble();
  double highFreqFactor = highFreqFactorF.convertToDouble();
  if (!(factor > 0))
    return emitError() << "llama3 rope scaling needs factor > 0";
  if (!(lowFreqFactor > 0))
    return emitError() << "llama3 rope scaling needs low_freq_factor > 0";
  if (!(highFreqFactor > lowFreqFactor))
    return emitError()
           << "llama3 rope scaling needs high_freq_factor > low_freq_factor";
  if (originalMaxPositionEmbeddings <= 0)
    return emitError() << "llama3 rope scaling needs "
                          "original_max_position_embeddings > 0";
  return success();
}
