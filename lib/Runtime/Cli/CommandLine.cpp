//===- CommandLine.cpp - Options of a compiled model executable -----------===//

#include "monocard/Runtime/Cli/CommandLine.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

using namespace monocard;

bool monocard::parseInt64(const std::string &S, int64_t &Out) {
  if (S.empty() || std::isspace(static_cast<unsigned char>(S[0])))
    return false;
  errno = 0;
  char *End = nullptr;
  long long V = std::strtoll(S.c_str(), &End, 10);
  if (errno || *End)
    return false;
  Out = V;
  return true;
}

bool monocard::parseUInt64(const std::string &S, uint64_t &Out) {
  // strtoull accepts "-1" (as 2^64-1); a seed of -1 is a typo, not a wish.
  if (S.empty() || !std::isdigit(static_cast<unsigned char>(S[0])))
    return false;
  errno = 0;
  char *End = nullptr;
  unsigned long long V = std::strtoull(S.c_str(), &End, 10);
  if (errno || *End)
    return false;
  Out = V;
  return true;
}

bool monocard::parseFloat(const std::string &S, float &Out) {
  if (S.empty() || std::isspace(static_cast<unsigned char>(S[0])))
    return false;
  errno = 0;
  char *End = nullptr;
  double V = std::strtod(S.c_str(), &End);
  if (errno || *End || !std::isfinite(V) || std::fabs(V) > 3.0e38)
    return false;
  Out = static_cast<float>(V);
  return true;
}

/// "1,2,3" (spaces around ids allowed) -> ids.
static bool parseTokenList(const std::string &S, std::vector<int64_t> &Out,
                           std::string &Error) {
  Out.clear();
  size_t Start = 0;
  for (;;) {
    size_t Comma = S.find(',', Start);
    std::string Item = S.substr(
        Start, Comma == std::string::npos ? std::string::npos : Comma - Start);
    size_t B = Item.find_first_not_of(" \t"), E = Item.find_last_not_of(" \t");
    Item = B == std::string::npos ? "" : Item.substr(B, E - B + 1);
    int64_t V;
    if (!parseInt64(Item, V)) {
      Error = "--tokens expects comma-separated integers, got '" + S + "'";
      return false;
    }
    Out.push_back(V);
    if (Comma == std::string::npos)
      return true;
    Start = Comma + 1;
  }
}

std::string monocard::usageText(const std::string &Program) {
  return "usage: " + Program +
         " [options]\n"
         "\n"
         "Runs the model compiled into this program.\n"
         "\n"
         "input (one of):\n"
         "  --prompt TEXT        text, encoded with the model's tokenizer\n"
         "  --tokens 1,2,3       prompt token ids\n"
         "\n"
         "generation:\n"
         "  -n N                 tokens to generate (default 64); stops early\n"
         "                       at the end-of-sequence token (--prompt only)\n"
         "                       or when the context (max_seq) is full\n"
         "  --temperature T      sampling temperature (default 0: greedy)\n"
         "  --top-k K            sample among the K most likely tokens (0: "
         "all)\n"
         "  --top-p P            nucleus sampling mass, 0 < P <= 1 (default "
         "1)\n"
         "  --seed S             random seed (default 0); same seed, same "
         "tokens\n"
         "  --threads N          worker threads (default: all cores)\n"
         "\n"
         "output (default: the generated text for --prompt, the generated\n"
         "ids, comma-separated, for --tokens):\n"
         "  --json               print one JSON object instead\n"
         "  --logits-out F.npy   write float32 [1+n, vocab] logits: the "
         "prompt's\n"
         "                       last position, then after each generated "
         "token;\n"
         "                       forces greedy decoding and no EOS stop\n"
         "  --bench              measure prefill and decode speed on the "
         "prompt\n"
         "                       (default: 128 synthetic tokens) and n decode "
         "steps\n"
         "  --perplexity FILE    score the text in FILE teacher-forced and "
         "print\n"
         "                       its perplexity (documents: the parts between "
         "lines\n"
         "                       that are exactly '%', each scored from "
         "[bos]);\n"
         "                       with --json also the argmax at every "
         "position\n"
         "\n"
         "weights:\n"
         "  --weights FILE       packed weights (default: " +
         Program +
         ".weights)\n"
         "  --verify             check the weights file's checksums (reads "
         "it all)\n"
         "                       and exit\n"
         "  --pack MODEL_DIR     pack a Hugging Face checkpoint into the "
         "weights\n"
         "                       file and exit\n"
         "  -o FILE              where --pack writes (default: " +
         Program +
         ".weights)\n"
         "  --help               show this text\n";
}

