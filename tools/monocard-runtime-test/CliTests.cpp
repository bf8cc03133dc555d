//===- CliTests.cpp - Unit tests of the Cli room --------------------------===//
//
// The sampler, command-line parsing, the perplexity helpers and the
// synthetic --bench prompt.
//
//===----------------------------------------------------------------------===//

#include "UnitTest.h"

#include "monocard/Runtime/Cli/CommandLine.h"
#include "monocard/Runtime/Cli/Generate.h"
#include "monocard/Runtime/Cli/Perplexity.h"
#include "monocard/Runtime/Cli/Sampler.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace monocard;

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
  // --verify stands alone (with --weights).
  CHECK(parse({"--verify", "--weights", "w"}, O, E) == ParseResult::Ok &&
        O.Verify && O.WeightsPath == "w");
  CHECK(parse({"--verify=1"}, O, E) == ParseResult::UsageError &&
        E == "option '--verify' takes no value");
  for (auto &C : Clash) {
    std::vector<const char *> A = {"--verify", C[0]};
    if (C[1])
      A.push_back(C[1]);
    CHECK(parse(A, O, E) == ParseResult::UsageError &&
          E.find("--verify checks the weights file") == 0);
  }
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

static void testSyntheticPrompt() {
  std::vector<int32_t> P = syntheticPrompt(128, 50);
  bool InRange = P.size() == 128;
  for (int32_t T : P)
    InRange &= T >= 0 && T < 50;
  CHECK(InRange);
}

void runCliTests() {
  testSampler();
  testCommandLine();
  testPerplexity();
  testSyntheticPrompt();
}
