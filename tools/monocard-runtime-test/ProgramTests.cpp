//===- ProgramTests.cpp - Unit tests of the Program room ------------------===//
//
// Model-info validation and the CUDA launch plan: a good info and each
// malformed member with its exact line, and the I/O offsets against
// DeviceMemoryPlan.
//
//===----------------------------------------------------------------------===//

#include "UnitTest.h"

#include "monocard/Runtime/Contract.h"
#include "monocard/Runtime/Program/CudaLaunchPlan.h"
#include "monocard/Runtime/Program/ModelInfo.h"

#include <cstdio>
#include <string>
#include <vector>

using namespace monocard;

static const char *InfoJson =
    R"({"format":1,"target":"cpu","architecture":"LlamaForCausalLM",
    "vocab_size":2048,"hidden_size":256,"num_layers":4,"num_heads":8,
    "num_kv_heads":4,"head_dim":32,"max_seq":256,"prefill_chunk":64,
    "bos_token_id":1,"eos_token_id":2,"weights_bytes":123456,
    "kv_bytes":1048576,"arena_bytes":65536,"fingerprint":"9f1c2a7d3b4e5f60",
    "recipe":[{"param":"model.embed_tokens.weight","offset":0,"dtype":"f32",
    "shape":[2048,256],"sources":["model.embed_tokens.weight"],
    "transform":"convert"}]})";

static std::string infoError(const std::string &From, const std::string &To) {
  std::string J = InfoJson;
  size_t P = J.find(From);
  if (P == std::string::npos)
    return "test bug: no '" + From + "'";
  J.replace(P, From.size(), To);
  ModelInfo I;
  std::string E;
  return parseModelInfo(J, I, E) ? "" : E;
}

static void testModelInfo() {
  ModelInfo I;
  std::string E;
  CHECK(parseModelInfo(InfoJson, I, E));
  CHECK(I.VocabSize == 2048 && I.PrefillChunk == 64 && I.EosTokenId == 2 &&
        I.isEos(2) && !I.isEos(1) && I.FingerprintValue == 0x9f1c2a7d3b4e5f60);
  CHECK(I.Recipe.size() == 1 && I.Recipe[0].Shape[1] == 256 &&
        I.Recipe[0].Sources[0] == "model.embed_tokens.weight");
  CHECK(infoError("\"eos_token_id\":2", "\"eos_token_id\":[2,7]").empty());
  CHECK(infoError("\"bos_token_id\":1", "\"bos_token_id\":null").empty());
  CHECK(infoError("\"format\":1", "\"format\":2") ==
        "model info has format 2; this launcher reads format 1");
  CHECK(infoError("\"vocab_size\":2048,", "") ==
        "model info: 'vocab_size' is missing");
  CHECK(infoError("\"head_dim\":32", "\"head_dim\":-32") ==
        "model info: 'head_dim' must be a positive integer");
  CHECK(infoError("9f1c2a7d3b4e5f60", "9F1C") ==
        "model info: 'fingerprint' must be 16 lowercase hex digits");
  CHECK(infoError("\"offset\":0", "\"offset\":8") ==
        "model info: recipe entry 'model.embed_tokens.weight': 'offset' "
        "must be a multiple of 64");
  CHECK(infoError("{\"format\"", "[{\"format\"").substr(0, 27) ==
        "model info is not valid JSO");
  // The optional recipe members (docs/packed-weights-format.md).
  std::string Q = InfoJson, F32 = "\"dtype\":\"f32\"";
  Q.replace(Q.find(F32), F32.size(),
            "\"dtype\":\"i4\",\"pair_rows\":[0,2048,2048],\"quant\":"
            "{\"bits\":4,\"group\":64,\"scale_dtype\":\"bf16\","
            "\"scales_offset\":128,\"row_bytes\":128}");
  CHECK(parseModelInfo(Q, I, E));
  CHECK(I.Recipe[0].PairRows == std::vector<int64_t>({0, 2048, 2048}) &&
        I.Recipe[0].Quant && I.Recipe[0].Quant->Bits == 4 &&
        I.Recipe[0].Quant->Group == 64 &&
        I.Recipe[0].Quant->ScaleDType == "bf16" &&
        I.Recipe[0].Quant->ScalesOffset == 128 &&
        I.Recipe[0].Quant->RowBytes == 128 &&
        I.Recipe[0].Quant->groups(256) == 4);
  CHECK(parseModelInfo(InfoJson, I, E) && I.Recipe[0].PairRows.empty() &&
        !I.Recipe[0].Quant);
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(formatFingerprint(0xaf63dc4c8601ec8cULL) == "af63dc4c8601ec8c");
}