ParseResult monocard::parseCommandLine(int Argc, const char *const *Argv,
                                       LauncherOptions &O, std::string &Error) {
  O = LauncherOptions();
  bool SawOut = false, SawN = false, SawSampling = false;
  for (int I = 1; I < Argc; ++I) {
    std::string Arg = Argv[I];
    std::string Name = Arg, Value;
    bool HasInlineValue = false;
    if (Arg.rfind("--", 0) == 0) {
      size_t Eq = Arg.find('=');
      if (Eq != std::string::npos) {
        Name = Arg.substr(0, Eq);
        Value = Arg.substr(Eq + 1);
        HasInlineValue = true;
      }
    }
    auto Flag = [&](bool &Out) {
      if (HasInlineValue) {
        Error = "option '" + Name + "' takes no value";
        return false;
      }
      Out = true;
      return true;
    };
    // Fetches the option's value (inline or the next argument).
    auto Take = [&]() {
      if (HasInlineValue)
        return true;
      if (I + 1 >= Argc) {
        Error = "option '" + Name + "' needs a value";
        return false;
      }
      Value = Argv[++I];
      return true;
    };
    auto Bad = [&](const char *What) {
      Error = "option '" + Name + "' expects " + What + ", got '" + Value + "'";
      return ParseResult::UsageError;
    };

    if (Name == "--help" || Name == "-h")
      return ParseResult::Help;
    if (Name == "--bench" || Name == "--json" || Name == "--verify") {
      if (!Flag(Name == "--bench"  ? O.Bench
                : Name == "--json" ? O.Json
                                   : O.Verify))
        return ParseResult::UsageError;
      continue;
    }
    if (Name.empty() || Name[0] != '-' || Name == "-" || Name == "--") {
      Error = "unexpected argument '" + Arg + "'";
      return ParseResult::UsageError;
    }
    static const char *const Valued[] = {
        "--weights", "--prompt", "--tokens",    "-n",        "--temperature",
        "--top-k",   "--top-p",  "--seed",      "--threads", "--logits-out",
        "--pack",    "-o",       "--perplexity"};
    bool Known = false;
    for (const char *V : Valued)
      Known |= Name == V;
    if (!Known) {
      Error = "unknown option '" + Name + "' (see --help)";
      return ParseResult::UsageError;
    }
    if (!Take())
      return ParseResult::UsageError;

    int64_t IntV = 0;
    if (Name == "--weights") {
      O.WeightsPath = Value;
    } else if (Name == "--prompt") {
      O.HasPrompt = true;
      O.Prompt = Value;
    } else if (Name == "--tokens") {
      O.HasTokens = true;
      if (!parseTokenList(Value, O.Tokens, Error))
        return ParseResult::UsageError;
    } else if (Name == "-n") {
      if (!parseInt64(Value, O.NumTokens) || O.NumTokens < 0)
        return Bad("a non-negative integer");
      SawN = true;
    } else if (Name == "--temperature") {
      if (!parseFloat(Value, O.Temperature) || O.Temperature < 0)
        return Bad("a number >= 0");
      O.TemperatureGiven = true;
      SawSampling = true;
    } else if (Name == "--top-k") {
      SawSampling = true;
      if (!parseInt64(Value, O.TopK) || O.TopK < 0)
        return Bad("a non-negative integer");
    } else if (Name == "--top-p") {
      SawSampling = true;
      if (!parseFloat(Value, O.TopP) || !(O.TopP > 0) || O.TopP > 1)
        return Bad("a number in (0, 1]");
    } else if (Name == "--seed") {
      SawSampling = true;
      if (!parseUInt64(Value, O.Seed))
        return Bad("a non-negative integer");
    } else if (Name == "--threads") {
      if (!parseInt64(Value, IntV) || IntV < 1 || IntV > 4096)
        return Bad("an integer from 1 to 4096");
      O.Threads = static_cast<int>(IntV);
    } else if (Name == "--logits-out") {
      O.LogitsOut = Value;
    } else if (Name == "--perplexity") {
      O.Perplexity = true;
      O.PerplexityFile = Value;
    } else if (Name == "--pack") {
      O.Pack = true;
      O.PackDir = Value;
    } else if (Name == "-o") {
      O.PackOut = Value;
      SawOut = true;
    }
    if (Value.empty() && Name != "--prompt") {
      Error = "option '" + Name + "' needs a non-empty value";
      return ParseResult::UsageError;
    }
  }

  if (O.HasPrompt && O.HasTokens) {
    Error = "--prompt and --tokens cannot be used together";
    return ParseResult::UsageError;
  }
  if (SawOut && !O.Pack) {
    Error = "-o is only meaningful with --pack";
    return ParseResult::UsageError;
  }
  if (O.Pack && (O.HasPrompt || O.HasTokens || O.Bench || SawN ||
                 !O.LogitsOut.empty() || O.Perplexity)) {
    Error = "--pack packs the weights and exits; it takes no generation "
            "options";
    return ParseResult::UsageError;
  }
  if (O.Verify && (O.Pack || O.HasPrompt || O.HasTokens || O.Bench || SawN ||
                   SawSampling || !O.LogitsOut.empty() || O.Perplexity)) {
    Error = "--verify checks the weights file and exits; it takes only "
            "--weights";
    return ParseResult::UsageError;
  }
  if (O.Perplexity && (O.HasPrompt || O.HasTokens || O.Bench || SawN ||
                       SawSampling || !O.LogitsOut.empty())) {
    Error = "--perplexity scores a text teacher-forced; it takes no prompt, "
            "--bench, --logits-out or generation options";
    return ParseResult::UsageError;
  }
  if (O.Bench && !O.LogitsOut.empty()) {
    Error = "--bench and --logits-out cannot be used together";
    return ParseResult::UsageError;
  }
  if (!O.Pack && !O.Verify && !O.Bench && !O.Perplexity && !O.HasPrompt &&
      !O.HasTokens) {
    Error = "give a prompt with --prompt TEXT or --tokens 1,2,3 (see --help)";
    return ParseResult::UsageError;
  }
  return ParseResult::Ok;
}
