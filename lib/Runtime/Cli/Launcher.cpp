//===- Launcher.cpp - The program around a compiled model -----------------===//
//
// Order matters for error reporting: the command line is checked before
// anything is loaded, the weights before memory is allocated, and the prompt
// before the first step runs, so every user mistake is one clear line and no
// step ever sees bad input.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cli/Launcher.h"

#include "monocard/Runtime/Cli/CommandLine.h"
#include "monocard/Runtime/Cli/Perplexity.h"
#include "monocard/Runtime/Cpu/CpuSteps.h"
#include "monocard/Runtime/Cpu/ThreadPool.h"
#include "monocard/Runtime/Support/Json.h"
#include "monocard/Runtime/Support/Npy.h"
#include "monocard/Runtime/Tokenizer/Tokenizer.h"
#include "monocard/Runtime/Weights/Packer.h"
#include "monocard/Runtime/Weights/WeightsFile.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits.h>
#include <map>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

using namespace monocard;

namespace {

int fail(const std::string &Message) {
  std::fprintf(stderr, "error: %s\n", Message.c_str());
  return 1;
}

void note(const std::string &Message) {
  std::fprintf(stderr, "note: %s\n", Message.c_str());
}

/// <program>.weights: next to the program as invoked, or next to the real
/// executable when it was found through PATH (argv[0] has no slash).
std::string defaultWeightsPath(const std::string &Program) {
  if (Program.find('/') == std::string::npos) {
    char Buf[PATH_MAX];
    ssize_t N = ::readlink("/proc/self/exe", Buf, sizeof(Buf) - 1);
    if (N > 0)
      return std::string(Buf, static_cast<size_t>(N)) + ".weights";
  }
  return Program + ".weights";
}

/// A JSON number; rates of zero-length runs come out as 0, never inf/nan.
std::string num(double V) {
  if (!(V == V) || V > 1e300 || V < -1e300)
    V = 0;
  char Buf[64];
  std::snprintf(Buf, sizeof(Buf), "%.6g", V);
  return Buf;
}

double rate(double Count, double Seconds) {
  return Seconds > 0 ? Count / Seconds : 0;
}

std::string idList(const std::vector<int32_t> &Ids, const char *Sep) {
  std::string S;
  for (size_t I = 0; I < Ids.size(); ++I)
    S += (I ? Sep : "") + std::to_string(Ids[I]);
  return S;
}

std::string mib(uint64_t Bytes) {
  char Buf[64];
  std::snprintf(Buf, sizeof(Buf), "%.2f MiB", Bytes / 1048576.0);
  return Buf;
}

uint64_t peakRssBytes() {
  struct rusage U;
  return ::getrusage(RUSAGE_SELF, &U) == 0
             ? static_cast<uint64_t>(U.ru_maxrss) * 1024
             : 0;
}

int runBench(ModelRunner &Runner, const LauncherOptions &O,
             std::vector<int32_t> Prompt) {
  const ModelInfo &Info = Runner.info();
  int64_t Steps = O.NumTokens;
  if (!O.HasPrompt && !O.HasTokens) {
    // 128 synthetic tokens, fewer if that leaves no room for the steps.
    int64_t P = std::min<int64_t>(128, Info.MaxSeq);
    P = std::max<int64_t>(1, std::min(P, Info.MaxSeq - Steps));
    Prompt = syntheticPrompt(P, Info.VocabSize);
  }
  int64_t P = static_cast<int64_t>(Prompt.size());
  if (P + Steps > Info.MaxSeq) {
    Steps = Info.MaxSeq - P;
    note("running " + std::to_string(Steps) +
         " decode steps: that fills max_seq (" + std::to_string(Info.MaxSeq) +
         ")");
  }
  BenchResult B;
  std::string Error;
  if (!benchmark(Runner, Prompt, Steps, B, Error))
    return fail(Error);
  std::vector<BenchFact> Facts = Runner.backend().benchFacts();
  double PrefillRate = rate(B.PromptTokens, B.PrefillSeconds);
  double DecodeRate = rate(B.DecodeSteps, B.DecodeSeconds);
  double MsPerToken =
      B.DecodeSteps ? 1000.0 * B.DecodeSeconds / B.DecodeSteps : 0;
  uint64_t Total = Info.WeightsBytes + Info.KvBytes + Info.ArenaBytes;
  uint64_t Rss = peakRssBytes();
  if (O.Json) {
    std::string J = "{\"architecture\":" + jsonQuote(Info.Architecture) +
                    ",\"target\":" + jsonQuote(Info.Target) +
                    ",\"threads\":" + std::to_string(B.Threads) +
                    ",\"prompt_tokens\":" + std::to_string(B.PromptTokens) +
                    ",\"decode_steps\":" + std::to_string(B.DecodeSteps) +
                    ",\"prefill_seconds\":" + num(B.PrefillSeconds) +
                    ",\"prefill_tokens_per_s\":" + num(PrefillRate) +
                    ",\"decode_seconds\":" + num(B.DecodeSeconds) +
                    ",\"decode_tokens_per_s\":" + num(DecodeRate) +
                    ",\"ms_per_token\":" + num(MsPerToken) +
                    ",\"weights_bytes\":" + std::to_string(Info.WeightsBytes) +
                    ",\"kv_bytes\":" + std::to_string(Info.KvBytes) +
                    ",\"arena_bytes\":" + std::to_string(Info.ArenaBytes) +
                    ",\"total_bytes\":" + std::to_string(Total) +
                    ",\"peak_rss_bytes\":" + std::to_string(Rss);
    for (const BenchFact &F : Facts)
      J += "," + jsonQuote(F.Key) + ":" + F.Json;
    J += "}";
    std::printf("%s\n", J.c_str());
    return 0;
  }
  std::printf("model:   %s, %lld layers, vocab %lld, max_seq %lld (%s, %d "
              "threads)\n",
              Info.Architecture.c_str(), static_cast<long long>(Info.NumLayers),
              static_cast<long long>(Info.VocabSize),
              static_cast<long long>(Info.MaxSeq), Info.Target.c_str(),
              B.Threads);
  std::printf("prefill: %lld tokens in %.3f ms = %.1f tokens/s\n",
              static_cast<long long>(B.PromptTokens), B.PrefillSeconds * 1000,
              PrefillRate);
  std::printf("decode:  %lld tokens in %.3f ms = %.1f tokens/s (%.3f "
              "ms/token)\n",
              static_cast<long long>(B.DecodeSteps), B.DecodeSeconds * 1000,
              DecodeRate, MsPerToken);
  std::printf("memory:  weights %s + KV cache %s + arena %s = %s (peak RSS "
              "%s)\n",
              mib(Info.WeightsBytes).c_str(), mib(Info.KvBytes).c_str(),
              mib(Info.ArenaBytes).c_str(), mib(Total).c_str(),
              mib(Rss).c_str());
  for (const BenchFact &F : Facts)
    std::printf("%s: %s\n", F.Key.c_str(), F.Text.c_str());
  return 0;
}

int runGenerate(ModelRunner &Runner, const LauncherOptions &O,
                const std::vector<int32_t> &Prompt, const Tokenizer *Tok) {
  const ModelInfo &Info = Runner.info();
  GenerateOptions G;
  G.MaxNewTokens = O.NumTokens;
  G.Sampling.Temperature = O.Temperature;
  G.Sampling.TopK = O.TopK;
  G.Sampling.TopP = O.TopP;
  G.Sampling.Seed = O.Seed;
  // --prompt runs stop at EOS; token-level runs and --logits-out (compared
  // row by row with the reference, which never stops) run all n steps.
  G.StopAtEos = O.HasPrompt && O.LogitsOut.empty();
  NpyWriter Npy;
  std::string Error;
  if (!O.LogitsOut.empty()) {
    if (O.TemperatureGiven && O.Temperature > 0)
      note("--logits-out decodes greedily; ignoring --temperature");
    G.Sampling.Temperature = 0;
    G.DecodeLast = true;
    if (!Npy.open(O.LogitsOut, static_cast<uint64_t>(Info.VocabSize), Error))
      return fail(Error);
  }

  bool StreamText = !O.Json && O.HasPrompt && Tok;
  std::unique_ptr<TokenStreamDecoder> Stream;
  if (StreamText) {
    Stream = std::make_unique<TokenStreamDecoder>(*Tok,
                                                  /*SkipSpecialTokens=*/true);
    Stream->prime(Prompt);
  }
  bool First = true;
  GenerateCallbacks C;
  C.OnToken = [&](int32_t Token) {
    if (O.Json)
      return true;
    if (StreamText) {
      std::string Piece = Stream->step(Token);
      std::fwrite(Piece.data(), 1, Piece.size(), stdout);
    } else {
      std::printf(First ? "%d" : ",%d", Token);
    }
    First = false;
    std::fflush(stdout);
    return true;
  };
  if (Npy.isOpen())
    C.OnLogits = [&](const float *Row) { return Npy.appendRow(Row, Error); };

  GenerateResult R;
  if (!generate(Runner, Prompt, G, C, R, Error)) {
    std::fflush(stdout); // the tokens so far, then the error
    return fail(Error);
  }
  if (Npy.isOpen() && !Npy.close(Error))
    return fail(Error);
  if (StreamText) {
    std::string Rest = Stream->flush();
    std::fwrite(Rest.data(), 1, Rest.size(), stdout);
  }
  if (O.Json) {
    std::string J = "{\"prompt_tokens\":[" + idList(Prompt, ",") +
                    "],\"tokens\":[" + idList(R.Tokens, ",") + "]";
    if (Tok)
      J += ",\"text\":" + jsonQuote(Tok->decode(R.Tokens, true));
    J += ",\"stop\":" + jsonQuote(R.StopReason) +
         ",\"prefill_seconds\":" + num(R.PrefillSeconds) +
         ",\"prefill_tokens_per_s\":" +
         num(rate(R.PromptTokens, R.PrefillSeconds)) +
         ",\"decode_steps\":" + std::to_string(R.DecodeSteps) +
         ",\"decode_tokens_per_s\":" +
         num(rate(R.DecodeSteps, R.DecodeSeconds)) + ",\"ms_per_token\":" +
         num(R.DecodeSteps ? 1000.0 * R.DecodeSeconds / R.DecodeSteps : 0) +
         "}";
    std::printf("%s", J.c_str());
  }
  std::printf("\n");
  std::fflush(stdout);
  if (R.StopReason == "max_seq")
    note("stopped after " + std::to_string(R.Tokens.size()) +
         (R.Tokens.size() == 1 ? " token" : " tokens") +
         ": the context is full (max_seq " + std::to_string(Info.MaxSeq) + ")");
  return 0;
}

/// The whole of \p Path, or false with one line in \p Error.
bool readTextFile(const std::string &Path, std::string &Out,
                  std::string &Error) {
  std::ifstream F(Path, std::ios::binary);
  if (!F) {
    Error = "cannot read '" + Path + "': " + std::strerror(errno);
    return false;
  }
  std::stringstream S;
  S << F.rdbuf();
  if (F.bad()) {
    Error = "cannot read '" + Path + "'";
    return false;
  }
  Out = S.str();
  return true;
}

/// --perplexity: the documents of the file as token ids, [bos] + text.
bool perplexityDocuments(const ModelInfo &Info, const Tokenizer &Tok,
                         const std::string &Path, const std::string &Text,
                         std::vector<std::vector<int32_t>> &Docs,
                         std::string &Error) {
  std::vector<std::string> Parts = splitDocuments(Text);
  if (Parts.empty()) {
    Error = "'" + Path + "' has no text to score";
    return false;
  }
  bool Any = false;
  for (const std::string &P : Parts) {
    std::vector<int32_t> Ids;
    if (Info.BosTokenId >= 0)
      Ids.push_back(static_cast<int32_t>(Info.BosTokenId));
    std::vector<int32_t> T = Tok.encode(P, /*AddSpecialTokens=*/false);
    Ids.insert(Ids.end(), T.begin(), T.end());
    for (int32_t Id : Ids)
      if (Id < 0 || Id >= Info.VocabSize) {
        Error = "the tokenizer gave token id " + std::to_string(Id) + " for '" +
                Path + "', outside the model's vocabulary (" +
                std::to_string(Info.VocabSize) + ")";
        return false;
      }
    Any |= Ids.size() >= 2;
    Docs.push_back(std::move(Ids));
  }
  if (!Any) {
    Error = "'" + Path + "' has nothing to score: no document has a token " +
            "to predict";
    return false;
  }
  return true;
}

int runPerplexity(ModelRunner &Runner, const LauncherOptions &O,
                  const std::vector<std::vector<int32_t>> &Docs) {
  const ModelInfo &Info = Runner.info();
  PerplexityResult R;
  std::string Error;
  if (!scoreDocuments(Runner, Docs, R, Error))
    return fail(Error);
  double Nll = R.meanNll(), Ppl = std::exp(Nll);
  if (R.Truncated)
    note(std::to_string(R.Truncated) +
         (R.Truncated == 1 ? " document was" : " documents were") +
         " cut to max_seq (" + std::to_string(Info.MaxSeq) + ") tokens");
  if (!O.Json) {
    std::printf("perplexity %.2f over %lld tokens (%lld documents)\n", Ppl,
                static_cast<long long>(R.Tokens),
                static_cast<long long>(R.Documents));
    return 0;
  }
  // Elements per packed dtype (quantized builds mix f32/f16 and i8/i4).
  std::map<std::string, int64_t> ByDType;
  int64_t Elements = 0;
  for (const RecipeEntry &E : Info.Recipe) {
    int64_t N = 1;
    for (int64_t D : E.Shape)
      N *= D;
    ByDType[E.DType] += N;
    Elements += N;
  }
  std::string Dt;
  for (const auto &[K, V] : ByDType)
    Dt += (Dt.empty() ? "" : ",") + jsonQuote(K) + ":" + std::to_string(V);
  char Exact[64];
  std::snprintf(Exact, sizeof(Exact), "%.17g", Nll);
  char Sum[64];
  std::snprintf(Sum, sizeof(Sum), "%.17g", R.NllSum);
  char PplText[64];
  std::snprintf(PplText, sizeof(PplText), "%.10g", Ppl);
  std::string Ids = argmaxText(R.Argmax);
  std::string J =
      "{\"tokens\":" + std::to_string(R.Tokens) +
      ",\"documents\":" + std::to_string(R.Documents) + ",\"nll\":" + Exact +
      ",\"ppl\":" + PplText + ",\"nll_sum\":" + Sum +
      ",\"truncated_documents\":" + std::to_string(R.Truncated) +
      ",\"skipped_documents\":" + std::to_string(R.Skipped) +
      ",\"max_seq\":" + std::to_string(Info.MaxSeq) +
      ",\"target\":" + jsonQuote(Info.Target) +
      ",\"weights_bytes\":" + std::to_string(Info.WeightsBytes) +
      ",\"packed_elements\":" + std::to_string(Elements) +
      ",\"elements_by_dtype\":{" + Dt + "}" + ",\"seconds\":" + num(R.Seconds) +
      ",\"tokens_per_s\":" + num(rate(R.Tokens, R.Seconds)) +
      ",\"argmax_sha256\":" + jsonQuote(sha256Hex(Ids)) + ",\"argmax\":[" +
      Ids + "]}";
  std::printf("%s\n", J.c_str());
  return 0;
}

int runMain(int Argc, const char *const *Argv, const char *ModelInfoJson,
            const BackendFactory &MakeBackend) {
  std::string Program = Argc > 0 && Argv[0] ? Argv[0] : "model";
  LauncherOptions O;
  std::string Error;
  switch (parseCommandLine(Argc, Argv, O, Error)) {
  case ParseResult::Help:
    std::printf("%s", usageText(Program).c_str());
    return 0;
  case ParseResult::UsageError:
    std::fprintf(stderr, "error: %s\n", Error.c_str());
    return 2;
  case ParseResult::Ok:
    break;
  }

  ModelInfo Info;
  if (!parseModelInfo(ModelInfoJson ? ModelInfoJson : "", Info, Error))
    return fail("this program's " + Error);

  if (O.Pack) {
    std::string Out =
        O.PackOut.empty() ? defaultWeightsPath(Program) : O.PackOut;
    PackReport Report;
    if (!packWeights(Info, O.PackDir, Out, Error, &Report))
      return fail(Error);
    std::printf("packed %llu tensors from '%s' into '%s' (%llu bytes%s)\n",
                static_cast<unsigned long long>(Report.Tensors),
                O.PackDir.c_str(), Out.c_str(),
                static_cast<unsigned long long>(Report.FileBytes),
                Report.TokenizerBytes ? ", with tokenizer" : ", no tokenizer");
    return 0;
  }

  // The text to score is read before the weights: a wrong path is
  // reported at once.
  std::string PerplexityText;
  if (O.Perplexity && !readTextFile(O.PerplexityFile, PerplexityText, Error))
    return fail(Error);

  std::string WeightsPath =
      O.WeightsPath.empty() ? defaultWeightsPath(Program) : O.WeightsPath;
  WeightsFile Weights;
  if (!Weights.open(WeightsPath, Info, Error, Program))
    return fail(Error);
  // --verify reads the whole file; a normal start checks only the header.
  if (O.Verify) {
    uint64_t Checked = 0;
    if (!Weights.verify(Checked, Error))
      return fail(Error);
    std::printf("weights OK (%llu bytes, checksum %s)\n",
                static_cast<unsigned long long>(Weights.fileSize()),
                formatFingerprint(Weights.header().Checksum).c_str());
    return 0;
  }

  // The tokenizer travels inside the weights file. Text needs it; token
  // runs use it only to add "text" to --json output.
  std::unique_ptr<Tokenizer> Tok;
  bool HaveTokenizer = !Weights.tokenizerJson().empty();
  bool NeedTokenizer = O.HasPrompt || O.Perplexity;
  if (NeedTokenizer && !HaveTokenizer)
    return fail("weights file '" + WeightsPath +
                "' has no tokenizer (the checkpoint had no tokenizer.json); " +
                (O.Perplexity ? "--perplexity needs one" : "use --tokens"));
  if (HaveTokenizer &&
      (NeedTokenizer || (O.Json && !O.Bench && !O.Perplexity))) {
    // Ids are bounded by the model's vocabulary: a token past it would
    // index past the embedding.
    Tok = Tokenizer::loadJson(Weights.tokenizerJson(), Error,
                              "tokenizer.json in '" + WeightsPath + "'",
                              static_cast<uint64_t>(Info.VocabSize));
    if (!Tok && NeedTokenizer)
      return fail(Error);
  }
  std::vector<std::vector<int32_t>> Docs;
  if (O.Perplexity && !perplexityDocuments(Info, *Tok, O.PerplexityFile,
                                           PerplexityText, Docs, Error))
    return fail(Error);

  std::vector<int32_t> Prompt;
  if (O.HasTokens) {
    for (int64_t T : O.Tokens)
      if (T < 0 || T >= Info.VocabSize)
        return fail("token id " + std::to_string(T) +
                    " is out of range (vocab size " +
                    std::to_string(Info.VocabSize) + ")");
    Prompt.assign(O.Tokens.begin(), O.Tokens.end());
  } else if (O.HasPrompt) {
    Prompt = Tok->encode(O.Prompt, /*AddSpecialTokens=*/true);
  }
  if ((O.HasTokens || O.HasPrompt) && !checkPrompt(Info, Prompt, Error))
    return fail(Error);

  // The prompt is checked before the backend starts: on a GPU that means
  // loading the driver and uploading the weights, too long to wait for an
  // error about a token id.
  setThreadCount(O.Threads);
  std::unique_ptr<StepBackend> Backend = MakeBackend(Info, Weights, Error);
  if (!Backend)
    return fail(Error);
  ModelRunner Runner;
  if (!Runner.init(Info, std::move(Backend), Error))
    return fail(Error);

  if (O.Perplexity)
    return runPerplexity(Runner, O, Docs);
  return O.Bench ? runBench(Runner, O, std::move(Prompt))
                 : runGenerate(Runner, O, Prompt, Tok.get());
}

} // namespace

int monocard::runLauncherWith(int Argc, const char *const *Argv,
                              const char *ModelInfoJson,
                              const BackendFactory &MakeBackend) {
  try {
    return runMain(Argc, Argv, ModelInfoJson, MakeBackend);
  } catch (const std::bad_alloc &) {
    return fail("out of memory");
  } catch (const std::exception &E) {
    return fail(E.what());
  }
}

int monocard::runLauncher(int Argc, const char *const *Argv,
                          const char *ModelInfoJson,
                          const StepFunctions &Steps) {
  return runLauncherWith(
      Argc, Argv, ModelInfoJson,
      [&](const ModelInfo &Info, const WeightsFile &W, std::string &Error) {
        return makeCpuSteps(Info, Steps, W.data(), Error);
      });
}