// A CUDA model's info: the CPU one's members plus the launch plan. Sizes:
// vocab 97 and prefill_chunk 4 put the tokens at 512 and the scalars at 768.
static const char *CudaInfoJson =
    R"({"format":1,"target":"cuda","architecture":"LlamaForCausalLM",
    "vocab_size":97,"hidden_size":4,"num_layers":1,"num_heads":1,
    "num_kv_heads":1,"head_dim":4,"max_seq":16,"prefill_chunk":4,
    "eos_token_id":2,"weights_bytes":16,"kv_bytes":64,"arena_bytes":64,
    "fingerprint":"0123456789abcdef","recipe":[],
    "cuda":{"ptx_arch":"sm_80","cubin_arch":"sm_90",
    "io":{"bytes":1024,"logits":0,"tokens":512,"pos":768,"n_valid":772,
    "next_token":776,"temperature":780,"seed":784,"counter":788},
    "kernels":["embed","sample"],
    "steps":{"prefill":[{"kernel":0,"grid":[64,2,1],"block":[256,1,1],
    "smem":1024,"args":[{"buffer":"io","offset":512},
    {"buffer":"weights","offset":0},{"buffer":"arena","offset":32},
    {"i32":-7},{"f32":0.5}]}],
    "decode":[{"kernel":1,"grid":[1,1,1],"block":[32,1,1],"smem":0,
    "args":[{"buffer":"kv","offset":60}]}]}}})";

static std::string cudaInfoError(const std::string &From,
                                 const std::string &To) {
  std::string J = CudaInfoJson;
  size_t P = J.find(From);
  if (P == std::string::npos)
    return "test bug: no '" + From + "'";
  J.replace(P, From.size(), To);
  ModelInfo I;
  std::string E;
  return parseModelInfo(J, I, E) ? "" : E;
}

