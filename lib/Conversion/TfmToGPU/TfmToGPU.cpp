//===- TfmToGPU.cpp - tfm step functions -> launches of CUDA kernels ------===//
//
// Each step function becomes a straight-line host function of
// `gpu.launch_func`s over the device ABI (docs/runtime-abi.md, "CUDA"):
//
//   func.func @decode(%weights: memref<Wxi8> {tfm.abi = "weights"},
//                     %kv: memref<Kxi8> {tfm.abi = "kv"},
//                     %arena: memref<?xi8> {tfm.abi = "arena"},
//                     %io: memref<IOxi8> {tfm.abi = "io"})
//
// Tensors become flat memrefs: parameters and the KV cache are views of
// their buffers, step inputs and outputs views of the I/O buffer, and every
// intermediate a `memref.alloc` that tfm-plan-memory later places in the
// arena. Reshapes are free (the buffers are flat). Each compute op becomes
// one launch of a kernel from the CUDA kernel library
// (monocard/Target/Cuda/Kernels/KernelLibrary.h), and a final launch samples
// the next token on the device.
//
//===----------------------------------------------------------------------===//

#include "monocard/Conversion/Passes.h"
#include "monocard/Dialect/Tfm/IR/TfmOps.h"

#include "monocard/Runtime/Contract.h"

#include "../StepBuffers.h"
#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"

namespace monocard {
#define GEN_PASS_DEF_TFMLOWERTOGPU
#include "monocard/Conversion/Passes.h.inc"
} // namespace monocard

using namespace mlir;
using namespace monocard;
using namespace monocard::gpu_kernels;
namespace tfm = monocard::tfm;

