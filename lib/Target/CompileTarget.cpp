//===- CompileTarget.cpp - the targets and running their stages ----------===//

#include "monocard/Target/CompileTarget.h"

#include "llvm/ADT/STLExtras.h"

using namespace monocard;

std::string CompileTarget::stageHint(llvm::StringRef stage) const {
  return ("--emit=" + stage + " is a stage of the " + name() +
          " target; use --target=" + name())
      .str();
}

const CompileStage *CompileTarget::findStage(llvm::StringRef name) const {
  for (const CompileStage &s : stages())
    if (s.name == name)
      return &s;
  return nullptr;
}

llvm::ArrayRef<const CompileTarget *> monocard::allTargets() {
  static const CompileTarget *const targets[] = {&getCpuTarget(),
                                                 &getCudaTarget()};
  return targets;
}

const CompileTarget *monocard::lookupTarget(llvm::StringRef name) {
  for (const CompileTarget *t : allTargets())
    if (t->name() == name)
      return t;
  return nullptr;
}

std::string monocard::targetNamesText() {
  llvm::ArrayRef<const CompileTarget *> targets = allTargets();
  std::string text;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i)
      text += i + 1 == targets.size() ? " or " : ", ";
    text += targets[i]->name();
  }
  return text;
}

/// The targets that have `stage`, as " (cpu)", or "" when all do.
static std::string owners(llvm::StringRef stage) {
  std::vector<llvm::StringRef> names;
  for (const CompileTarget *t : allTargets())
    if (t->findStage(stage))
      names.push_back(t->name());
  if (names.size() == allTargets().size())
    return "";
  return " (" + llvm::join(names, ", ") + ")";
}

std::vector<EmitStageInfo> monocard::allEmitStages() {
  // Merges the targets' lists: a stage new to the list goes just before the
  // next of its target's stages already listed, so the order stays that of
  // the pipelines.
  std::vector<EmitStageInfo> all;
  auto listed = [&](llvm::StringRef name) {
    return llvm::find_if(
        all, [&](const EmitStageInfo &s) { return s.name == name; });
  };
  for (const CompileTarget *t : allTargets()) {
    llvm::ArrayRef<CompileStage> stages = t->stages();
    for (size_t i = 0; i < stages.size(); ++i) {
      if (listed(stages[i].name) != all.end())
        continue;
      auto before = all.end();
      for (size_t j = i + 1; j < stages.size() && before == all.end(); ++j)
        before = listed(stages[j].name);
      all.insert(before, {stages[i].name.str(),
                          stages[i].help.str() + owners(stages[i].name)});
    }
  }
  return all;
}

llvm::Error monocard::runStages(const CompileTarget &target, CompileJob &job,
                                llvm::StringRef last) {
  job.objectPath = last == "obj" ? job.outputPath : job.outputPath + ".o";
  for (const CompileStage &stage : target.stages()) {
    if (llvm::Error e = stage.run(job))
      return e;
    if (stage.name != last)
      continue;
    return stage.emit ? stage.emit(job) : llvm::Error::success();
  }
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "target " + target.name() + " has no stage " +
                                     last);
}
