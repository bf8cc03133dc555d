//===- ImportCheckpoint.cpp - HF checkpoint -> tfm step functions ---------===//
//
// The Llama family (Llama, Mistral, Qwen2) shares one graph:
//
//   x = embed[tokens]
//   per layer: x += o_proj(attention(rope(q), kv_append(rope(k)), kv_append(v)))
//              x += down(swiglu(gate(rms_norm(x)), up(rms_norm(x))))
//   logits = lm_head(rms_norm(x))[last valid row]
//
// with q/k/v from rms_norm(x). The variants differ in biases, tied
// embeddings and RoPE frequencies, all read from config.json.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/ImportCheckpoint.h"
#include "monocard/Dialect/Tfm/IR/TfmOps.h"
#include "monocard/Frontend/CheckedSize.h"
#include "monocard/Frontend/ModelTensors.h"
#include "monocard/Frontend/SafetensorsIndex.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/StringSet.h"

#include <cmath>

using namespace mlir;
using namespace monocard;
namespace tfm = monocard::tfm;

namespace {

constexpr int64_t kMaxImportSeq = int64_t(1) << 24;

/// KV positions: --max-seq rounded up to whole prefill chunks, so that the
/// padded rows of the last chunk still land inside the cache. The launcher
/// never lets a real token past --max-seq.
int64_t kvCapacity(const ImportOptions &opts) {
  int64_t chunk = std::min(opts.prefillChunk, opts.maxSeq);
  return (opts.maxSeq + chunk - 1) / chunk * chunk;
}

/// Builds one step function: `rows` tokens in, one row of logits out.
class StepBuilder {
public:
  StepBuilder(OpBuilder &b, const ModelConfig &cfg, const ImportOptions &opts,
              Type elemType)
      : b(b), loc(b.getUnknownLoc()), cfg(cfg), opts(opts), et(elemType) {}