static void testCudaLaunchPlan() {
  ModelInfo I;
  std::string E;
  CHECK(parseModelInfo(CudaInfoJson, I, E));
  const CudaLaunchPlan &C = I.Cuda;
  CHECK(C.Present && C.PtxArch == "sm_80" && C.CubinArch == "sm_90");
  CHECK(C.Kernels == std::vector<std::string>({"embed", "sample"}));
  CHECK(C.Prefill.size() == 1 && C.Decode.size() == 1);
  const CudaLaunch &L = C.Prefill[0];
  CHECK(L.Kernel == 0 && L.Grid[0] == 64 && L.Grid[1] == 2 && L.Grid[2] == 1 &&
        L.Block[0] == 256 && L.SharedBytes == 1024 && L.Args.size() == 5);
  CHECK(L.Args[0].K == CudaKernelArg::Kind::Pointer &&
        L.Args[0].Buffer == CudaBuffer::Io && L.Args[0].Offset == 512);
  CHECK(L.Args[2].Buffer == CudaBuffer::Arena && L.Args[2].Offset == 32);
  CHECK(L.Args[3].K == CudaKernelArg::Kind::I32 && L.Args[3].I32 == -7);
  CHECK(L.Args[4].K == CudaKernelArg::Kind::F32 && L.Args[4].F32 == 0.5f);
  CHECK(C.Decode[0].Args[0].Buffer == CudaBuffer::Kv);
  // The JSON's I/O offsets are DeviceMemoryPlan's: one layout, two writers.
  DeviceMemoryPlan M = DeviceMemoryPlan::forModel(I);
  CHECK(M.IoBytes == 1024 && M.Io.bytes == 1024 && C.Io.bytes == 1024 &&
        M.Io.tokens == 512 && C.Io.tokens == 512 && M.Io.scalars == 768 &&
        C.Io.scalars == 768 && C.Io.scalar(contract::kNextToken) == 776 &&
        C.Io.scalar(contract::kCounter) == 788 && C.Io.logits == 0);
  CHECK(M.totalBytes() == 16 + 64 + 64 + 1024);
  // No cubin: its architecture is "" or absent.
  CHECK(
      cudaInfoError("\"cubin_arch\":\"sm_90\"", "\"cubin_arch\":\"\"").empty());
  CHECK(cudaInfoError("\"cubin_arch\":\"sm_90\",", "").empty());
  CHECK(cudaInfoError("\"cubin_arch\":\"sm_90\"", "\"cubin_arch\":90") ==
        "model info: cuda: 'cubin_arch' must be a GPU architecture like "
        "\"sm_80\"");
  // A CPU model may omit the plan.
  CHECK(infoError("\"target\":\"cpu\"", "\"target\":\"cpu\"").empty());
  CHECK(parseSmArch("sm_80") == 80 && parseSmArch("sm_90a") == 90 &&
        parseSmArch("sm_100f") == 100 && parseSmArch("sm_") == -1 &&
        parseSmArch("compute_80") == -1 && parseSmArch("sm_8x") == -1);

  struct Case {
    const char *From, *To, *Error;
  } Cases[] = {
      {"\"cuda\":{", "\"cudax\":{",
       "model info: 'cuda' is missing (the target is 'cuda')"},
      {"\"cuda\":{\"ptx_arch\":\"sm_80\",", "\"cuda\":[0],\"x\":{",
       "model info: 'cuda' must be an object"},
      {"\"ptx_arch\":\"sm_80\"", "\"ptx_arch\":\"compute_80\"",
       "model info: cuda: 'ptx_arch' must be a GPU architecture like "
       "\"sm_80\""},
      {"\"ptx_arch\":\"sm_80\",", "",
       "model info: cuda: 'ptx_arch' is missing"},
      {"\"io\":{", "\"iox\":{", "model info: cuda: 'io' is missing"},
      {"\"tokens\":512", "\"tokens\":500",
       "model info: cuda.io: 'tokens' is 500 but this launcher's I/O layout "
       "has 512 (vocab_size 97, prefill_chunk 4)"},
      {"\"bytes\":1024", "\"bytes\":1280",
       "model info: cuda.io: 'bytes' is 1280 but this launcher's I/O layout "
       "has 1024 (vocab_size 97, prefill_chunk 4)"},
      {"\"counter\":788", "\"counter\":-1",
       "model info: cuda.io: 'counter' must be a non-negative integer"},
      {"\"seed\":784,", "", "model info: cuda.io: 'seed' is missing"},
      {"[\"embed\",\"sample\"]", "[]",
       "model info: cuda: 'kernels' must be a non-empty array of kernel "
       "names"},
      {"[\"embed\",\"sample\"]", "[\"embed\",7]",
       "model info: cuda: 'kernels' must be a non-empty array of kernel "
       "names"},
      {"\"steps\":{", "\"steps\":[],\"x\":{",
       "model info: cuda: 'steps' must be an object"},
      {"\"decode\":[{", "\"decode\":[],\"x\":[{",
       "model info: cuda.steps: 'decode' must be a non-empty array of "
       "launches"},
      {"\"prefill\":", "\"prefillx\":",
       "model info: cuda.steps: 'prefill' is missing"},
      {"\"kernel\":0", "\"kernel\":2",
       "model info: cuda.steps.prefill[0]: 'kernel' 2 is out of range (2 "
       "kernels)"},
      {"\"kernel\":1", "\"kernel\":-1",
       "model info: cuda.steps.decode[0]: 'kernel' must be a non-negative "
       "integer"},
      {"\"grid\":[64,2,1]", "\"grid\":[64,0,1]",
       "model info: cuda.steps.prefill[0]: 'grid' must be 3 positive "
       "integers"},
      {"\"grid\":[64,2,1]", "\"grid\":[64,2]",
       "model info: cuda.steps.prefill[0]: 'grid' must be 3 positive "
       "integers"},
      {"\"block\":[256,1,1]", "\"block\":[256,4,2]",
       "model info: cuda.steps.prefill[0]: 'block' has 2048 threads; a CUDA "
       "block holds at most 1024"},
      {"\"smem\":1024,", "",
       "model info: cuda.steps.prefill[0]: 'smem' is missing"},
      {"\"smem\":1024", "\"smem\":1.5",
       "model info: cuda.steps.prefill[0]: 'smem' must be a non-negative "
       "integer"},
      {"\"args\":[{\"buffer\":\"kv\",\"offset\":60}]",
       "\"args\":{\"buffer\":\"kv\",\"offset\":60}",
       "model info: cuda.steps.decode[0]: 'args' must be an array"},
      {"{\"buffer\":\"io\",\"offset\":512}",
       "{\"buffer\":\"host\","
       "\"offset\":512}",
       "model info: cuda.steps.prefill[0].args[0]: 'buffer' must be one of "
       "weights, kv, arena, io"},
      {"{\"buffer\":\"io\",\"offset\":512}", "{\"buffer\":\"io\"}",
       "model info: cuda.steps.prefill[0].args[0]: 'offset' is missing"},
      {"{\"buffer\":\"kv\",\"offset\":60}", "{\"buffer\":\"kv\",\"offset\":64}",
       "model info: cuda.steps.decode[0].args[0]: 'offset' 64 is outside the "
       "kv buffer (64 bytes)"},
      {"{\"buffer\":\"io\",\"offset\":512}",
       "{\"buffer\":\"io\","
       "\"offset\":1024}",
       "model info: cuda.steps.prefill[0].args[0]: 'offset' 1024 is outside "
       "the io buffer (1024 bytes)"},
      {"{\"i32\":-7}", "{\"i32\":2147483648}",
       "model info: cuda.steps.prefill[0].args[3]: 'i32' must be a 32-bit "
       "integer"},
      {"{\"i32\":-7}", "{\"i32\":1.5}",
       "model info: cuda.steps.prefill[0].args[3]: 'i32' must be a 32-bit "
       "integer"},
      {"{\"f32\":0.5}", "{\"f32\":\"0.5\"}",
       "model info: cuda.steps.prefill[0].args[4]: 'f32' must be a finite "
       "32-bit float"},
      {"{\"f32\":0.5}", "{\"f32\":1e39}",
       "model info: cuda.steps.prefill[0].args[4]: 'f32' must be a finite "
       "32-bit float"},
      {"{\"f32\":0.5}", "{\"u8\":1}",
       "model info: cuda.steps.prefill[0].args[4]: must be an object with "
       "'buffer', 'i32' or 'f32'"},
      {"{\"f32\":0.5}", "0.5",
       "model info: cuda.steps.prefill[0].args[4]: must be an object with "
       "'buffer', 'i32' or 'f32'"},
  };
  for (const Case &K : Cases) {
    std::string Got = cudaInfoError(K.From, K.To);
    if (Got != K.Error)
      std::printf("FAIL cuda plan case '%s' -> '%s':\n  got:  %s\n  want: %s\n",
                  K.From, K.To, Got.c_str(), K.Error);
    CHECK(Got == K.Error);
  }
}

