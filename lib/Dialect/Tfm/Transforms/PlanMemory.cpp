//===- PlanMemory.cpp - pack a step's buffers into one arena --------------===//
//
// `tfm-plan-memory`: after one-shot bufferization, every `memref.alloc` of a
// step function gets a live interval over the function's top-level block and
// a static offset in one activation arena (MemoryPlan.h does the placement).
// Each alloc becomes a `memref.view` of the argument marked
// `{tfm.abi = "arena"}`, which is retyped to `memref<Nxi8>`; the plan is
// recorded as `tfm.memplan`. See docs/memory-plan.md.
//
//===----------------------------------------------------------------------===//

#include "monocard/Dialect/Tfm/Transforms/MemoryPlan.h"
#include "monocard/Dialect/Tfm/Transforms/Passes.h"
#include "monocard/Frontend/CheckedSize.h"
#include "monocard/Runtime/Contract.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace monocard::tfm {
#define GEN_PASS_DEF_TFMPLANMEMORY
#include "monocard/Dialect/Tfm/Transforms/Passes.h.inc"
} // namespace monocard::tfm

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kAbiAttr = "tfm.abi";
constexpr const char *kArenaAbi =
    monocard::contract::abiBufferName(monocard::contract::AbiBuffer::Arena);
constexpr llvm::StringLiteral kMemPlanAttr = "tfm.memplan";

/// Bytes of one element: integers and floats round their width up to whole
/// bytes (i1 takes one), `index` is 64-bit, a vector is its elements packed.
std::optional<int64_t> elementBytes(Type type) {
  if (isa<IndexType>(type))
    return 8;
  if (type.isIntOrFloat())
    return (int64_t(type.getIntOrFloatBitWidth()) + 7) / 8;
  if (auto vec = dyn_cast<VectorType>(type)) {
    if (vec.isScalable())
      return std::nullopt;
    std::optional<int64_t> elt = elementBytes(vec.getElementType());
    if (!elt)
      return std::nullopt;
    return *elt * vec.getNumElements();
  }
  return std::nullopt;
}

bool isBufferLike(Type type) { return isa<BaseMemRefType, TensorType>(type); }

/// One planned buffer: the alloc, its byte size, where it is live (positions
/// in the top-level block, closed interval) and the deallocs to erase.
struct Buffer {
  memref::AllocOp alloc;
  int64_t bytes = 0;
  int64_t start = 0;
  int64_t end = 0;
  SmallVector<Operation *> deallocs;
};

struct TfmPlanMemoryPass
    : public monocard::tfm::impl::TfmPlanMemoryBase<TfmPlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// Checks one top-level alloc and sizes it; emits an error and returns
  /// nullopt when it cannot be planned.
  std::optional<int64_t> sizeAlloc(memref::AllocOp alloc);

  /// Fills `buffer`'s interval by following every alias of the alloc's
  /// result; emits an error and fails if the buffer escapes.
  LogicalResult computeInterval(Block &body,
                                const DenseMap<Operation *, int64_t> &position,
                                Buffer &buffer);

  // The stages of runOnOperation, in order; each emits its own errors.
  /// The top-level allocs in program order; fails on a nested one.
  FailureOr<SmallVector<memref::AllocOp>> collectAllocs(func::FuncOp func);
  /// The index of the argument marked {tfm.abi = "arena"}; nullopt (and no
  /// error) when there is none and nothing to plan.
  FailureOr<std::optional<unsigned>> findArena(func::FuncOp func,
                                               bool haveAllocs);
  /// Sizes every alloc and fills its live interval.
  FailureOr<SmallVector<Buffer>> measureBuffers(ArrayRef<memref::AllocOp> allocs,
                                                MemRefType arenaType,
                                                Block &body);
  /// Sizes the arena argument to the plan.
  void retypeArena(func::FuncOp func, unsigned arenaIndex, int64_t bytes);
  /// Allocs become views of the arena at their offsets; deallocs go.
  void rewriteAllocs(ArrayRef<Buffer> buffers,
                     const monocard::memplan::MemoryPlan &plan, Value arena);
  /// The plan as the function's tfm.memplan attribute.
  void recordPlan(func::FuncOp func, ArrayRef<Buffer> buffers,
                  const monocard::memplan::MemoryPlan &plan);
};

