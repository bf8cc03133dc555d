//===- InitAll.h - register Monocard's dialects and passes ------*- C++ -*-===//

#ifndef MONOCARD_INITALL_H
#define MONOCARD_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace monocard {

/// The tfm dialect plus every upstream dialect the pipeline produces, with
/// the interface models (bufferization, LLVM translation) they need.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Every tfm- pass and the upstream passes the pipelines use.
void registerAllPasses();

} // namespace monocard

#endif // MONOCARD_INITALL_H
