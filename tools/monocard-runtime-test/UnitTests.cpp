//===- UnitTests.cpp - Unit tests of the launcher library -----------------===//
//
// Pure functions with exact expected values: dtype conversions (exhaustive
// where the domain is 16 bits), the sampler, the thread pool, .npy headers,
// command-line parsing and model-info validation. Ends with the line
// "N passed, M failed".
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/CommandLine.h"
#include "monocard/Runtime/CudaDevice.h"
#include "monocard/Runtime/DType.h"
#include "monocard/Runtime/Generate.h"
#include "monocard/Runtime/ModelInfo.h"
#include "monocard/Runtime/Npy.h"
#include "monocard/Runtime/Perplexity.h"
#include "monocard/Runtime/Sampler.h"
#include "monocard/Runtime/ThreadPool.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

using namespace monocard;

static int Passed = 0, Failed = 0;

#define CHECK(Cond)                                                            \
  do {                                                                         \
    if (Cond) {                                                                \
      ++Passed;                                                                \
    } else {                                                                   \
      ++Failed;                                                                \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #Cond);              \
    }                                                                          \
  } while (0)

static float bits(uint32_t U) {
  float F;
  std::memcpy(&F, &U, 4);
  return F;
}

static void testDType() {
  // Every half widens exactly and narrows back to itself (NaNs stay NaN).
  int Bad = 0;
  for (uint32_t H = 0; H < 65536; ++H) {
    float F = halfToFloat(static_cast<uint16_t>(H));
    uint16_t Back = floatToHalf(F);
    bool IsNaN = (H & 0x7c00) == 0x7c00 && (H & 0x3ff);
    Bad += IsNaN ? !std::isnan(F) || (Back & 0x7fff) <= 0x7c00 : Back != H;
    Bad += bfloat16ToFloat(floatToBfloat16(bfloat16ToFloat(
               static_cast<uint16_t>(H)))) != bfloat16ToFloat(H) &&
           !std::isnan(bfloat16ToFloat(H));
  }
  CHECK(Bad == 0);
  CHECK(halfToFloat(0x0001) == std::ldexp(1.0f, -24)); // smallest subnormal
  CHECK(halfToFloat(0x7bff) == 65504.0f);
  CHECK(floatToHalf(65519.0f) == 0x7bff); // below the halfway point
  CHECK(floatToHalf(65520.0f) == 0x7c00); // ties to even = inf
  CHECK(floatToHalf(1e10f) == 0x7c00);
  CHECK(floatToHalf(-std::numeric_limits<float>::infinity()) == 0xfc00);
  CHECK(floatToHalf(std::ldexp(1.0f, -25)) == 0x0000); // tie to even: 0
  CHECK(floatToHalf(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(floatToHalf(std::ldexp(3.0f, -25)) == 0x0002); // 1.5 ulp ties to 2
  CHECK(floatToHalf(bits(0x387fe000)) == 0x0400);      // rounds up to normal
  CHECK(floatToHalf(1.0f + std::ldexp(1.0f, -11)) == 0x3c00); // tie to even
  CHECK(floatToHalf(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);
  CHECK(floatToHalf(-0.0f) == 0x8000);
  CHECK((floatToHalf(std::numeric_limits<float>::quiet_NaN()) & 0x7e00) ==
        0x7e00);
  CHECK(floatToBfloat16(bits(0x3f808000)) == 0x3f80); // tie to even (down)
  CHECK(floatToBfloat16(bits(0x3f818000)) == 0x3f82); // tie to even (up)
  CHECK(floatToBfloat16(bits(0x3f808001)) == 0x3f81);
  CHECK(floatToBfloat16(bits(0x7f7fffff)) == 0x7f80); // max float -> inf
  CHECK(floatToBfloat16(bits(0x7f800001)) != 0x7f80); // NaN stays NaN
  CHECK(floatToBfloat16(bits(0x00000001)) == 0x0000); // f32 subnormal
  // Bulk conversion, unaligned buffers, through f32.
  unsigned char Src[9] = {0, 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}, Dst[13];
  convertElements(Src + 1, DType::F16, Dst + 1, DType::F32, 3);
  float Out[3];
  std::memcpy(Out, Dst + 1, 12);
  CHECK(Out[0] == 1.0f && Out[1] == -2.0f && Out[2] == std::ldexp(1.0f, -24));
  // The bulk loops' branch-free forms agree with the scalar ones: f16 -> f32
  // on all 2^16 patterns, f32 -> f16/bf16 on every 2^32 / 4099th pattern
  // plus all patterns around the f16 subnormal, overflow and NaN edges
  // (checked exhaustively once by hand).
  int BadBulk = 0;
  for (uint32_t H = 0; H < 65536; ++H) {
    float A = halfToFloat(static_cast<uint16_t>(H));
    float B = halfToFloatBulkForm(static_cast<uint16_t>(H));
    BadBulk += std::memcmp(&A, &B, 4) != 0;
  }
  auto CheckNarrow = [&](uint32_t U) {
    float F = bits(U);
    BadBulk += floatToHalfBulkForm(F) != floatToHalf(F);
    BadBulk += floatToBfloat16BulkForm(F) != floatToBfloat16(F);
  };
  for (uint64_t U = 0; U < (1ull << 32); U += 4099)
    CheckNarrow(static_cast<uint32_t>(U));
  for (uint32_t Edge : {0x33000000u, 0x38800000u, 0x477ff000u, 0x7f800000u})
    for (uint32_t D = 0; D < 8192; ++D)
      for (uint32_t Sign : {0u, 0x80000000u}) {
        CheckNarrow(Sign | (Edge + D));
        CheckNarrow(Sign | (Edge - D - 1));
      }
  CHECK(BadBulk == 0);
  DType T;
  CHECK(parseRecipeDType("bf16", T) && T == DType::BF16);
  CHECK(!parseRecipeDType("BF16", T) && parseSafetensorsDType("BF16", T));
  CHECK(!parseSafetensorsDType("I8", T));
}

static void testSampler() {
  const float NaN = std::numeric_limits<float>::quiet_NaN();
  float Ties[] = {1, 3, 3, 2}, WithNaN[] = {NaN, 1, NaN, 5, 5};
  CHECK(argmaxLogits(Ties, 4) == 1);
  CHECK(argmaxLogits(WithNaN, 5) == 3);
  // The generator is xoshiro256** seeded by splitmix64: fixed values.
  Rng R(42);
  CHECK(R.next() == 1546998764402558742ULL);
  CHECK(R.next() == 6990951692964543102ULL);
  float L[] = {0, std::log(2.0f), std::log(3.0f)};
  auto Freq = [&](SamplerOptions O, int Draws) {
    Sampler S(O, 3);
    std::vector<int> C(3);
    for (int I = 0; I < Draws; ++I)
      ++C[S.sample(L)];
    return C;
  };
  SamplerOptions O;
  CHECK(Freq(O, 10)[2] == 10); // greedy
  O.Temperature = 1;
  O.Seed = 7;
  std::vector<int> C = Freq(O, 60000);
  CHECK(std::abs(C[0] - 10000) < 600 && std::abs(C[2] - 30000) < 600);
  O.TopK = 2;
  C = Freq(O, 20000);
  CHECK(C[0] == 0 && std::abs(C[1] - 8000) < 500);
  O.TopK = 0;
  O.TopP = 0.5f; // {1/2} reaches 0.5: only the top token
  CHECK(Freq(O, 100)[2] == 100);
  O.TopP = 0.6f; // {1/2, 1/3}, renormalised to 0.6 / 0.4
  C = Freq(O, 20000);
  CHECK(C[0] == 0 && std::abs(C[1] - 8000) < 500);
  O.TopP = 1;
  O.Seed = 99;
  CHECK(Freq(O, 50) == Freq(O, 50)); // same seed, same draws
}

static void body(void *Ctx, int64_t B, int64_t E) {
  auto *Hits = static_cast<std::vector<std::atomic<int>> *>(Ctx);
  for (int64_t I = B; I < E; ++I)
    ++(*Hits)[I];
}

static void nested(void *Ctx, int64_t B, int64_t E) {
  for (int64_t I = B; I < E; ++I)
    monocard_parallel_for(3, body, Ctx); // runs inline
}

static void testThreadPool() {
  for (int Threads : {1, 2, 5}) {
    setThreadCount(Threads);
    CHECK(getThreadCount() == Threads);
    for (int64_t N : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> Hits(N + 1);
      for (int Rep = 0; Rep < 200; ++Rep)
        monocard_parallel_for(N, body, &Hits);
      bool Ok = Hits[N] == 0;
      for (int64_t I = 0; I < N; ++I)
        Ok &= Hits[I] == 200;
      CHECK(Ok);
    }
    std::vector<std::atomic<int>> Hits(3);
    monocard_parallel_for(4, nested, &Hits);
    CHECK(Hits[0] == 4 && Hits[2] == 4);
  }
  shutdownThreadPool();
}

static void testNpy() {
  std::string H = npyHeaderF32(3, 2048);
  CHECK(H.size() == 128 && H.compare(0, 6, "\x93NUMPY") == 0);
  CHECK(H.find("'descr': '<f4', 'fortran_order': False, "
               "'shape': (3, 2048), }") != std::string::npos);
  CHECK(H.back() == '\n' && H[8] == 118 && H[9] == 0);
}

static ParseResult parse(std::vector<const char *> Args, LauncherOptions &O,
                         std::string &E) {
  Args.insert(Args.begin(), "model");
  return parseCommandLine(static_cast<int>(Args.size()), Args.data(), O, E);
}

static void testCommandLine() {
  LauncherOptions O;
  std::string E;
  CHECK(parse({"--tokens", "1, 2,3", "-n", "5", "--temperature=0.5", "--top-k",
               "4", "--top-p", "0.9", "--seed", "7", "--json"},
              O, E) == ParseResult::Ok);
  CHECK(O.Tokens == std::vector<int64_t>({1, 2, 3}) && O.NumTokens == 5 &&
        O.Temperature == 0.5f && O.TopK == 4 && O.TopP == 0.9f && O.Seed == 7 &&
        O.Json);
  CHECK(parse({"--pack", "dir", "-o", "x.weights"}, O, E) == ParseResult::Ok &&
        O.PackDir == "dir" && O.PackOut == "x.weights");
  CHECK(parse({"--bench"}, O, E) == ParseResult::Ok && O.NumTokens == 64);
  CHECK(parse({"--tokens", "1", "--help"}, O, E) == ParseResult::Help);
  CHECK(parse({"--tokens", "1", "-n", "12abc"}, O, E) ==
            ParseResult::UsageError &&
        E == "option '-n' expects a non-negative integer, got '12abc'");
  CHECK(parse({"--tokens", "1,x"}, O, E) == ParseResult::UsageError);
  CHECK(parse({"--tokens", "1", "--top-p", "0"}, O, E) ==
        ParseResult::UsageError);
  CHECK(parse({"--tokens", "1", "--temperature", "inf"}, O, E) ==
        ParseResult::UsageError);
  CHECK(parse({"--prompt", "a", "--tokens", "1"}, O, E) ==
        ParseResult::UsageError);
  CHECK(parse({"--tokens"}, O, E) == ParseResult::UsageError &&
        E == "option '--tokens' needs a value");
  CHECK(parse({"--frobnicate"}, O, E) == ParseResult::UsageError);
  CHECK(parse({}, O, E) == ParseResult::UsageError);
  // --perplexity stands alone (with --json, --threads, --weights).
  CHECK(parse({"--perplexity", "t.txt", "--json", "--threads", "2"}, O, E) ==
            ParseResult::Ok &&
        O.Perplexity && O.PerplexityFile == "t.txt" && O.Json);
  const char *Clash[][2] = {{"--tokens", "1"},     {"--prompt", "a"},
                            {"-n", "3"},           {"--temperature", "1"},
                            {"--logits-out", "x"}, {"--seed", "2"},
                            {"--bench", nullptr}};
  for (auto &C : Clash) {
    std::vector<const char *> A = {"--perplexity", "t.txt", C[0]};
    if (C[1])
      A.push_back(C[1]);
    CHECK(parse(A, O, E) == ParseResult::UsageError &&
          E.find("--perplexity scores a text") == 0);
  }
  CHECK(parse({"--pack", "d", "--perplexity", "t"}, O, E) ==
        ParseResult::UsageError);
  CHECK(parse({"--perplexity"}, O, E) == ParseResult::UsageError &&
        E == "option '--perplexity' needs a value");
  CHECK(parse({"--perplexity="}, O, E) == ParseResult::UsageError);
}

static void testPerplexity() {
  using V = std::vector<std::string>;
  CHECK(splitDocuments("a\nb\n%\nc\n") == V({"a\nb", "c"}));
  CHECK(splitDocuments("a\n%\n%\n  \n%\nb") == V({"a", "b"}));
  CHECK(splitDocuments("%\r\nx\r\n%\r\n") == V({"x\r"}));
  CHECK(splitDocuments("no separator\n\nat all\n") ==
        V({"no separator\n\nat all"}));
  CHECK(splitDocuments("a %\n%%\n") == V({"a %\n%%"}));
  CHECK(splitDocuments("").empty() && splitDocuments("\n%\n \n").empty());

  // -log softmax, against log-sum-exp by hand; huge logits stay finite.
  float L[4] = {1.0f, 3.0f, 3.0f, -2.0f};
  int32_t Arg = -1;
  double Z = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(-2.0);
  CHECK(std::fabs(tokenNll(L, 4, 0, Arg) - (std::log(Z) - 1.0)) < 1e-12 &&
        Arg == 1);
  float Big[3] = {1000.0f, 999.0f, -1000.0f};
  double NBig = tokenNll(Big, 3, 1, Arg);
  CHECK(Arg == 0 &&
        std::fabs(NBig - (1.0 + std::log1p(std::exp(-1.0)))) < 1e-9);
  float Bad[3] = {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f};
  CHECK(std::isnan(tokenNll(Bad, 3, 0, Arg)));
  float Inf[2] = {std::numeric_limits<float>::infinity(), 0.0f};
  CHECK(std::isnan(tokenNll(Inf, 2, 1, Arg)));

  // FIPS 180-2 test vectors (one block, two blocks, the padding edge).
  CHECK(sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
                         "a495991b7852b855");
  CHECK(sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9c"
                            "b410ff61f20015ad");
  CHECK(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256Hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(argmaxText({5, 0, 12}) == "5,0,12" && argmaxText({}).empty());
}

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
  std::vector<int32_t> P = syntheticPrompt(128, 50);
  bool InRange = P.size() == 128;
  for (int32_t T : P)
    InRange &= T >= 0 && T < 50;
  CHECK(InRange);
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
  CHECK(M.IoBytes == C.Io.Bytes && M.TokensOffset == C.Io.Tokens &&
        M.ScalarsOffset == C.Io.Pos && M.ScalarsOffset + 8 == C.Io.NextToken &&
        M.ScalarsOffset + 20 == C.Io.Counter && C.Io.Logits == 0);
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

int runUnitTests() {
  testDType();
  testSampler();
  testThreadPool();
  testNpy();
  testCommandLine();
  testPerplexity();
  testModelInfo();
  testCudaLaunchPlan();
  std::printf("%d passed, %d failed\n", Passed, Failed);
  return Failed != 0;
}
