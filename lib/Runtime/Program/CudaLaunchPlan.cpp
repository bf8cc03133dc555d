//===- CudaLaunchPlan.cpp - The "cuda" member of the model info -----------===//
//
// Every check a launch would otherwise fail at run time (or, worse, not
// fail: an offset past a buffer is a silent out-of-bounds access on a GPU)
// is made here, with a message naming the launch and the argument.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Program/CudaLaunchPlan.h"

#include "monocard/Runtime/Program/ModelInfo.h"
#include "monocard/Runtime/Support/Json.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace monocard;

namespace key = contract::key;

DeviceMemoryPlan DeviceMemoryPlan::forModel(const ModelInfo &Info) {
  DeviceMemoryPlan P;
  P.WeightsBytes = Info.WeightsBytes;
  P.KvBytes = Info.KvBytes;
  P.ArenaBytes = Info.ArenaBytes;
  P.Io = contract::ioLayout(Info.VocabSize, Info.PrefillChunk);
  P.IoBytes = static_cast<uint64_t>(P.Io.bytes);
  return P;
}

const char *monocard::cudaBufferName(CudaBuffer B) {
  return contract::abiBufferName(B);
}

unsigned CudaPersistentGrid::blocks(int SmCount) const {
  uint64_t Want = uint64_t(BlocksPerSM) * uint64_t(SmCount > 0 ? SmCount : 1);
  return static_cast<unsigned>(
      std::min<uint64_t>(std::max<uint64_t>(Want, MinBlocks), MaxBlocks));
}

int monocard::parseSmArch(const std::string &Arch) {
  if (Arch.size() < 5 || Arch.compare(0, 3, "sm_") != 0)
    return -1;
  size_t End = Arch.size();
  if (Arch.back() == 'a' || Arch.back() == 'f') // sm_90a, sm_100f
    --End;
  int V = 0;
  for (size_t I = 3; I < End; ++I) {
    if (Arch[I] < '0' || Arch[I] > '9' || V > 100000)
      return -1;
    V = V * 10 + (Arch[I] - '0');
  }
  return End > 3 ? V : -1;
}

namespace {

/// Records the first problem as "model info: <where>: '<key>' <what>".
class PlanParser {
public:
  PlanParser(const ModelInfo &Info, std::string &Error)
      : Info(Info), Error(Error), Mem(DeviceMemoryPlan::forModel(Info)) {}

  bool fail(const std::string &Where, const std::string &Key,
            const std::string &What) {
    if (Error.empty())
      Error = "model info: " + Where + ": " +
              (Key.empty() ? "" : "'" + Key + "' ") + What;
    return false;
  }

  const JsonValue *get(const JsonValue &Obj, const std::string &Where,
                       const char *Key) {
    const JsonValue *V = Obj.find(Key);
    if (!V)
      fail(Where, Key, "is missing");
    return V;
  }

  bool u64(const JsonValue &Obj, const std::string &Where, const char *Key,
           uint64_t &Out) {
    const JsonValue *V = get(Obj, Where, Key);
    if (!V)
      return false;
    if (!V->isInt() || V->asInt() < 0)
      return fail(Where, Key, "must be a non-negative integer");
    Out = static_cast<uint64_t>(V->asInt());
    return true;
  }

  bool arch(const JsonValue &Obj, const char *Key, std::string &Out,
            bool Required) {
    const JsonValue *V = Obj.find(Key);
    if (!V)
      return Required ? fail("cuda", Key, "is missing") : true;
    // An optional architecture may be "": no cubin was built.
    if (!Required && V->isString() && V->asString().empty())
      return true;
    if (!V->isString() || parseSmArch(std::string(V->asString())) < 0)
      return fail("cuda", Key, "must be a GPU architecture like \"sm_80\"");
    Out = std::string(V->asString());
    return true;
  }

  /// Each member must equal the contract's layout (the launcher allocates
  /// and fills the buffer by it), so \p L is that layout once this passes.
  bool io(const JsonValue &V, contract::IoLayout &L) {
    if (!V.isObject())
      return fail("cuda", key::kIo, "must be an object");
    const contract::IoLayout &Want = Mem.Io;
    struct Field {
      const char *Key;
      int64_t Expected;
    };
    std::vector<Field> Fields = {{key::kIoBytes, Want.bytes},
                                 {key::kIoLogits, Want.logits},
                                 {key::kIoTokens, Want.tokens}};
    for (const contract::ScalarKey &S : contract::kScalarKeys)
      Fields.push_back({S.Key, Want.scalar(S.Slot)});
    for (const Field &F : Fields) {
      uint64_t Got = 0;
      if (!u64(V, "cuda.io", F.Key, Got))
        return false;
      if (Got != static_cast<uint64_t>(F.Expected))
        return fail("cuda.io", F.Key,
                    "is " + std::to_string(Got) +
                        " but this launcher's I/O layout has " +
                        std::to_string(F.Expected) + " (vocab_size " +
                        std::to_string(Info.VocabSize) + ", prefill_chunk " +
                        std::to_string(Info.PrefillChunk) + ")");
    }
    L = Want;
    return true;
  }

