//===- Safetensors.cpp - Reading Hugging Face safetensors checkpoints -----===//

#include "monocard/Runtime/Weights/Safetensors.h"

#include "monocard/Runtime/Support/Json.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace monocard;

// The safetensors format caps the header at 100 MB; a larger length means a
// corrupt (or non-safetensors) file, so refuse it before parsing.
static constexpr uint64_t MaxHeaderBytes = 100u << 20;

struct Checkpoint::Mapping {
  std::string Path;
  void *Addr = nullptr;
  size_t Size = 0;
  ~Mapping() {
    if (Addr)
      munmap(Addr, Size);
  }
};

Checkpoint::Checkpoint() = default;
Checkpoint::~Checkpoint() = default;

static bool fileExists(const std::string &Path) {
  struct stat St;
  return ::stat(Path.c_str(), &St) == 0 && S_ISREG(St.st_mode);
}

static int safetensorsDTypeSize(const std::string &Name) {
  static const std::pair<const char *, int> Sizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto &[N, S] : Sizes)
    if (Name == N)
      return S;
  return 0;
}

bool Checkpoint::mapFile(const std::string &Path, std::string &Error) {
  auto M = std::make_unique<Mapping>();
  M->Path = Path;
  int Fd = ::open(Path.c_str(), O_RDONLY | O_CLOEXEC);
  if (Fd < 0) {
    Error = "cannot open '" + Path + "': " + std::strerror(errno);
    return false;
  }
  struct stat St;
  if (::fstat(Fd, &St) != 0 || !S_ISREG(St.st_mode)) {
    ::close(Fd);
    Error = "'" + Path + "' is not a regular file";
    return false;
  }
  M->Size = static_cast<size_t>(St.st_size);
  if (M->Size < 8) {
    ::close(Fd);
    Error = "'" + Path + "' is not a safetensors file: only " +
            std::to_string(M->Size) + " bytes";
    return false;
  }
  void *A = ::mmap(nullptr, M->Size, PROT_READ, MAP_PRIVATE, Fd, 0);
  ::close(Fd);
  if (A == MAP_FAILED) {
    Error = "cannot map '" + Path + "': " + std::strerror(errno);
    return false;
  }
  M->Addr = A;
  Files.push_back(std::move(M));
  return true;
}

bool Checkpoint::openFile(const std::string &Path, std::string &Error) {
  if (!mapFile(Path, Error))
    return false;
  const Mapping &M = *Files.back();
  const auto *Base = static_cast<const unsigned char *>(M.Addr);
  uint64_t HeaderLen = 0;
  for (int I = 7; I >= 0; --I)
    HeaderLen = HeaderLen << 8 | Base[I];
  auto Bad = [&](const std::string &What) {
    Error = "'" + Path + "' is not a valid safetensors file: " + What;
    return false;
  };
  if (HeaderLen > M.Size - 8 || HeaderLen > MaxHeaderBytes)
    return Bad("header length " + std::to_string(HeaderLen) +
               " exceeds the file size " + std::to_string(M.Size));
  JsonDocument Doc;
  std::string JsonError;
  std::string_view HeaderText(reinterpret_cast<const char *>(Base + 8),
                              HeaderLen);
  if (!parseJson(HeaderText, Doc, JsonError))
    return Bad("header: " + JsonError);
  if (!Doc.root().isObject())
    return Bad("header is not a JSON object");

  const unsigned char *Data = Base + 8 + HeaderLen;
  uint64_t DataSize = M.Size - 8 - HeaderLen;
  std::vector<std::pair<uint64_t, uint64_t>> Ranges; // to find overlaps
  std::vector<std::string> RangeNames;
  for (JsonMember Member : Doc.root().members()) {
    if (Member.Key == "__metadata__")
      continue;
    SafetensorsTensor T;
    T.Name = std::string(Member.Key);
    T.File = Path;
    std::string Where = "tensor '" + T.Name + "' ";
    const JsonValue &V = Member.Value;
    const JsonValue *DT = V.find("dtype");
    const JsonValue *Sh = V.find("shape");
    const JsonValue *Off = V.find("data_offsets");
    if (!DT || !DT->isString() || !Sh || !Sh->isArray() || !Off ||
        !Off->isArray() || Off->size() != 2)
      return Bad(Where + "needs dtype, shape and data_offsets [begin, end]");
    T.DType = std::string(DT->asString());
    int ElemSize = safetensorsDTypeSize(T.DType);
    if (!ElemSize)
      return Bad(Where + "has unknown dtype '" + T.DType + "'");
    // Element count with overflow checks: a hostile header must not wrap.
    uint64_t Elems = 1;
    for (const JsonValue &D : Sh->array()) {
      if (!D.isInt() || D.asInt() < 0)
        return Bad(Where + "has a bad shape");
      uint64_t Dim = static_cast<uint64_t>(D.asInt());
      if (Dim && Elems > UINT64_MAX / 8 / Dim)
        return Bad(Where + "has a shape too large");
      Elems *= Dim;
      T.Shape.push_back(D.asInt());
    }
    const JsonValue &B = (*Off)[0], &E = (*Off)[1];
    if (!B.isInt() || !E.isInt() || B.asInt() < 0 || E.asInt() < B.asInt())
      return Bad(Where + "has bad data_offsets");
    uint64_t Begin = static_cast<uint64_t>(B.asInt());
    uint64_t End = static_cast<uint64_t>(E.asInt());
    if (End > DataSize)
      return Bad(Where + "data [" + std::to_string(Begin) + ", " +
                 std::to_string(End) + ") lies outside the " +
                 std::to_string(DataSize) + "-byte data section");
    if (End - Begin != Elems * static_cast<uint64_t>(ElemSize))
      return Bad(Where + "has " + std::to_string(End - Begin) +
                 " bytes of data but " + T.DType + " " + formatShape(T.Shape) +
                 " needs " + std::to_string(Elems * ElemSize));
    T.Data = Data + Begin;
    T.Bytes = End - Begin;
    if (Tensors.count(T.Name))
      return Bad(Where + "appears in more than one file");
    Ranges.push_back({Begin, End});
    RangeNames.push_back(T.Name);
    Tensors.emplace(T.Name, std::move(T));
  }
  // Overlap check over ranges sorted by start; empty tensors overlap nothing.
  std::vector<size_t> Order(Ranges.size());
  for (size_t I = 0; I < Order.size(); ++I)
    Order[I] = I;
  std::sort(Order.begin(), Order.end(),
            [&](size_t A, size_t B) { return Ranges[A] < Ranges[B]; });
  const size_t None = SIZE_MAX;
  size_t Prev = None;
  for (size_t I : Order) {
    if (Ranges[I].first == Ranges[I].second)
      continue;
    if (Prev != None && Ranges[I].first < Ranges[Prev].second)
      return Bad("tensors '" + RangeNames[Prev] + "' and '" + RangeNames[I] +
                 "' overlap");
    if (Prev == None || Ranges[I].second > Ranges[Prev].second)
      Prev = I;
  }
  return true;
}