/// The compiler-runtime contract (Contract.h): its layout for known sizes,
/// and the line a launcher prints for a program of another format.
static void testContract() {
  using namespace contract;
  constexpr IoLayout L = ioLayout(97, 4);
  static_assert(L.logits == 0 && L.tokens == 512 && L.scalars == 768 &&
                    L.bytes == 1024,
                "the layout is computable at compile time");
  // Llama 3's vocabulary and a 64-token chunk: 128256 * 4 bytes of logits
  // is already 256-aligned; the tokens take one 256-byte block.
  IoLayout B = ioLayout(128256, 64);
  CHECK(B.logits == 0 && B.tokens == 513024 && B.scalars == 513280 &&
        B.bytes == 513536);
  CHECK(B.scalar(kPos) == 513280 && B.scalar(kNValid) == 513284 &&
        B.scalar(kNextToken) == 513288 && B.scalar(kTemperature) == 513292 &&
        B.scalar(kSeed) == 513296 && B.scalar(kCounter) == 513300);
  // A partial block rounds up; the scalar block is one aligned block.
  IoLayout S = ioLayout(1, 1);
  CHECK(S.tokens == 256 && S.scalars == 512 && S.bytes == 768);
  CHECK(kNumScalars * kScalarBytes <= kIoAlign);
  // Every used slot has a key, in slot order.
  bool Ordered = sizeof(kScalarKeys) / sizeof(kScalarKeys[0]) == 6;
  for (size_t I = 0; I < sizeof(kScalarKeys) / sizeof(kScalarKeys[0]); ++I)
    Ordered &= kScalarKeys[I].Slot == static_cast<ScalarSlot>(I);
  CHECK(Ordered);
  CHECK(std::string(abiBufferName(AbiBuffer::Weights)) == "weights" &&
        std::string(abiBufferName(AbiBuffer::Io)) == "io" &&
        std::string(cudaBufferName(CudaBuffer::Arena)) == "arena");

  // A program of another format is refused with one line naming both.
  std::string Next = std::to_string(kModelInfoFormat + 1);
  std::string Ours = std::to_string(kModelInfoFormat);
  CHECK(infoError("\"format\":1", "\"format\":" + Next) ==
        "model info has format " + Next + "; this launcher reads format " +
            Ours);
  CHECK(infoError("\"format\":1", "\"format\":0") ==
        "model info has format 0; this launcher reads format " + Ours);
  CHECK(infoError("\"format\":1", "\"format\":" + Next).find('\n') ==
        std::string::npos);
}

void runProgramTests() {
  testModelInfo();
  testCudaLaunchPlan();
  testContract();
}