std::optional<int64_t> TfmPlanMemoryPass::sizeAlloc(memref::AllocOp alloc) {
  MemRefType type = alloc.getType();
  if (!type.hasStaticShape()) {
    alloc.emitOpError("cannot plan a dynamically shaped buffer ") << type;
    return std::nullopt;
  }
  if (!type.getLayout().isIdentity()) {
    alloc.emitOpError("cannot plan a buffer with a non-identity layout ")
        << type;
    return std::nullopt;
  }
  std::optional<int64_t> elt = elementBytes(type.getElementType());
  if (!elt) {
    alloc.emitOpError("cannot plan a buffer of element type ")
        << type.getElementType();
    return std::nullopt;
  }
  if (std::optional<uint64_t> align = alloc.getAlignment();
      align && int64_t(*align) > alignment) {
    alloc.emitOpError("requests alignment ")
        << *align << " but the arena aligns buffers to " << alignment.getValue()
        << "; raise the pass's `alignment` option";
    return std::nullopt;
  }
  // Static shapes come from user IR: a product past int64 must be an error,
  // not a wrapped (small or negative) size that the plan then trusts.
  std::optional<int64_t> numel = monocard::checkedProduct(type.getShape());
  std::optional<int64_t> bytes =
      numel ? monocard::checkedProduct({*numel, *elt}) : std::nullopt;
  if (!bytes)
    alloc.emitOpError("buffer ") << type << " overflows 64-bit sizes";
  return bytes;
}

LogicalResult TfmPlanMemoryPass::computeInterval(
    Block &body, const DenseMap<Operation *, int64_t> &position,
    Buffer &buffer) {
  memref::AllocOp alloc = buffer.alloc;
  const int64_t allocPos = position.lookup(alloc);
  int64_t first = -1, last = -1;
  auto noteUse = [&](Operation *user) {
    Operation *ancestor = body.findAncestorOpInBlock(*user);
    assert(ancestor && "a use outside the function body");
    int64_t pos = position.lookup(ancestor);
    first = first < 0 ? pos : std::min(first, pos);
    last = std::max(last, pos);
  };
  auto escape = [&](Operation *user) {
    InFlightDiagnostic diag = alloc.emitOpError(
        "buffer escapes the step function and cannot live in the arena");
    diag.attachNote(user->getLoc())
        << "escapes through this '" << user->getName() << "'";
    return failure();
  };

  // Every value that may point into the buffer: the alloc's result, then
  // transitively any buffer-typed result of an op that takes an alias (views,
  // casts, region ops that yield it, ...), block arguments an alias flows
  // into, and the results of a region op whose region yields an alias. This
  // over-approximates ViewLikeOpInterface on purpose: a longer interval is
  // safe, a shorter one is not.
  SmallVector<Value> worklist{alloc.getResult()};
  DenseSet<Value> aliases{alloc.getResult()};
  auto addAlias = [&](Value v) {
    if (isBufferLike(v.getType()) && aliases.insert(v).second)
      worklist.push_back(v);
  };
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (OpOperand &use : value.getUses()) {
      Operation *user = use.getOwner();
      if (isa<memref::DeallocOp>(user)) {
        buffer.deallocs.push_back(user);
        continue;
      }
      if (isa<func::ReturnOp>(user))
        return escape(user);
      if (auto store = dyn_cast<memref::StoreOp>(user);
          store && store.getValueToStore() == value)
        return escape(user);
      if (user->getName().getStringRef() == "bufferization.dealloc") {
        alloc.emitOpError("is freed by 'bufferization.dealloc'; run "
                          "tfm-plan-memory instead of the buffer "
                          "deallocation pipeline")
                .attachNote(user->getLoc())
            << "freed here";
        return failure();
      }
      noteUse(user);
      for (Value result : user->getResults())
        addAlias(result);
      // memref.extract_aligned_pointer_as_index: the pointer as an integer.
      if (isa<memref::ExtractAlignedPointerAsIndexOp>(user))
        for (Value result : user->getResults())
          if (aliases.insert(result).second)
            worklist.push_back(result);
      for (Region &region : user->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            addAlias(arg);
      for (Block *successor : user->getSuccessors())
        for (BlockArgument arg : successor->getArguments())
          addAlias(arg);
      if (user->hasTrait<OpTrait::IsTerminator>() &&
          user->getParentOp() != getOperation())
        for (Value result : user->getParentOp()->getResults())
          addAlias(result);
    }
  }
  if (first < 0)
    first = last = allocPos; // never used: live at its alloc only
  buffer.start = first;
  buffer.end = last;
  return success();
}

FailureOr<SmallVector<memref::AllocOp>>
TfmPlanMemoryPass::collectAllocs(func::FuncOp func) {
  Region &region = func.getBody();
  bool ok = true;
  SmallVector<memref::AllocOp> allocs;
  func.walk<WalkOrder::PreOrder>([&](memref::AllocOp alloc) {
    if (alloc->getParentRegion() != &region) {
      alloc.emitOpError(
          "inside a loop or region cannot be planned; hoist it first");
      ok = false;
      return;
    }
    allocs.push_back(alloc);
  });
  if (!allocs.empty() && !region.hasOneBlock()) {
    func.emitError("cannot plan a step function with more than one block; "
                   "plan memory before lowering to unstructured control flow");
    return failure();
  }
  if (!ok)
    return failure();
  return allocs;
}

