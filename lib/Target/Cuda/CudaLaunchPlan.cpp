//===- CudaLaunchPlan.cpp - the step functions as launch lists ------------===//
//
// After tfm-plan-memory a CUDA step function is a straight line of
// `gpu.launch_func`s whose operands are views of the four ABI buffers at
// constant byte offsets. That is all the launcher needs to know, so the
// host side of a step is compiled to data: per launch, the kernel, its grid
// and block, and each argument as (buffer, offset). The launcher turns each
// into a cuLaunchKernel parameter array once, and captures the decode list
// into a CUDA graph.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/CudaPipeline.h"
#include "monocard/Target/ModelInfo.h"

#include "monocard/Runtime/Contract.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <optional>

using namespace mlir;
using namespace monocard;
namespace json = llvm::json;
namespace key = monocard::contract::key;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

namespace {

struct ArgRef {
  std::string buffer;
  int64_t offset = 0;
};

/// The ABI buffer and byte offset a launch operand points at.
llvm::Expected<ArgRef> resolve(func::FuncOp fn, Value v) {
  int64_t offset = 0;
  while (true) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (arg.getOwner()->getParentOp() != fn)
        break;
      auto abi = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "tfm.abi");
      if (!abi)
        break;
      return ArgRef{abi.getValue().str(), offset};
    }
    Operation *def = v.getDefiningOp();
    if (auto view = dyn_cast_or_null<memref::ViewOp>(def)) {
      APInt shift;
      if (!matchPattern(view.getByteShift(), m_ConstantInt(&shift)))
        break;
      offset += shift.getSExtValue();
      v = view.getSource();
      continue;
    }
    if (isa_and_nonnull<memref::ExpandShapeOp, memref::CollapseShapeOp,
                        memref::CastOp>(def)) {
      v = def->getOperand(0);
      continue;
    }
    break;
  }
  return fail(llvm::formatv("step '{0}': a launch argument is not a view of "
                            "an ABI buffer at a constant offset",
                            fn.getName()));
}

llvm::Expected<std::array<int64_t, 3>> constants(gpu::KernelDim3 dims) {
  std::array<int64_t, 3> out;
  Value vs[3] = {dims.x, dims.y, dims.z};
  for (int i = 0; i < 3; ++i) {
    APInt c;
    if (!matchPattern(vs[i], m_ConstantInt(&c)))
      return fail("a launch has a dynamic grid or block size");
    out[i] = c.getSExtValue();
  }
  return out;
}

/// The launch's dynamic shared memory in bytes (0 without).
llvm::Expected<int64_t> sharedBytes(gpu::LaunchFuncOp launch) {
  Value v = launch.getDynamicSharedMemorySize();
  if (!v)
    return 0;
  APInt c;
  if (!matchPattern(v, m_ConstantInt(&c)))
    return fail("a launch has a dynamic shared memory size that is not a "
                "constant");
  return c.getSExtValue();
}

/// A persistent launch's grid range (tfm-lower-to-gpu's
/// `monocard.persistent`): blocks per SM, min and max blocks; none: fixed.
std::optional<std::array<int64_t, 3>> persistent(gpu::LaunchFuncOp launch) {
  auto attr = launch->getAttrOfType<DictionaryAttr>("monocard.persistent");
  if (!attr)
    return std::nullopt;
  std::array<int64_t, 3> out{};
  const char *keys[] = {key::kBlocksPerSm, key::kMinBlocks, key::kMaxBlocks};
  for (int i = 0; i < 3; ++i)
    if (auto v = attr.getAs<IntegerAttr>(keys[i]))
      out[i] = v.getInt();
  return out;
}

SmallVector<func::FuncOp> steps(ModuleOp module) {
  SmallVector<func::FuncOp> out;
  for (auto fn : module.getOps<func::FuncOp>())
    if (fn.getName() == "prefill" || fn.getName() == "decode")
      out.push_back(fn);
  return out;
}

} // namespace

