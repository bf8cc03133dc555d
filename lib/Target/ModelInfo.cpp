//===- ModelInfo.cpp - the model description embedded in a binary ---------===//

#include "monocard/Target/ModelInfo.h"

#include "monocard/Runtime/Contract.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace monocard;
namespace json = llvm::json;
namespace contract = monocard::contract;
using contract::AbiBuffer;
using contract::abiBufferName;
namespace key = monocard::contract::key;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// The byte size of the step argument marked `tfm.abi = kind`, or -1.
static int64_t abiBytes(Operation *fn, StringRef kind) {
  auto iface = dyn_cast<FunctionOpInterface>(fn);
  if (!iface)
    return -1;
  for (unsigned i = 0, e = iface.getNumArguments(); i < e; ++i) {
    auto abi = iface.getArgAttrOfType<StringAttr>(i, "tfm.abi");
    if (!abi || abi.getValue() != kind)
      continue;
    auto bytes = iface.getArgAttrOfType<IntegerAttr>(i, "tfm.bytes");
    if (bytes)
      return bytes.getInt();
    if (auto m = dyn_cast<MemRefType>(iface.getArgumentTypes()[i]))
      if (m.hasStaticShape())
        return m.getNumElements() * m.getElementTypeBitWidth() / 8;
  }
  return -1;
}

static SmallVector<Operation *> stepFunctions(ModuleOp module) {
  SmallVector<Operation *> steps;
  for (Operation &op : module.getBody()->getOperations())
    if (auto fn = dyn_cast<FunctionOpInterface>(op))
      if (fn.getName() == "prefill" || fn.getName() == "decode")
        steps.push_back(&op);
  return steps;
}

llvm::Expected<MemorySummary> monocard::summarizeMemory(ModuleOp module) {
  MemorySummary s;
  SmallVector<Operation *> steps = stepFunctions(module);
  if (steps.empty())
    return fail("module has no prefill/decode step functions");
  for (Operation *fn : steps) {
    auto plan = fn->getAttrOfType<DictionaryAttr>("tfm.memplan");
    if (!plan)
      return fail("step function has no tfm.memplan; run tfm-plan-memory");
    auto get = [&](StringRef key) {
      auto a = plan.getAs<IntegerAttr>(key);
      return a ? a.getInt() : 0;
    };
    s.arenaBytes = std::max(s.arenaBytes, get("arena_bytes"));
    s.lowerBound = std::max(s.lowerBound, get("lower_bound"));
    s.naiveBytes = std::max(s.naiveBytes, get("naive_bytes"));
    s.weightsBytes = std::max(s.weightsBytes,
                              abiBytes(fn, abiBufferName(AbiBuffer::Weights)));
    s.kvBytes = std::max(s.kvBytes, abiBytes(fn, abiBufferName(AbiBuffer::Kv)));
  }
  return s;
}

static std::string toJson(json::Value v) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << v;
  return out;
}