FailureOr<std::optional<unsigned>>
TfmPlanMemoryPass::findArena(func::FuncOp func, bool haveAllocs) {
  std::optional<unsigned> arenaIndex;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    auto abi = func.getArgAttrOfType<StringAttr>(i, kAbiAttr);
    if (!abi || abi.getValue() != kArenaAbi)
      continue;
    if (arenaIndex) {
      func.emitError("step function has more than one argument marked "
                     "{tfm.abi = \"arena\"}: #")
          << *arenaIndex << " and #" << i;
      return failure();
    }
    arenaIndex = i;
  }
  if (!arenaIndex) {
    if (!haveAllocs)
      return std::optional<unsigned>(); // not a step function
    func.emitError("step function has no argument marked "
                   "{tfm.abi = \"arena\"}");
    return failure();
  }
  BlockArgument arena = func.getArgument(*arenaIndex);
  auto arenaType = dyn_cast<MemRefType>(arena.getType());
  if (!arenaType || arenaType.getRank() != 1 ||
      !arenaType.getElementType().isInteger(8) ||
      !arenaType.getLayout().isIdentity()) {
    func.emitError("the arena argument must be a 1-D memref of i8 with an "
                   "identity layout, got ")
        << arena.getType();
    return failure();
  }
  return arenaIndex;
}

/// "the default memory space" or "memory space <attr>".
static std::string describeMemorySpace(Attribute space) {
  if (!space)
    return "the default memory space";
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "memory space " << space;
  return text;
}

FailureOr<SmallVector<Buffer>>
TfmPlanMemoryPass::measureBuffers(ArrayRef<memref::AllocOp> allocs,
                                  MemRefType arenaType, Block &body) {
  bool ok = true;
  SmallVector<Buffer> buffers;
  // The planner adds aligned sizes into offsets and the arena's size: bound
  // their sum (plus one alignment of slack per buffer) so none of it wraps.
  std::optional<int64_t> total = 0;
  for (memref::AllocOp alloc : allocs) {
    std::optional<int64_t> bytes = sizeAlloc(alloc);
    if (!bytes) {
      ok = false;
      continue;
    }
    if (total && (llvm::AddOverflow(*total, *bytes, *total) ||
                  llvm::AddOverflow(*total, alignment.getValue(), *total)))
      total.reset();
    if (!total) {
      alloc.emitOpError("brings the buffers' total past 64-bit sizes");
      ok = false;
      break;
    }
    if (alloc.getType().getMemorySpace() != arenaType.getMemorySpace()) {
      alloc.emitOpError("is in ")
          << describeMemorySpace(alloc.getType().getMemorySpace())
          << " but the arena is in "
          << describeMemorySpace(arenaType.getMemorySpace());
      ok = false;
      continue;
    }
    Buffer buffer;
    buffer.alloc = alloc;
    buffer.bytes = *bytes;
    buffers.push_back(std::move(buffer));
  }
  if (!ok)
    return failure();

  // Liveness over the top-level block.
  DenseMap<Operation *, int64_t> position;
  int64_t next = 0;
  for (Operation &op : body)
    position[&op] = next++;
  for (Buffer &buffer : buffers)
    if (failed(computeInterval(body, position, buffer)))
      ok = false;
  if (!ok)
    return failure();
  return buffers;
}

void TfmPlanMemoryPass::retypeArena(func::FuncOp func, unsigned arenaIndex,
                                    int64_t bytes) {
  BlockArgument arena = func.getArgument(arenaIndex);
  auto arenaType = cast<MemRefType>(arena.getType());
  MLIRContext *ctx = func.getContext();
  auto newArenaType =
      MemRefType::get({bytes}, IntegerType::get(ctx, 8),
                      MemRefLayoutAttrInterface{}, arenaType.getMemorySpace());
  if (newArenaType == arenaType)
    return;
  // Earlier uses of the arena keep their type through a cast.
  SmallVector<OpOperand *> oldUses;
  for (OpOperand &use : arena.getUses())
    oldUses.push_back(&use);
  arena.setType(newArenaType);
  if (!oldUses.empty()) {
    OpBuilder builder(ctx);
    builder.setInsertionPointToStart(&func.getBody().front());
    Value cast =
        memref::CastOp::create(builder, arena.getLoc(), arenaType, arena);
    for (OpOperand *use : oldUses)
      use->set(cast);
  }
  SmallVector<Type> inputs(func.getArgumentTypes());
  inputs[arenaIndex] = newArenaType;
  func.setFunctionType(FunctionType::get(ctx, inputs, func.getResultTypes()));
}