  bool kernels(const JsonValue &V, std::vector<std::string> &Out) {
    const char *Msg = "must be a non-empty array of kernel names";
    if (!V.isArray() || V.size() == 0)
      return fail("cuda", key::kKernels, Msg);
    for (const JsonValue &N : V.array()) {
      if (!N.isString() || N.asString().empty())
        return fail("cuda", key::kKernels, Msg);
      Out.emplace_back(N.asString());
    }
    return true;
  }

  /// Three positive 32-bit integers.
  bool dims(const JsonValue &L, const std::string &Where, const char *Key,
            unsigned (&Out)[3]) {
    const JsonValue *V = get(L, Where, Key);
    if (!V)
      return false;
    if (!V->isArray() || V->size() != 3)
      return fail(Where, Key, "must be 3 positive integers");
    for (size_t I = 0; I < 3; ++I) {
      const JsonValue &D = (*V)[I];
      if (!D.isInt() || D.asInt() < 1 || D.asInt() > 0x7fffffff)
        return fail(Where, Key, "must be 3 positive integers");
      Out[I] = static_cast<unsigned>(D.asInt());
    }
    return true;
  }

  /// The optional "persistent" member: positive blocks_per_sm and
  /// 1 <= min_blocks <= max_blocks.
  bool persistent(const JsonValue &L, const std::string &Where,
                  CudaPersistentGrid &Out) {
    const JsonValue *V = L.find(key::kPersistent);
    if (!V)
      return true;
    std::string W = Where + "." + key::kPersistent;
    if (!V->isObject())
      return fail(Where, key::kPersistent, "must be an object");
    uint64_t Bps = 0, Lo = 0, Hi = 0;
    if (!u64(*V, W, key::kBlocksPerSm, Bps) ||
        !u64(*V, W, key::kMinBlocks, Lo) || !u64(*V, W, key::kMaxBlocks, Hi))
      return false;
    if (Bps < 1 || Bps > 1024 || Lo < 1 || Lo > Hi || Hi > 0x7fffffff)
      return fail(Where, key::kPersistent,
                  "must have blocks_per_sm >= 1 and 1 <= min_blocks <= "
                  "max_blocks");
    Out.BlocksPerSM = static_cast<unsigned>(Bps);
    Out.MinBlocks = static_cast<unsigned>(Lo);
    Out.MaxBlocks = static_cast<unsigned>(Hi);
    return true;
  }

  uint64_t bufferBytes(CudaBuffer B) const {
    switch (B) {
    case CudaBuffer::Weights:
      return Mem.WeightsBytes;
    case CudaBuffer::Kv:
      return Mem.KvBytes;
    case CudaBuffer::Arena:
      return Mem.ArenaBytes;
    case CudaBuffer::Io:
      return Mem.IoBytes;
    }
    return 0;
  }

  bool arg(const JsonValue &V, const std::string &Where, CudaKernelArg &A) {
    if (!V.isObject())
      return fail(Where, "", "must be an object with 'buffer', 'i32' or 'f32'");
    if (const JsonValue *B = V.find(key::kBuffer)) {
      std::string Name(B->asString());
      bool Known = false;
      for (CudaBuffer C : {CudaBuffer::Weights, CudaBuffer::Kv,
                           CudaBuffer::Arena, CudaBuffer::Io})
        if (B->isString() && Name == cudaBufferName(C)) {
          A.Buffer = C;
          Known = true;
        }
      if (!Known)
        return fail(Where, key::kBuffer,
                    "must be one of weights, kv, arena, io");
      if (!u64(V, Where, key::kOffset, A.Offset))
        return false;
      uint64_t Size = bufferBytes(A.Buffer);
      // A pointer one past the end would address the next allocation; an
      // empty buffer is never allocated, so only its (null) base is valid.
      if (A.Offset >= Size && !(A.Offset == 0 && Size == 0))
        return fail(Where, key::kOffset,
                    std::to_string(A.Offset) + " is outside the " + Name +
                        " buffer (" + std::to_string(Size) + " bytes)");
      A.K = CudaKernelArg::Kind::Pointer;
      return true;
    }
    if (const JsonValue *I = V.find(key::kI32)) {
      if (!I->isInt() || I->asInt() < INT32_MIN || I->asInt() > INT32_MAX)
        return fail(Where, key::kI32, "must be a 32-bit integer");
      A.K = CudaKernelArg::Kind::I32;
      A.I32 = static_cast<int32_t>(I->asInt());
      return true;
    }
    if (const JsonValue *F = V.find(key::kF32)) {
      double D = F->asDouble();
      if (!F->isNumber() || !std::isfinite(D) || std::fabs(D) > 3.4028234e38)
        return fail(Where, key::kF32, "must be a finite 32-bit float");
      A.K = CudaKernelArg::Kind::F32;
      A.F32 = static_cast<float>(D);
      return true;
    }
    return fail(Where, "", "must be an object with 'buffer', 'i32' or 'f32'");
  }