llvm::Expected<std::string> monocard::buildCudaModelInfoJson(
    ModuleOp module, const CudaTargetOptions &options, bool haveCubin) {
  llvm::Expected<std::string> base = buildModelInfoJson(module, "cuda");
  if (!base)
    return base.takeError();
  llvm::Expected<json::Value> parsed = json::parse(*base);
  if (!parsed)
    return parsed.takeError();
  auto ioAttr = module->getAttrOfType<DictionaryAttr>("tfm.io");
  if (!ioAttr)
    return fail("module has no tfm.io; run tfm-lower-to-gpu");
  auto ioGet = [&](StringRef key) {
    auto a = ioAttr.getAs<IntegerAttr>(key);
    return a ? a.getInt() : 0;
  };
  contract::IoLayout layout;
  layout.bytes = ioGet("bytes");
  layout.logits = ioGet("logits");
  layout.tokens = ioGet("tokens");
  layout.scalars = ioGet("scalars");
  json::Object io{{key::kIoBytes, layout.bytes},
                  {key::kIoLogits, layout.logits},
                  {key::kIoTokens, layout.tokens}};
  for (const contract::ScalarKey &s : contract::kScalarKeys)
    io[s.Key] = layout.scalar(s.Slot);

  json::Array kernelNames;
  llvm::StringMap<int64_t> kernelIndex;
  json::Object stepsJson;
  for (func::FuncOp fn : steps(module)) {
    json::Array launches;
    for (Operation &op : fn.getBody().front()) {
      auto launch = dyn_cast<gpu::LaunchFuncOp>(op);
      if (!launch)
        continue;
      StringRef name = launch.getKernelName().getValue();
      auto [it, inserted] = kernelIndex.try_emplace(name, kernelIndex.size());
      if (inserted)
        kernelNames.push_back(name.str());
      auto grid = constants(launch.getGridSizeOperandValues());
      auto block = constants(launch.getBlockSizeOperandValues());
      if (!grid)
        return grid.takeError();
      if (!block)
        return block.takeError();
      auto smem = sharedBytes(launch);
      if (!smem)
        return smem.takeError();
      json::Array args;
      for (Value operand : launch.getKernelOperands()) {
        llvm::Expected<ArgRef> ref = resolve(fn, operand);
        if (!ref)
          return ref.takeError();
        args.push_back(json::Object{{key::kBuffer, ref->buffer},
                                    {key::kOffset, ref->offset}});
      }
      json::Object entry{
          {key::kKernel, it->second},
          {key::kGrid, json::Array{(*grid)[0], (*grid)[1], (*grid)[2]}},
          {key::kBlock, json::Array{(*block)[0], (*block)[1], (*block)[2]}},
          {key::kSmem, *smem},
          {key::kArgs, std::move(args)}};
      if (auto p = persistent(launch))
        entry[key::kPersistent] = json::Object{{key::kBlocksPerSm, (*p)[0]},
                                               {key::kMinBlocks, (*p)[1]},
                                               {key::kMaxBlocks, (*p)[2]}};
      launches.push_back(std::move(entry));
    }
    stepsJson[fn.getName()] = std::move(launches);
  }
  json::Object cuda{{key::kPtxArch, options.ptxChip},
                    {key::kCubinArch, haveCubin ? options.cubinChip : ""},
                    {key::kIo, std::move(io)},
                    {key::kKernels, std::move(kernelNames)},
                    {key::kSteps, std::move(stepsJson)}};
  json::Object *info = parsed->getAsObject();
  (*info)[key::kCuda] = std::move(cuda);
  std::string out;
  llvm::raw_string_ostream os(out);
  os << json::Value(std::move(*info));
  return out;
}

llvm::Expected<std::string> monocard::describeKernels(ModuleOp module) {
  std::string out;
  llvm::raw_string_ostream os(out);
  for (func::FuncOp fn : steps(module)) {
    SmallVector<gpu::LaunchFuncOp> launches;
    fn.walk([&](gpu::LaunchFuncOp op) { launches.push_back(op); });
    os << fn.getName() << ": " << launches.size() << " kernel launches\n";
    for (gpu::LaunchFuncOp op : launches) {
      auto grid = constants(op.getGridSizeOperandValues());
      auto block = constants(op.getBlockSizeOperandValues());
      if (!grid)
        return grid.takeError();
      if (!block)
        return block.takeError();
      auto smem = sharedBytes(op);
      if (!smem)
        return smem.takeError();
      os << llvm::formatv("  {0} grid ({1},{2},{3}) block ({4},{5},{6})",
                          op.getKernelName().getValue(), (*grid)[0], (*grid)[1],
                          (*grid)[2], (*block)[0], (*block)[1], (*block)[2]);
      if (*smem)
        os << " smem " << *smem;
      if (auto p = persistent(op))
        os << llvm::formatv(" persistent {0}/SM {1}..{2}", (*p)[0], (*p)[1],
                            (*p)[2]);
      os << "\n";
    }
  }
  return out;
}