void TfmPlanMemoryPass::rewriteAllocs(
    ArrayRef<Buffer> buffers, const monocard::memplan::MemoryPlan &plan,
    Value arena) {
  // Each dealloc goes once: a dealloc of a value that may alias two buffers
  // is listed by both.
  DenseSet<Operation *> deallocs;
  for (const Buffer &buffer : buffers)
    deallocs.insert(buffer.deallocs.begin(), buffer.deallocs.end());
  for (Operation *dealloc : deallocs)
    dealloc->erase();
  OpBuilder builder(arena.getContext());
  for (auto [buffer, placement] : llvm::zip_equal(buffers, plan.buffers)) {
    memref::AllocOp alloc = buffer.alloc;
    builder.setInsertionPoint(alloc);
    Value offset = arith::ConstantIndexOp::create(builder, alloc.getLoc(),
                                                  placement.offset);
    Value view = memref::ViewOp::create(
        builder, alloc.getLoc(), alloc.getType(), arena, offset, ValueRange{});
    alloc.getResult().replaceAllUsesWith(view);
    alloc.erase();
  }
}

void TfmPlanMemoryPass::recordPlan(func::FuncOp func, ArrayRef<Buffer> buffers,
                                   const monocard::memplan::MemoryPlan &plan) {
  Builder b(func.getContext());
  SmallVector<Attribute> bufferAttrs;
  for (auto [buffer, placement] : llvm::zip_equal(buffers, plan.buffers))
    bufferAttrs.push_back(b.getDictionaryAttr({
        b.getNamedAttr("offset", b.getI64IntegerAttr(placement.offset)),
        b.getNamedAttr("size", b.getI64IntegerAttr(placement.size)),
        b.getNamedAttr("start", b.getI64IntegerAttr(buffer.start)),
        b.getNamedAttr("end", b.getI64IntegerAttr(buffer.end)),
    }));
  func->setAttr(
      kMemPlanAttr,
      b.getDictionaryAttr({
          b.getNamedAttr("arena_bytes", b.getI64IntegerAttr(plan.arenaBytes)),
          b.getNamedAttr("lower_bound", b.getI64IntegerAttr(plan.lowerBound)),
          b.getNamedAttr("naive_bytes", b.getI64IntegerAttr(plan.naiveBytes)),
          b.getNamedAttr("buffers", b.getArrayAttr(bufferAttrs)),
      }));
}

void TfmPlanMemoryPass::runOnOperation() {
  func::FuncOp func = getOperation();
  // Declarations have nothing to plan; a planned step is not planned again
  // (its arena is already sized and its buffers are views of it).
  if (func.isExternal() || func->hasAttr(kMemPlanAttr))
    return;
  if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
    func.emitError("tfm-plan-memory: alignment must be a positive power of "
                   "two, got ")
        << alignment.getValue();
    return signalPassFailure();
  }
  // Every stage reports its own errors; a nested alloc is reported even
  // when the function turns out to have no arena.
  FailureOr<SmallVector<memref::AllocOp>> allocs = collectAllocs(func);
  FailureOr<std::optional<unsigned>> arenaIndex =
      findArena(func, failed(allocs) || !allocs->empty());
  if (failed(allocs) || failed(arenaIndex))
    return signalPassFailure();
  if (!*arenaIndex)
    return; // not a step function: nothing to plan
  Value arena = func.getArgument(**arenaIndex);
  FailureOr<SmallVector<Buffer>> buffers = measureBuffers(
      *allocs, cast<MemRefType>(arena.getType()), func.getBody().front());
  if (failed(buffers))
    return signalPassFailure();

  std::vector<monocard::memplan::BufferRequest> requests;
  for (const Buffer &buffer : *buffers)
    requests.push_back({buffer.bytes, buffer.start, buffer.end});
  monocard::memplan::MemoryPlan plan =
      monocard::memplan::planMemory(requests, alignment);
  std::string problem =
      monocard::memplan::verifyMemoryPlan(requests, plan, alignment);
  if (!problem.empty()) {
    func.emitError("tfm-plan-memory produced an invalid plan: ") << problem;
    return signalPassFailure();
  }
  retypeArena(func, **arenaIndex, plan.arenaBytes);
  rewriteAllocs(*buffers, plan, arena);
  recordPlan(func, *buffers, plan);
}

} // namespace