namespace {

/// Where a step's inputs and outputs live in the I/O buffer: the
/// compiler-runtime contract's layout, which the launcher allocates.
using IoLayout = contract::IoLayout;

int64_t numElements(Value v) {
  return cast<ShapedType>(v.getType()).getNumElements();
}
Type elementType(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

class GpuStepLowering {
public:
  GpuStepLowering(func::FuncOp fn, KernelLibrary &lib,
                  const StepBuffers &stepBuffers, IoLayout io)
      : old(fn), lib(lib), b(fn.getContext()), offsets(stepBuffers.offsets),
        scaleOffsets(stepBuffers.scaleOffsets),
        weightsBytes(stepBuffers.weightsBytes),
        kvBytes(stepBuffers.kvBytes), io(io) {}

  LogicalResult run();

private:
  /// Lowers one op of the step function: a view for a param or a KV cache,
  /// one kernel launch for a compute op (one lowerX per kind), nothing for
  /// a reshape.
  LogicalResult lower(Operation *op);
  LogicalResult lowerParam(tfm::ParamOp p);
  LogicalResult lowerKvCache(tfm::KvCacheOp c);
  LogicalResult lowerKvAppend(tfm::KvAppendOp a);
  LogicalResult lowerEmbedding(tfm::EmbeddingOp e);
  LogicalResult lowerRmsNorm(tfm::RmsNormOp n);
  /// Float weights: the plain GEMV/GEMM; quantized: the fused kernels.
  LogicalResult lowerLinear(tfm::LinearOp l);
  LogicalResult lowerFusedLinear(tfm::FusedLinearOp f);
  LogicalResult lowerFusedQkv(tfm::FusedQkvOp f);
  LogicalResult lowerRope(tfm::RopeOp r);
  LogicalResult lowerAttention(tfm::AttentionOp at);
  /// `result` = kind(a[, c]); `c` null for the unary kinds.
  LogicalResult lowerElementwise(Operation *op, ElementwiseKind kind, Value a,
                                 Value c, Value result);
  LogicalResult lowerReshape(Operation *op);
  /// Whole rows of a 2-d tensor, at a constant or n_valid - c offset.
  LogicalResult lowerExtractSlice(tensor::ExtractSliceOp s);
  Value view(Value base, int64_t offset, int64_t n, Type t);
  /// The buffer an op writes `result` into: the logits view for the step's
  /// result, else a new (arena-planned) alloc.
  Value output(Value result);
  Value buffer(Operation *op, Value tensor);
  void launch(const KernelLaunch &k, ValueRange args);
  LogicalResult checkPosition(Operation *op, Value pos);
  /// The operands every linear kernel shares, in LinearSpec's argument
  /// order: x, W (or a quantized weight's code and parameter planes), then
  /// bias, norm weight and residual where given; fills the spec's shapes
  /// and types to match.
  LogicalResult linearOperands(Operation *op, Value input, Value weight,
                               Value bias, Value normWeight, Value residual,
                               std::optional<APFloat> eps, LinearSpec &spec,
                               SmallVectorImpl<Value> &args);
  /// Launches the fused linear kernel of `spec` over `args`.
  LogicalResult launchLinear(Operation *op, const LinearSpec &spec,
                             ValueRange args);

  func::FuncOp old, fn;
  KernelLibrary &lib;
  OpBuilder b;
  DictionaryAttr offsets, scaleOffsets;
  int64_t weightsBytes, kvBytes;
  IoLayout io;
  Location loc = UnknownLoc::get(old.getContext());
  Value weights, kv, ioBuf, scalars, logits, tokens;
  Value posArg, nValidArg, returned;
  DenseMap<Value, Value> buffers;
  llvm::StringMap<Value> paramViews;
  /// A quantized param's code-plane view -> its parameter-plane view.
  DenseMap<Value, Value> scalePlanes;
};

Value GpuStepLowering::view(Value base, int64_t offset, int64_t n, Type t) {
  Value shift = arith::ConstantIndexOp::create(b, loc, offset);
  return memref::ViewOp::create(b, loc, KernelLibrary::flat(n, t), base, shift,
                                ValueRange{});
}

Value GpuStepLowering::output(Value result) {
  if (result == returned)
    return logits;
  return memref::AllocOp::create(
      b, loc, KernelLibrary::flat(numElements(result), elementType(result)));
}

Value GpuStepLowering::buffer(Operation *op, Value tensor) {
  Value m = buffers.lookup(tensor);
  if (!m)
    op->emitOpError() << "operand was not produced by an op the CUDA "
                         "lowering understands";
  return m;
}

void GpuStepLowering::launch(const KernelLaunch &k, ValueRange args) {
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  gpu::KernelDim3 grid{c(k.grid[0]), c(k.grid[1]), c(k.grid[2])};
  gpu::KernelDim3 block{c(k.block[0]), c(k.block[1]), c(k.block[2])};
  Value shared;
  if (k.sharedBytes > 0)
    shared = arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                          k.sharedBytes);
  auto op =
      gpu::LaunchFuncOp::create(b, loc, k.func, grid, block, shared, args);
  // The launcher sizes this grid from the device (docs/runtime-abi.md).
  if (k.persistent)
    op->setAttr(
        "monocard.persistent",
        b.getDictionaryAttr(
            {b.getNamedAttr(contract::key::kBlocksPerSm,
                            b.getI64IntegerAttr(k.persistent.blocksPerSM)),
             b.getNamedAttr(contract::key::kMinBlocks,
                            b.getI64IntegerAttr(k.persistent.minBlocks)),
             b.getNamedAttr(contract::key::kMaxBlocks,
                            b.getI64IntegerAttr(k.persistent.maxBlocks))}));
}

LogicalResult GpuStepLowering::checkPosition(Operation *op, Value pos) {
  if (pos == posArg)
    return success();
  return op->emitOpError()
         << "position must be the step function's position argument for the "
            "CUDA target (it is read on the device)";
}

LogicalResult GpuStepLowering::linearOperands(
    Operation *op, Value input, Value weight, Value bias, Value normWeight,
    Value residual, std::optional<APFloat> eps, LinearSpec &spec,
    SmallVectorImpl<Value> &args) {
  Value x = buffer(op, input), w = buffer(op, weight);
  if (!x || !w)
    return failure();
  args.append({x, w});
  auto shape = cast<ShapedType>(weight.getType());
  spec.n = shape.getDimSize(0);
  spec.k = shape.getDimSize(1);
  spec.xT = elementType(x);
  spec.m = numElements(x) / spec.k;
  if (auto q = dyn_cast<tfm::QWeightType>(weight.getType())) {
    spec.quant.bits = q.getBits();
    spec.quant.group = q.getGroupSize();
    spec.quant.scaleT = q.getScaleType();
    spec.quant.rowBytes = q.getRowBytes();
    args.push_back(scalePlanes.lookup(w));
  } else {
    spec.wT = elementType(w);
  }
  for (auto [operand, type] :
       {std::pair(bias, &spec.biasT), std::pair(normWeight, &spec.normT),
        std::pair(residual, &spec.residualT)}) {
    if (!operand)
      continue;
    Value m = buffer(op, operand);
    if (!m)
      return failure();
    *type = elementType(m);
    args.push_back(m);
  }
  if (spec.normT)
    spec.eps = eps ? eps->convertToDouble() : 0.0;
  return success();
}

LogicalResult GpuStepLowering::launchLinear(Operation *op,
                                            const LinearSpec &spec,
                                            ValueRange args) {
  std::string why = KernelLibrary::linearUnsupported(spec);
  if (!why.empty())
    return op->emitOpError() << why;
  KernelLaunch kernel = lib.fusedLinear(spec);
  if (!kernel.func)
    return op->emitOpError()
           << "has no CUDA kernel for " << spec.m << " rows of " << spec.n
           << "x" << spec.k << " weights yet (the fused prefill GEMM)";
  launch(kernel, args);
  return success();
}

LogicalResult GpuStepLowering::lower(Operation *op) {
  loc = op->getLoc();
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](tfm::ParamOp p) { return lowerParam(p); })
      .Case([&](tfm::KvCacheOp c) { return lowerKvCache(c); })
      .Case([&](tfm::KvAppendOp a) { return lowerKvAppend(a); })
      .Case([&](tfm::EmbeddingOp e) { return lowerEmbedding(e); })
      .Case([&](tfm::RmsNormOp n) { return lowerRmsNorm(n); })
      .Case([&](tfm::LinearOp l) { return lowerLinear(l); })
      .Case([&](tfm::FusedLinearOp f) { return lowerFusedLinear(f); })
      .Case([&](tfm::FusedQkvOp f) { return lowerFusedQkv(f); })
      .Case([&](tfm::RopeOp r) { return lowerRope(r); })
      .Case([&](tfm::AttentionOp a) { return lowerAttention(a); })
      .Case([&](tfm::AddOp a) {
        return lowerElementwise(op, ElementwiseKind::Add, a.getLhs(),
                                a.getRhs(), a.getResult());
      })
      .Case([&](tfm::MulOp m) {
        return lowerElementwise(op, ElementwiseKind::Mul, m.getLhs(),
                                m.getRhs(), m.getResult());
      })
      .Case([&](tfm::SiluOp s) {
        return lowerElementwise(op, ElementwiseKind::Silu, s.getInput(),
                                Value(), s.getResult());
      })
      .Case([&](tfm::SwigluOp s) {
        return lowerElementwise(op, ElementwiseKind::SwiGlu, s.getGate(),
                                s.getUp(), s.getResult());
      })
      .Case<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(
          [&](Operation *) { return lowerReshape(op); })
      .Case([&](tensor::ExtractSliceOp s) { return lowerExtractSlice(s); })
      .Case([&](func::ReturnOp) { return success(); })
      .Default([&](Operation *) -> LogicalResult {
        // Index arithmetic feeding a slice offset was matched where it is
        // used.
        if (isa<arith::ConstantOp, arith::SubIOp, arith::AddIOp>(op) &&
            llvm::all_of(op->getResultTypes(),
                         [](Type t) { return isa<IndexType>(t); }))
          return success();
        return op->emitOpError() << "has no lowering to the CUDA target";
      });
}