  func::FuncOp build(ModuleOp module, StringRef name, int64_t rows,
                     bool isPrefill);

private:
  RankedTensorType tensor(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, et);
  }
  Value param(const std::string &name, ArrayRef<int64_t> shape) {
    return tfm::ParamOp::create(b, loc, tensor(shape),
                                FlatSymbolRefAttr::get(b.getContext(), name),
                                /*sources=*/nullptr, /*pair_rows=*/nullptr);
  }
  Value linear(Value x, const std::string &prefix, int64_t out, bool bias) {
    int64_t rows = cast<RankedTensorType>(x.getType()).getDimSize(0);
    int64_t in = cast<RankedTensorType>(x.getType()).getDimSize(1);
    Value w = param(prefix + ".weight", {out, in});
    Value bv = bias ? param(prefix + ".bias", {out}) : Value();
    return tfm::LinearOp::create(b, loc, tensor({rows, out}), x, w, bv);
  }
  Value rmsNorm(Value x, const std::string &weight) {
    Value w = param(weight, {cfg.hiddenSize});
    return tfm::RmsNormOp::create(b, loc, x.getType(), x, w,
                                  b.getF64FloatAttr(cfg.rmsNormEps));
  }
  /// [T, H*Dh] -> [T, H, Dh]
  Value splitHeads(Value x, int64_t heads) {
    int64_t rows = cast<RankedTensorType>(x.getType()).getDimSize(0);
    return tensor::ExpandShapeOp::create(
        b, loc, tensor({rows, heads, cfg.headDim}), x,
        ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  }
  /// [T, H, Dh] -> [T, H*Dh]
  Value mergeHeads(Value x) {
    auto type = cast<RankedTensorType>(x.getType());
    return tensor::CollapseShapeOp::create(
        b, loc, tensor({type.getDimSize(0), type.getDimSize(1) * cfg.headDim}),
        x, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  }
  Value rope(Value x, Value pos) {
    tfm::Llama3RopeScalingAttr scaling;
    if (cfg.ropeScaling)
      scaling = tfm::Llama3RopeScalingAttr::get(
          b.getContext(), APFloat(cfg.ropeScaling->factor),
          APFloat(cfg.ropeScaling->lowFreqFactor),
          APFloat(cfg.ropeScaling->highFreqFactor),
          cfg.ropeScaling->originalMaxPositionEmbeddings);
    return tfm::RopeOp::create(b, loc, x.getType(), x, pos,
                               b.getF64FloatAttr(cfg.ropeTheta), scaling);
  }
  Value layer(Value x, Value pos, int64_t l);

  OpBuilder &b;
  Location loc;
  const ModelConfig &cfg;
  const ImportOptions &opts;
  Type et;
};

Value StepBuilder::layer(Value x, Value pos, int64_t l) {
  std::string p = "model.layers." + std::to_string(l);
  int64_t qDim = cfg.numHeads * cfg.headDim;
  int64_t kvDim = cfg.numKvHeads * cfg.headDim;

  Value h = rmsNorm(x, p + ".input_layernorm.weight");
  Value q = linear(h, p + ".self_attn.q_proj", qDim, cfg.qkvBias);
  Value k = linear(h, p + ".self_attn.k_proj", kvDim, cfg.qkvBias);
  Value v = linear(h, p + ".self_attn.v_proj", kvDim, cfg.qkvBias);
  q = rope(splitHeads(q, cfg.numHeads), pos);
  k = rope(splitHeads(k, cfg.numKvHeads), pos);
  v = splitHeads(v, cfg.numKvHeads);

  auto cacheType = tensor({cfg.numKvHeads, kvCapacity(opts), cfg.headDim});
  Value kCache = tfm::KvCacheOp::create(b, loc, cacheType, tfm::KvKind::key, l);
  Value vCache =
      tfm::KvCacheOp::create(b, loc, cacheType, tfm::KvKind::value, l);
  kCache = tfm::KvAppendOp::create(b, loc, cacheType, kCache, k, pos);
  vCache = tfm::KvAppendOp::create(b, loc, cacheType, vCache, v, pos);
  Value attn = tfm::AttentionOp::create(
      b, loc, q.getType(), q, kCache, vCache, pos,
      b.getF64FloatAttr(1.0 / std::sqrt(double(cfg.headDim))),
      b.getBoolAttr(true));
  Value o = linear(mergeHeads(attn), p + ".self_attn.o_proj", cfg.hiddenSize,
                   cfg.oBias);
  x = tfm::AddOp::create(b, loc, x, o);

  h = rmsNorm(x, p + ".post_attention_layernorm.weight");
  Value gate = linear(h, p + ".mlp.gate_proj", cfg.intermediateSize, false);
  Value up = linear(h, p + ".mlp.up_proj", cfg.intermediateSize, false);
  Value act = tfm::SwigluOp::create(b, loc, gate, up);
  Value down = linear(act, p + ".mlp.down_proj", cfg.hiddenSize, false);
  return tfm::AddOp::create(b, loc, x, down);
}

func::FuncOp StepBuilder::build(ModuleOp module, StringRef name, int64_t rows,
                                bool isPrefill) {
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> args = {RankedTensorType::get({rows}, b.getI32Type()),
                            b.getIndexType()};
  if (isPrefill)
    args.push_back(b.getIndexType());
  auto logitsType = tensor({1, cfg.vocabSize});
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType(args, {logitsType}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value tokens = entry->getArgument(0);
  Value pos = entry->getArgument(1);

  Value embed = param("model.embed_tokens.weight",
                      {cfg.vocabSize, cfg.hiddenSize});
  Value x = tfm::EmbeddingOp::create(b, loc, tensor({rows, cfg.hiddenSize}),
                                     embed, tokens);
  for (int64_t l = 0; l < cfg.numLayers; ++l)
    x = layer(x, pos, l);
  x = rmsNorm(x, "model.norm.weight");

  if (isPrefill) {
    // Only the last valid row's logits are needed: slice before lm_head so
    // the vocabulary projection runs on one row, not the whole chunk.
    Value nValid = entry->getArgument(2);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value last = arith::SubIOp::create(b, loc, nValid, one);
    SmallVector<OpFoldResult> offsets = {last, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1),
                                       b.getIndexAttr(cfg.hiddenSize)};
    SmallVector<OpFoldResult> strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
    x = tensor::ExtractSliceOp::create(b, loc, tensor({1, cfg.hiddenSize}), x,
                                       offsets, sizes, strides);
  }
  std::string head =
      cfg.tieWordEmbeddings ? "model.embed_tokens" : "lm_head";
  Value logits = linear(x, head, cfg.vocabSize, false);
  func::ReturnOp::create(b, loc, logits);
  return fn;
}

Type parseElementType(MLIRContext *ctx, StringRef dtype) {
  Builder b(ctx);
  if (dtype == "f16")
    return b.getF16Type();
  if (dtype == "bf16")
    return b.getBF16Type();
  return b.getF32Type();
}

llvm::Error fail(const Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// The checkpoint must hold exactly the tensors the architecture reads.
llvm::Error checkTensors(const ModelConfig &cfg,
                         const llvm::StringMap<TensorInfo> &tensors,
                         StringRef dir) {
  std::vector<ExpectedTensor> expected = expectedTensors(cfg);
  llvm::StringSet<> names;
  for (const ExpectedTensor &e : expected) {
    names.insert(e.name);
    auto it = tensors.find(e.name);
    if (it == tensors.end())
      return fail(dir + ": checkpoint is missing tensor '" + e.name + "'");
    const TensorInfo &t = it->second;
    if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
      return fail(dir + ": tensor '" + e.name + "' has unsupported dtype '" +
                  t.dtype + "' (supported: F32, F16, BF16)");
    if (ArrayRef<int64_t>(t.shape) != ArrayRef<int64_t>(e.shape))
      return fail(dir + ": tensor '" + e.name + "' has shape " +
                  shapeString(t.shape) + ", expected " +
                  shapeString(e.shape));
  }
  // Report the alphabetically first surplus tensor, so messages are stable.
  std::vector<std::string> extra;
  for (const auto &entry : tensors)
    if (!names.contains(entry.getKey()) &&
        !isIgnorableTensor(cfg, entry.getKey()))
      extra.push_back(entry.getKey().str());
  if (!extra.empty()) {
    llvm::sort(extra);
    return fail(dir + ": unexpected tensor '" + extra.front() + "' for " +
                cfg.architecture);
  }
  return llvm::Error::success();
}

/// Every size the compiled model derives from the config must fit int64
/// (MLIR shapes, buffer offsets): the config limits keep each factor small,
/// but their products (all layers' weights, the KV cache) are checked here,
/// before anything is built from them. Sized as f32, the widest dtype.
llvm::Error checkSizes(const ModelConfig &cfg, const ImportOptions &opts,
                       StringRef dir) {
  constexpr int64_t kWidest = 4;
  std::optional<int64_t> kv =
      checkedProduct({cfg.numLayers, 2, cfg.numKvHeads, kvCapacity(opts),
                      cfg.headDim, kWidest});
  if (!kv)
    return fail(dir + ": KV cache (" + Twine(cfg.numLayers) + " layers x 2 x " +
                Twine(cfg.numKvHeads) + " kv heads x " +
                Twine(kvCapacity(opts)) + " positions x " + Twine(cfg.headDim) +
                " head_dim) overflows 64-bit sizes");
  std::optional<uint64_t> total = 0;
  for (const ExpectedTensor &e : expectedTensors(cfg)) {
    std::optional<int64_t> n = checkedProduct(e.shape);
    std::optional<uint64_t> bytes =
        n ? checkedMul(uint64_t(*n), kWidest) : std::nullopt;
    total = total && bytes ? checkedAdd(*total, *bytes) : std::nullopt;
    if (!total || *total > uint64_t(INT64_MAX))
      return fail(dir + ": the weights overflow 64-bit sizes at tensor '" +
                  e.name + "' " + shapeString(e.shape));
  }
  return llvm::Error::success();
}

} // namespace

OwningOpRef<ModuleOp> monocard::buildStepFunctions(MLIRContext *ctx,
                                                   const ModelConfig &cfg,
                                                   const ImportOptions &opts) {
  ctx->loadDialect<tfm::TfmDialect, func::FuncDialect, tensor::TensorDialect,
                   arith::ArithDialect>();
  OpBuilder b(ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
  int64_t chunk = std::min(opts.prefillChunk, opts.maxSeq);
  // The launcher runs prompts in whole chunks; round the context up to them.
  ImportOptions rounded = opts;
  rounded.maxSeq = kvCapacity(opts);

  NamedAttrList model;
  model.append("architecture", b.getStringAttr(cfg.architecture));
  model.append("vocab_size", b.getI64IntegerAttr(cfg.vocabSize));
  model.append("hidden_size", b.getI64IntegerAttr(cfg.hiddenSize));
  model.append("num_layers", b.getI64IntegerAttr(cfg.numLayers));
  model.append("num_heads", b.getI64IntegerAttr(cfg.numHeads));
  model.append("num_kv_heads", b.getI64IntegerAttr(cfg.numKvHeads));
  model.append("head_dim", b.getI64IntegerAttr(cfg.headDim));
  model.append("max_seq", b.getI64IntegerAttr(rounded.maxSeq));
  model.append("prefill_chunk", b.getI64IntegerAttr(chunk));
  model.append("bos_token_id", b.getI64IntegerAttr(cfg.bosTokenId));
  model.append("eos_token_id", b.getI64IntegerAttr(cfg.eosTokenId));
  (*module)->setAttr("tfm.model", model.getDictionary(ctx));

  StepBuilder steps(b, cfg, rounded, parseElementType(ctx, opts.dtype));
  steps.build(*module, "prefill", chunk, /*isPrefill=*/true);
  steps.build(*module, "decode", 1, /*isPrefill=*/false);
  return module;
}

llvm::Expected<OwningOpRef<ModuleOp>>
monocard::importCheckpoint(MLIRContext *ctx, StringRef dir,
                           const ImportOptions &opts) {
  llvm::Expected<ModelConfig> cfg = readModelConfig(dir);
  if (!cfg)
    return cfg.takeError();
  if (opts.maxSeq <= 0 || opts.prefillChunk <= 0)
    return fail("--max-seq and --prefill-chunk must be > 0");
  // kvCapacity rounds up by a chunk: keep that sum far from wrapping.
  if (opts.maxSeq > kMaxImportSeq || opts.prefillChunk > kMaxImportSeq)
    return fail("--max-seq and --prefill-chunk must be <= 2^24");
  if (opts.maxSeq > cfg->maxPositionEmbeddings)
    return fail("--max-seq " + Twine(opts.maxSeq) +
                " exceeds the model's max_position_embeddings (" +
                Twine(cfg->maxPositionEmbeddings) + ")");
  if (cfg->slidingWindow && *cfg->slidingWindow < opts.maxSeq)
    return fail(dir + ": sliding_window (" + Twine(*cfg->slidingWindow) +
                ") is shorter than --max-seq " + Twine(opts.maxSeq) +
                "; sliding-window attention is not supported");
  if (llvm::Error e = checkSizes(*cfg, opts, dir))
    return std::move(e);
  llvm::Expected<llvm::StringMap<TensorInfo>> tensors =
      readSafetensorsIndex(dir);
  if (!tensors)
    return tensors.takeError();
  if (llvm::Error e = checkTensors(*cfg, *tensors, dir))
    return std::move(e);
  if (opts.dtype != "auto")
    return buildStepFunctions(ctx, *cfg, opts);
  // "auto": compute in the checkpoint's own storage type (that of the
  // embedding table, which every architecture has).
  ImportOptions resolved = opts;
  std::string stored =
      tensors->lookup(expectedTensors(*cfg).front().name).dtype;
  resolved.dtype = stored == "F16" ? "f16" : stored == "BF16" ? "bf16" : "f32";
  return buildStepFunctions(ctx, *cfg, resolved);
}