bool Checkpoint::open(const std::string &Dir, std::string &Error) {
  std::string Single = Dir + "/model.safetensors";
  std::string Index = Dir + "/model.safetensors.index.json";
  if (fileExists(Single))
    return openFile(Single, Error);
  if (!fileExists(Index)) {
    Error =
        "no model.safetensors or model.safetensors.index.json in '" + Dir + "'";
    return false;
  }

  // Sharded: the index's weight_map names, for each tensor, its shard.
  std::string Text;
  {
    std::FILE *F = std::fopen(Index.c_str(), "rb");
    if (!F) {
      Error = "cannot open '" + Index + "': " + std::strerror(errno);
      return false;
    }
    char Buf[65536];
    size_t N;
    while ((N = std::fread(Buf, 1, sizeof(Buf), F)) > 0)
      Text.append(Buf, N);
    std::fclose(F);
  }
  JsonDocument Doc;
  std::string JsonError;
  if (!parseJson(Text, Doc, JsonError)) {
    Error = "'" + Index + "' is not valid JSON: " + JsonError;
    return false;
  }
  const JsonValue *Map = Doc.root().find("weight_map");
  if (!Map || !Map->isObject()) {
    Error = "'" + Index + "' has no weight_map object";
    return false;
  }
  std::vector<std::string> Shards;
  for (JsonMember M : Map->members()) {
    std::string Shard(M.Value.asString());
    if (!M.Value.isString() || Shard.empty() ||
        Shard.find('/') != std::string::npos || Shard == "." || Shard == "..") {
      Error = "'" + Index + "' maps '" + std::string(M.Key) +
              "' to a bad shard name";
      return false;
    }
    if (std::find(Shards.begin(), Shards.end(), Shard) == Shards.end())
      Shards.push_back(Shard);
  }
  for (const std::string &Shard : Shards)
    if (!openFile(Dir + "/" + Shard, Error))
      return false;
  for (JsonMember M : Map->members()) {
    auto It = Tensors.find(std::string(M.Key));
    std::string Expected = Dir + "/" + std::string(M.Value.asString());
    if (It == Tensors.end() || It->second.File != Expected) {
      Error = "'" + Index + "' puts tensor '" + std::string(M.Key) + "' in '" +
              std::string(M.Value.asString()) +
              "', but that file does not have it";
      return false;
    }
  }
  return true;
}

const SafetensorsTensor *Checkpoint::find(const std::string &Name) const {
  auto It = Tensors.find(Name);
  return It == Tensors.end() ? nullptr : &It->second;
}