LogicalResult GpuStepLowering::lowerParam(tfm::ParamOp p) {
  StringRef name = p.getName();
  Value &v = paramViews[name];
  if (!v) {
    auto offset = offsets.getAs<IntegerAttr>(name);
    if (!offset)
      return p.emitOpError()
             << "has no packed offset; run tfm-layout-weights first";
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointAfterValue(ioBuf);
    if (auto q = dyn_cast<tfm::QWeightType>(p.getType())) {
      // Two planes: the codes as bytes, then the (scale, zero) pairs.
      auto scales = scaleOffsets.getAs<IntegerAttr>(name);
      if (!scales)
        return p.emitOpError() << "is quantized but the packing recipe has "
                                  "no parameter plane for it; run "
                                  "tfm-layout-weights on the quantized IR";
      v = view(weights, offset.getInt(), q.getDataBytes(),
               IntegerType::get(p.getContext(), 8));
      scalePlanes[v] =
          view(weights, scales.getInt(), q.getNumRows() * q.getNumGroups() * 2,
               q.getScaleType());
    } else {
      v = view(weights, offset.getInt(), numElements(p), elementType(p));
    }
  }
  buffers[p] = v;
  return success();
}

LogicalResult GpuStepLowering::lowerKvCache(tfm::KvCacheOp c) {
  int64_t bytes = numElements(c) * elementType(c).getIntOrFloatBitWidth() / 8;
  int64_t offset = kvCacheOffset(c);
  if (offset + bytes > kvBytes)
    return c.emitOpError() << "layer " << c.getLayer()
                           << " lies outside the KV cache";
  buffers[c] = view(kv, offset, numElements(c), elementType(c));
  return success();
}

