//===- TfmDialect.cpp - the tfm dialect and its attributes ----------------===//

#include "monocard/Dialect/Tfm/IR/TfmDialect.h"
#include "monocard/Dialect/Tfm/IR/TfmAttrs.h"
#include "monocard/Dialect/Tfm/IR/TfmOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace monocard::tfm;

#include "monocard/Dialect/Tfm/IR/TfmDialect.cpp.inc"
#include "monocard/Dialect/Tfm/IR/TfmEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "monocard/Dialect/Tfm/IR/TfmAttrs.cpp.inc"

void TfmDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "monocard/Dialect/Tfm/IR/TfmOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "monocard/Dialect/Tfm/IR/TfmAttrs.cpp.inc"
      >();
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
