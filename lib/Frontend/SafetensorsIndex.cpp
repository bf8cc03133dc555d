//===- SafetensorsIndex.cpp - read and check safetensors headers ----------===//
//
// A safetensors file is an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}}, then the data. Only the
// header is read: compiling a 70B model must not touch 140 GB.
//
//===----------------------------------------------------------------------===//

#include "monocard/Frontend/SafetensorsIndex.h"
#include "monocard/Frontend/CheckedSize.h"
#include "monocard/Frontend/JsonInteger.h"
#include "monocard/Frontend/JsonLimits.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;
using namespace monocard;

static Error fail(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

/// Bytes per element of a safetensors dtype, or 0 if unknown.
static uint64_t dtypeBytes(StringRef dtype) {
  return StringSwitch<uint64_t>(dtype)
      .Cases({"F64", "I64", "U64"}, 8)
      .Cases({"F32", "I32", "U32"}, 4)
      .Cases({"F16", "BF16", "I16", "U16"}, 2)
      .Cases({"I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"}, 1)
      .Default(0);
}

static std::string shapeText(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Headers above this are corrupt, not large: a 100k-tensor model needs ~10 MB.
static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

Error monocard::readSafetensorsHeader(StringRef path,
                                      StringMap<TensorInfo> &tensors) {
  uint64_t fileSize = 0;
  if (std::error_code ec = sys::fs::file_size(path, fileSize))
    return fail("cannot read " + path + ": " + ec.message());
  if (fileSize < 8)
    return fail(path + ": truncated safetensors file (" + Twine(fileSize) +
                " bytes, no header length)");
  auto lenBuf = MemoryBuffer::getFileSlice(path, 8, 0);
  if (!lenBuf)
    return fail("cannot read " + path + ": " + lenBuf.getError().message());
  uint64_t headerLen = support::endian::read64le((*lenBuf)->getBufferStart());
  if (headerLen > kMaxHeaderBytes || 8 + headerLen > fileSize)
    return fail(path + ": truncated safetensors header (declares " +
                Twine(headerLen) + " header bytes, file has " +
                Twine(fileSize) + ")");
  auto headerBuf = MemoryBuffer::getFileSlice(path, headerLen, 8);
  if (!headerBuf)
    return fail("cannot read " + path + ": " +
                headerBuf.getError().message());
  Expected<json::Value> header =
      parseJsonChecked((*headerBuf)->getBuffer(), path, "safetensors header");
  if (!header)
    return header.takeError();
  const json::Object *obj = header->getAsObject();
  if (!obj)
    return fail(path + ": malformed safetensors header: not a JSON object");

  uint64_t dataSize = fileSize - 8 - headerLen;
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> ranges;
  for (const auto &[key, value] : *obj) {
    StringRef name = key;
    if (name == "__metadata__")
      continue;
    auto bad = [&](const Twine &what) {
      return fail(path + ": tensor '" + name + "': " + what);
    };
    const json::Object *t = value.getAsObject();
    if (!t)
      return bad("header entry is not an object");
    std::optional<StringRef> dtype = t->getString("dtype");
    const json::Array *shape = t->getArray("shape");
    const json::Array *offsets = t->getArray("data_offsets");
    if (!dtype || !shape || !offsets || offsets->size() != 2)
      return bad("header entry needs dtype, shape and data_offsets [begin, "
                 "end]");
    uint64_t elemBytes = dtypeBytes(*dtype);
    if (!elemBytes)
      return bad("unknown dtype '" + *dtype + "'");
    TensorInfo info;
    info.dtype = dtype->str();
    info.file = path.str();
    // Sizes are checked products: a shape near 2^62 must not wrap into a
    // small byte count that happens to match the offsets.
    std::optional<uint64_t> bytes = elemBytes;
    for (const json::Value &d : *shape) {
      std::optional<int64_t> dim = exactInt64(d);
      if (!dim || *dim < 0)
        return bad("shape must be a list of non-negative integers");
      info.shape.push_back(*dim);
      bytes = bytes ? checkedMul(*bytes, uint64_t(*dim)) : std::nullopt;
    }
    if (!bytes || !checkedProduct(info.shape))
      return bad("shape " + shapeText(info.shape) + " of " + *dtype +
                 " overflows 64-bit sizes");
    std::optional<int64_t> begin = exactInt64((*offsets)[0]);
    std::optional<int64_t> end = exactInt64((*offsets)[1]);
    if (!begin || !end || *begin < 0 || *end < *begin)
      return bad("data_offsets must be [begin, end] with begin <= end");
    info.begin = *begin;
    info.end = *end;
    if (info.end > dataSize)
      return bad("data_offsets [" + Twine(info.begin) + ", " +
                 Twine(info.end) + "] run past the end of the file (" +
                 Twine(dataSize) + " data bytes)");
    if (info.end - info.begin != *bytes)
      return bad("data_offsets span " + Twine(info.end - info.begin) +
                 " bytes but shape and dtype need " + Twine(*bytes));
    ranges.push_back({{info.begin, info.end}, name.str()});
    if (!tensors.try_emplace(name, std::move(info)).second)
      return bad("appears in more than one file");
  }

  llvm::sort(ranges);
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first.first < ranges[i - 1].first.second)
      return fail(path + ": tensors '" + ranges[i - 1].second + "' and '" +
                  ranges[i].second + "' overlap");
  return Error::success();
}

Expected<StringMap<TensorInfo>>
monocard::readSafetensorsIndex(StringRef dir) {
  StringMap<TensorInfo> tensors;
  SmallString<256> single(dir), index(dir);
  sys::path::append(single, "model.safetensors");
  sys::path::append(index, "model.safetensors.index.json");

  if (!sys::fs::exists(index)) {
    if (!sys::fs::exists(single))
      return fail(dir + ": no model.safetensors or "
                        "model.safetensors.index.json");
    if (Error e = readSafetensorsHeader(single, tensors))
      return std::move(e);
    return tensors;
  }

  auto buf = MemoryBuffer::getFile(index);
  if (!buf)
    return fail("cannot read " + index + ": " + buf.getError().message());
  Expected<json::Value> parsed = parseJsonChecked((*buf)->getBuffer(), index);
  if (!parsed)
    return parsed.takeError();
  const json::Object *root = parsed->getAsObject();
  const json::Object *map = root ? root->getObject("weight_map") : nullptr;
  if (!map)
    return fail(index + ": missing 'weight_map' object");

  // Read each shard once, then check the index agrees with the headers.
  StringSet<> shards;
  for (const auto &[name, file] : *map) {
    std::optional<StringRef> f = file.getAsString();
    if (!f || f->contains('/') || f->contains('\\'))
      return fail(index + ": tensor '" + StringRef(name) +
                  "' maps to an invalid file name");
    shards.insert(*f);
  }
  SmallVector<StringRef> sorted(shards.keys());
  llvm::sort(sorted);
  for (StringRef shard : sorted) {
    SmallString<256> p(dir);
    sys::path::append(p, shard);
    if (!sys::fs::exists(p))
      return fail(index + ": shard '" + shard + "' does not exist");
    if (Error e = readSafetensorsHeader(p, tensors))
      return std::move(e);
  }
  for (const auto &[name, file] : *map) {
    auto it = tensors.find(name);
    if (it == tensors.end() ||
        sys::path::filename(it->second.file) != *file.getAsString())
      return fail(index + ": tensor '" + StringRef(name) +
                  "' is not in its shard '" + *file.getAsString() + "'");
  }
  if (tensors.size() != map->size())
    return fail(index + ": shards hold " + Twine(tensors.size()) +
                " tensors but the index lists " + Twine(map->size()));
  return tensors;
}