LogicalResult GpuStepLowering::lowerKvAppend(tfm::KvAppendOp a) {
  Operation *op = a;
  if (failed(checkPosition(op, a.getPosition())))
    return failure();
  auto rows = a.getRows().getType();
  auto cache = a.getCache().getType();
  Value r = buffer(op, a.getRows()), c = buffer(op, a.getCache());
  if (!r || !c)
    return failure();
  launch(lib.kvAppend(rows.getDimSize(0), rows.getDimSize(1),
                      rows.getDimSize(2), cache.getDimSize(1),
                      elementType(a.getRows()), elementType(a.getCache())),
         {r, c, scalars});
  buffers[a.getResult()] = c;
  return success();
}

LogicalResult GpuStepLowering::lowerEmbedding(tfm::EmbeddingOp e) {
  if (e.getIds() != old.getArgument(0))
    return e.emitOpError() << "ids must be the step function's token argument";
  auto table = e.getTable().getType();
  Value t = buffer(e, e.getTable());
  if (!t)
    return failure();
  Value out = output(e.getResult());
  launch(lib.embedding(table.getDimSize(0), table.getDimSize(1),
                       numElements(e.getIds()), elementType(e.getTable()),
                       elementType(out)),
         {t, tokens, out});
  buffers[e.getResult()] = out;
  return success();
}

LogicalResult GpuStepLowering::lowerRmsNorm(tfm::RmsNormOp n) {
  auto xt = n.getInput().getType();
  int64_t hidden = xt.getDimSize(xt.getRank() - 1);
  Value x = buffer(n, n.getInput()), w = buffer(n, n.getWeight());
  if (!x || !w)
    return failure();
  Value out = output(n.getResult());
  launch(lib.rmsNorm(numElements(x) / hidden, hidden,
                     n.getEps().convertToDouble(), elementType(x),
                     elementType(w), elementType(out)),
         {x, w, out});
  buffers[n.getResult()] = out;
  return success();
}