  bool launch(const JsonValue &V, const std::string &Where, size_t NumKernels,
              CudaLaunch &L) {
    if (!V.isObject())
      return fail(Where, "", "must be an object");
    uint64_t K = 0;
    if (!u64(V, Where, key::kKernel, K))
      return false;
    if (K >= NumKernels)
      return fail(Where, key::kKernel,
                  std::to_string(K) + " is out of range (" +
                      std::to_string(NumKernels) + " kernels)");
    L.Kernel = static_cast<uint32_t>(K);
    if (!dims(V, Where, key::kGrid, L.Grid) ||
        !dims(V, Where, key::kBlock, L.Block))
      return false;
    uint64_t Threads = uint64_t(L.Block[0]) * L.Block[1] * L.Block[2];
    if (Threads > 1024)
      return fail(Where, key::kBlock,
                  "has " + std::to_string(Threads) +
                      " threads; a CUDA block holds at most 1024");
    if (!persistent(V, Where, L.Persistent))
      return false;
    uint64_t Smem = 0;
    if (!u64(V, Where, key::kSmem, Smem))
      return false;
    if (Smem > 0x7fffffff)
      return fail(Where, key::kSmem, "must be a non-negative integer");
    L.SharedBytes = static_cast<unsigned>(Smem);
    const JsonValue *Args = get(V, Where, key::kArgs);
    if (!Args)
      return false;
    if (!Args->isArray())
      return fail(Where, key::kArgs, "must be an array");
    L.Args.resize(Args->size());
    for (size_t I = 0; I < Args->size(); ++I)
      if (!arg((*Args)[I], Where + ".args[" + std::to_string(I) + "]",
               L.Args[I]))
        return false;
    return true;
  }

  bool step(const JsonValue &Steps, const char *Name, size_t NumKernels,
            std::vector<CudaLaunch> &Out) {
    const JsonValue *V = get(Steps, "cuda.steps", Name);
    if (!V)
      return false;
    if (!V->isArray() || V->size() == 0)
      return fail("cuda.steps", Name, "must be a non-empty array of launches");
    Out.resize(V->size());
    for (size_t I = 0; I < V->size(); ++I)
      if (!launch((*V)[I],
                  std::string("cuda.steps.") + Name + "[" + std::to_string(I) +
                      "]",
                  NumKernels, Out[I]))
        return false;
    return true;
  }

private:
  const ModelInfo &Info;
  std::string &Error;
  DeviceMemoryPlan Mem;
};

} // namespace

bool monocard::parseCudaLaunchPlan(const JsonValue &V, const ModelInfo &Info,
                                   CudaLaunchPlan &Out, std::string &Error) {
  Out = CudaLaunchPlan();
  PlanParser P(Info, Error);
  if (!V.isObject()) {
    Error = "model info: 'cuda' must be an object";
    return false;
  }
  if (!P.arch(V, key::kPtxArch, Out.PtxArch, /*Required=*/true) ||
      !P.arch(V, key::kCubinArch, Out.CubinArch, /*Required=*/false))
    return false;
  const JsonValue *Io = P.get(V, "cuda", key::kIo);
  if (!Io || !P.io(*Io, Out.Io))
    return false;
  const JsonValue *Kernels = P.get(V, "cuda", key::kKernels);
  if (!Kernels || !P.kernels(*Kernels, Out.Kernels))
    return false;
  const JsonValue *Steps = P.get(V, "cuda", key::kSteps);
  if (!Steps)
    return false;
  if (!Steps->isObject())
    return P.fail("cuda", key::kSteps, "must be an object");
  if (!P.step(*Steps, key::kPrefill, Out.Kernels.size(), Out.Prefill) ||
      !P.step(*Steps, key::kDecode, Out.Kernels.size(), Out.Decode))
    return false;
  Out.Present = true;
  return true;
}
