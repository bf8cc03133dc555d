//===- CompileStages.h - the stages every target shares ---------*- C++ -*-===//
//
// The stages a target builds its list from: the imported IR, a list of
// passes whose result is printed, the memory plan, the host object and the
// link. A target supplies what differs (its passes, its object, its link);
// what is written, and where, is the same for every target.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TARGET_COMPILESTAGES_H
#define MONOCARD_TARGET_COMPILESTAGES_H

#include "monocard/Target/CompileTarget.h"

#include "mlir/Pass/PassManager.h"

namespace monocard {

using AddPasses =
    std::function<void(mlir::OpPassManager &, const CompileOptions &)>;
using LinkAction =
    std::function<llvm::Error(llvm::StringRef object, llvm::StringRef output)>;

/// "tfm": the imported module as it is.
CompileStage tfmStage();

/// Runs the passes `add` adds; writes the module.
CompileStage passStage(llvm::StringRef name, llvm::StringRef help,
                       AddPasses add);

/// "memplan": runs the passes `add` adds, which plan the memory, and reports
/// the plan in one line on stderr; writes the per-step plans as JSON.
CompileStage memplanStage(AddPasses add);

/// "obj": `build` writes the host object to the job's objectPath.
CompileStage objectStage(CompileStage::Action build);

/// "exe": `link` links the host object into the program; the object is
/// removed either way.
CompileStage executableStage(LinkAction link);

/// Runs the passes `add` adds on the module; a failure is one error that
/// points at the diagnostics printed above it.
llvm::Error runPasses(mlir::ModuleOp module,
                      llvm::function_ref<void(mlir::OpPassManager &)> add);

/// Writes `text` to `path` ("" or "-": stdout).
llvm::Error writeText(llvm::StringRef path, llvm::StringRef text);

/// Writes the module's text and a newline to `path` ("" or "-": stdout).
llvm::Error printModule(mlir::ModuleOp module, llvm::StringRef path);

/// `bytes` as "12.34 MiB".
std::string humanBytes(int64_t bytes);

} // namespace monocard

#endif // MONOCARD_TARGET_COMPILESTAGES_H