LogicalResult GpuStepLowering::lowerLinear(tfm::LinearOp l) {
  Operation *op = l;
  if (isa<tfm::QWeightType>(l.getWeight().getType())) {
    // Quantized weights: the fused kernels, with nothing fused.
    LinearSpec spec;
    SmallVector<Value> args;
    if (failed(linearOperands(op, l.getInput(), l.getWeight(), l.getBias(), {},
                              {}, std::nullopt, spec, args)))
      return failure();
    Value out = output(l.getResult());
    spec.yT = elementType(out);
    args.push_back(out);
    if (failed(launchLinear(op, spec, args)))
      return failure();
    buffers[l.getResult()] = out;
    return success();
  }
  auto wt = cast<ShapedType>(l.getWeight().getType());
  int64_t n = wt.getDimSize(0), k = wt.getDimSize(1);
  Value x = buffer(op, l.getInput()), w = buffer(op, l.getWeight());
  if (!x || !w)
    return failure();
  Value bias;
  if (l.getBias() && !(bias = buffer(op, l.getBias())))
    return failure();
  Value out = output(l.getResult());
  SmallVector<Value> args{x, w};
  if (bias)
    args.push_back(bias);
  args.push_back(out);
  launch(lib.linear(numElements(x) / k, n, k, elementType(x), elementType(w),
                    bias ? elementType(bias) : Type(), elementType(out)),
         args);
  buffers[l.getResult()] = out;
  return success();
}

LogicalResult GpuStepLowering::lowerFusedLinear(tfm::FusedLinearOp f) {
  Operation *op = f;
  LinearSpec spec;
  SmallVector<Value> args;
  if (failed(linearOperands(op, f.getInput(), f.getWeight(), f.getBias(),
                            f.getNormWeight(), f.getResidual(), f.getEps(),
                            spec, args)))
    return failure();
  spec.swiglu = f.getSwiglu();
  Value out = output(f.getResult());
  spec.yT = elementType(out);
  args.push_back(out);
  if (failed(launchLinear(op, spec, args)))
    return failure();
  buffers[f.getResult()] = out;
  return success();
}

LogicalResult GpuStepLowering::lowerFusedQkv(tfm::FusedQkvOp f) {
  Operation *op = f;
  if (failed(checkPosition(op, f.getPosition())))
    return failure();
  Value kc = buffer(op, f.getKeyCache()), vc = buffer(op, f.getValueCache());
  if (!kc || !vc)
    return failure();
  LinearSpec spec;
  SmallVector<Value> args;
  if (failed(linearOperands(op, f.getInput(), f.getWeight(), f.getBias(),
                            f.getNormWeight(), {}, f.getEps(), spec, args)))
    return failure();
  spec.qkv = true;
  spec.heads = f.getNumHeads();
  spec.kvHeads = f.getNumKvHeads();
  spec.headDim = f.getHeadDim();
  spec.capacity = f.getKeyCache().getType().getDimSize(1);
  spec.invFreqs = f.getInverseFrequencies();
  spec.cacheT = elementType(kc);
  Value query = output(f.getQuery());
  spec.yT = elementType(query);
  args.append({query, kc, vc, scalars});
  if (failed(launchLinear(op, spec, args)))
    return failure();
  // The caches are written in place, as kv_append's are.
  buffers[f.getQuery()] = query;
  buffers[f.getNewKeyCache()] = kc;
  buffers[f.getNewValueCache()] = vc;
  return success();
}

LogicalResult GpuStepLowering::lowerRope(tfm::RopeOp r) {
  if (failed(checkPosition(r, r.getPosition())))
    return failure();
  auto t = r.getInput().getType();
  Value x = buffer(r, r.getInput());
  if (!x)
    return failure();
  Value out = output(r.getResult());
  launch(lib.rope(t.getDimSize(0), t.getDimSize(1), t.getDimSize(2),
                  r.getInverseFrequencies(), elementType(x), elementType(out)),
         {x, out, scalars});
  buffers[r.getResult()] = out;
  return success();
}