llvm::Expected<std::string> monocard::buildModelInfoJson(ModuleOp module,
                                                         StringRef target) {
  auto model = module->getAttrOfType<DictionaryAttr>("tfm.model");
  auto weights = module->getAttrOfType<DictionaryAttr>("tfm.weights");
  if (!model || !weights)
    return fail("module lacks the tfm.model / tfm.weights attributes");
  llvm::Expected<MemorySummary> mem = summarizeMemory(module);
  if (!mem)
    return mem.takeError();

  json::Object info;
  info[key::kFormat] = contract::kModelInfoFormat;
  info[key::kTarget] = target.str();
  for (NamedAttribute a : model) {
    if (auto s = dyn_cast<StringAttr>(a.getValue()))
      info[a.getName().getValue()] = s.getValue().str();
    else if (auto i = dyn_cast<IntegerAttr>(a.getValue()))
      info[a.getName().getValue()] = i.getInt();
  }
  json::Array recipe;
  for (Attribute e : weights.getAs<ArrayAttr>("recipe")) {
    auto d = cast<DictionaryAttr>(e);
    json::Array shape, sources;
    for (Attribute s : d.getAs<ArrayAttr>("shape"))
      shape.push_back(cast<IntegerAttr>(s).getInt());
    for (Attribute s : d.getAs<ArrayAttr>("sources"))
      sources.push_back(cast<StringAttr>(s).getValue().str());
    json::Object entry{
        {key::kParam, d.getAs<StringAttr>("param").getValue().str()},
        {key::kOffset, d.getAs<IntegerAttr>("offset").getInt()},
        {key::kDType, d.getAs<StringAttr>("dtype").getValue().str()},
        {key::kShape, std::move(shape)},
        {key::kSources, std::move(sources)},
        {key::kTransform, d.getAs<StringAttr>("transform").getValue().str()}};
    // Optional members (docs/packed-weights-format.md): absent ones are
    // left out, so a plain recipe's text (and fingerprint) is unchanged.
    if (auto pairs = d.getAs<ArrayAttr>("pair_rows")) {
      json::Array triples;
      for (Attribute v : pairs)
        triples.push_back(cast<IntegerAttr>(v).getInt());
      entry[key::kPairRows] = std::move(triples);
    }
    if (auto quant = d.getAs<DictionaryAttr>("quant")) {
      json::Object q;
      for (NamedAttribute f : quant) {
        if (auto i = dyn_cast<IntegerAttr>(f.getValue()))
          q[f.getName().getValue()] = i.getInt();
        else if (auto str = dyn_cast<StringAttr>(f.getValue()))
          q[f.getName().getValue()] = str.getValue().str();
      }
      entry[key::kQuant] = std::move(q);
    }
    recipe.push_back(std::move(entry));
  }
  // The fingerprint ties a .weights file to the exact recipe it was packed
  // with: FNV-1a 64 over the recipe's JSON text.
  std::string recipeText = toJson(json::Value(json::Array(recipe)));
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : recipeText) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  info[key::kFingerprint] = llvm::formatv("{0:x-16}", h).str();
  info[key::kRecipe] = std::move(recipe);
  info[key::kWeightsBytes] = mem->weightsBytes;
  info[key::kKvBytes] = mem->kvBytes;
  info[key::kArenaBytes] = mem->arenaBytes;
  return toJson(json::Value(std::move(info)));
}

llvm::Expected<std::string> monocard::buildMemplanJson(ModuleOp module) {
  llvm::Expected<MemorySummary> mem = summarizeMemory(module);
  if (!mem)
    return mem.takeError();
  json::Object out{{"weights_bytes", mem->weightsBytes},
                   {"kv_bytes", mem->kvBytes},
                   {"arena_bytes", mem->arenaBytes},
                   {"lower_bound", mem->lowerBound},
                   {"naive_bytes", mem->naiveBytes}};
  json::Object steps;
  for (Operation *fn : stepFunctions(module)) {
    auto plan = fn->getAttrOfType<DictionaryAttr>("tfm.memplan");
    json::Object step;
    for (StringRef key : {"arena_bytes", "lower_bound", "naive_bytes"})
      step[key] = plan.getAs<IntegerAttr>(key).getInt();
    json::Array buffers;
    if (auto bufs = plan.getAs<ArrayAttr>("buffers"))
      for (Attribute b : bufs) {
        json::Object buf;
        for (NamedAttribute f : cast<DictionaryAttr>(b))
          if (auto i = dyn_cast<IntegerAttr>(f.getValue()))
            buf[f.getName().getValue()] = i.getInt();
        buffers.push_back(std::move(buf));
      }
    step["buffers"] = std::move(buffers);
    steps[cast<FunctionOpInterface>(fn).getName()] = std::move(step);
  }
  out["steps"] = std::move(steps);
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", json::Value(std::move(out)));
  return text;
}