LogicalResult GpuStepLowering::lowerAttention(tfm::AttentionOp at) {
  Operation *op = at;
  if (failed(checkPosition(op, at.getPosition())))
    return failure();
  auto qt = at.getQuery().getType();
  auto ct = at.getKeyCache().getType();
  Value q = buffer(op, at.getQuery()), k = buffer(op, at.getKeyCache()),
        v = buffer(op, at.getValueCache());
  if (!q || !k || !v)
    return failure();
  Value out = output(at.getResult());
  std::string why;
  AttentionSpec spec{qt.getDimSize(0),
                     qt.getDimSize(1),
                     ct.getDimSize(0),
                     qt.getDimSize(2),
                     ct.getDimSize(1),
                     at.getScale().convertToDouble(),
                     at.getCausal(),
                     bool(nValidArg),
                     elementType(q),
                     elementType(k),
                     elementType(out)};
  KernelLaunch kernel = lib.attention(spec, why);
  if (!kernel.func)
    return at.emitOpError() << why;
  launch(kernel, {q, k, v, out, scalars});
  buffers[at.getResult()] = out;
  return success();
}

LogicalResult GpuStepLowering::lowerElementwise(Operation *op,
                                                ElementwiseKind kind, Value a,
                                                Value c, Value result) {
  Value x = buffer(op, a), y;
  if (!x || (c && !(y = buffer(op, c))))
    return failure();
  Value out = output(result);
  SmallVector<Value> args{x};
  if (y)
    args.push_back(y);
  args.push_back(out);
  launch(lib.elementwise(kind, numElements(out), elementType(x),
                         y ? elementType(y) : Type(), elementType(out)),
         args);
  buffers[result] = out;
  return success();
}

LogicalResult GpuStepLowering::lowerReshape(Operation *op) {
  // Flat buffers: a reshape is the same buffer.
  Value src = buffer(op, op->getOperand(0));
  if (!src)
    return failure();
  buffers[op->getResult(0)] = src;
  return success();
}

LogicalResult GpuStepLowering::lowerExtractSlice(tensor::ExtractSliceOp s) {
  auto src = s.getSourceType();
  auto dst = s.getResultType();
  if (src.getRank() != 2 || dst.getRank() != 2 || !s.hasUnitStride() ||
      dst.getDimSize(1) != src.getDimSize(1) || s.getStaticOffsets()[1] != 0)
    return s.emitOpError()
           << "the CUDA target only extracts whole rows of a 2-d tensor";
  int64_t offset = 0;
  bool fromValid = false;
  if (!s.getOffsets().empty()) {
    // The one dynamic slice the importer makes: row n_valid - c.
    Value dyn = s.getOffsets()[0];
    auto subi = dyn.getDefiningOp<arith::SubIOp>();
    APInt c;
    if (!subi || subi.getLhs() != nValidArg ||
        !matchPattern(subi.getRhs(), m_ConstantInt(&c)))
      return s.emitOpError() << "the CUDA target supports a dynamic row "
                                "offset only of the form n_valid - c";
    offset = -c.getSExtValue();
    fromValid = true;
  } else {
    offset = s.getStaticOffsets()[0];
  }
  Value in = buffer(s, s.getSource());
  if (!in)
    return failure();
  Value out = output(s.getResult());
  launch(lib.copyRows(src.getDimSize(0), src.getDimSize(1), dst.getDimSize(0),
                      offset, fromValid, elementType(in), elementType(out)),
         {in, out, scalars});
  buffers[s.getResult()] = out;
  return success();
}

LogicalResult GpuStepLowering::run() {
  FunctionType type = old.getFunctionType();
  if (type.getNumResults() != 1 || type.getNumInputs() < 2 ||
      type.getNumInputs() > 3)
    return old.emitOpError() << "is not a tfm step function (tokens, "
                                "position[, n_valid]) -> logits";
  auto tokensType = dyn_cast<RankedTensorType>(type.getInput(0));
  auto logitsType = dyn_cast<RankedTensorType>(type.getResult(0));
  if (!tokensType || !tokensType.getElementType().isInteger(32) ||
      !logitsType || logitsType.getNumElements() * 4 > io.tokens ||
      tokensType.getNumElements() * 4 > io.scalars - io.tokens)
    return old.emitOpError()
           << "step functions take i32 token ids (at most the prefill chunk) "
              "and return one row of logits";
  posArg = old.getArgument(1);
  if (type.getNumInputs() == 3)
    nValidArg = old.getArgument(2);
  returned = old.getBody().front().getTerminator()->getOperand(0);

  MLIRContext *ctx = old.getContext();
  Type i8 = IntegerType::get(ctx, 8);
  SmallVector<Type> args{MemRefType::get({weightsBytes}, i8),
                         MemRefType::get({kvBytes}, i8),
                         MemRefType::get({ShapedType::kDynamic}, i8),
                         MemRefType::get({io.bytes}, i8)};
  b.setInsertionPoint(old);
  fn = func::FuncOp::create(b, old.getLoc(), old.getName(),
                            FunctionType::get(ctx, args, {}));
  for (int i = 0; i < contract::kNumAbiBuffers; ++i) {
    auto buffer = static_cast<contract::AbiBuffer>(i);
    fn.setArgAttr(i, "tfm.abi",
                  StringAttr::get(ctx, contract::abiBufferName(buffer)));
  }
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  weights = entry->getArgument(0);
  kv = entry->getArgument(1);
  ioBuf = entry->getArgument(3);
  logits = view(ioBuf, io.logits, logitsType.getNumElements(),
                Float32Type::get(ctx));
  tokens = view(ioBuf, io.tokens, tokensType.getNumElements(),
                IntegerType::get(ctx, 32));
  scalars = view(ioBuf, io.scalars, kNumScalars, IntegerType::get(ctx, 32));

  for (Operation &op : old.getBody().front())
    if (failed(lower(&op)))
      return failure();
  loc = old.getLoc();
  if (buffers.lookup(returned) != logits)
    return old.emitOpError()
           << "the returned logits must be produced by a compute op";
  launch(lib.sample(logitsType.getNumElements()), {logits, scalars});
  func::ReturnOp::create(b, loc);
  old.erase();
  return success();
}

struct TfmLowerToGPUPass
    : public monocard::impl::TfmLowerToGPUBase<TfmLowerToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto model = module->getAttrOfType<DictionaryAttr>("tfm.model");
    auto weightsAttr = module->getAttrOfType<DictionaryAttr>("tfm.weights");
    if (!weightsAttr) {
      module.emitError() << "module has no tfm.weights; run "
                            "tfm-layout-weights first";
      return signalPassFailure();
    }
    StepBuffers stepBuffers = readStepBuffers(module, weightsAttr);

    SmallVector<func::FuncOp> steps;
    int64_t vocab = 0, chunk = 1;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (!isStepFunction(fn))
        continue;
      steps.push_back(fn);
      FunctionType t = fn.getFunctionType();
      if (t.getNumInputs() >= 1)
        if (auto tok = dyn_cast<RankedTensorType>(t.getInput(0)))
          chunk = std::max(chunk, tok.getNumElements());
      if (t.getNumResults() == 1)
        if (auto l = dyn_cast<RankedTensorType>(t.getResult(0)))
          vocab = std::max(vocab, l.getNumElements());
    }
    if (model)
      if (auto c = model.getAs<IntegerAttr>("prefill_chunk"))
        chunk = std::max(chunk, c.getInt());
    IoLayout io = contract::ioLayout(vocab, chunk);

    llvm::Expected<KernelConfig> config =
        KernelConfig::fromOptions(gpu, gemvTune, gemmTile);
    if (!config) {
      module.emitError() << "tfm-lower-to-gpu: "
                         << llvm::toString(config.takeError());
      return signalPassFailure();
    }
    KernelLibrary lib(module, std::move(*config));
    for (func::FuncOp fn : steps) {
      GpuStepLowering step(fn, lib, stepBuffers, io);
      if (failed(step.run()))
        return signalPassFailure();
    }
    Builder b(module.getContext());
    module->setAttr(
        "tfm.io",
        b.getDictionaryAttr(
            {b.getNamedAttr("bytes", b.getI64IntegerAttr(io.bytes)),
             b.getNamedAttr("logits", b.getI64IntegerAttr(io.logits)),
             b.getNamedAttr("tokens", b.getI64IntegerAttr(io.tokens)),
             b.getNamedAttr("scalars", b.getI64IntegerAttr(io.scalars))}));
  }
};

} // namespace
