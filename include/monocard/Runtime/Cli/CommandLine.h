//===- CommandLine.h - Options of a compiled model executable ---*- C++ -*-===//
//
// Parsing is separate from running so every malformed command line can be
// tested without a model, and so it never touches the weights: a usage
// error is reported before anything is mapped or allocated.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CLI_COMMANDLINE_H
#define MONOCARD_RUNTIME_CLI_COMMANDLINE_H

#include <cstdint>
#include <string>
#include <vector>

namespace monocard {

struct LauncherOptions {
  std::string WeightsPath; // empty: <argv[0]>.weights
  bool HasPrompt = false;
  std::string Prompt;
  bool HasTokens = false;
  std::vector<int64_t> Tokens; // range-checked later, against the model
  int64_t NumTokens = 64;      // -n
  float Temperature = 0.0f;
  bool TemperatureGiven = false;
  int64_t TopK = 0;
  float TopP = 1.0f;
  uint64_t Seed = 0;
  int Threads = 0; // 0: hardware concurrency
  bool Bench = false;
  bool Json = false;
  std::string LogitsOut;
  bool Perplexity = false;
  std::string PerplexityFile; // --perplexity: the text to score
  bool Verify = false; // --verify: recompute the weights' checksums, exit
  bool Pack = false;
  std::string PackDir;
  std::string PackOut; // -o; empty: <argv[0]>.weights
};

enum class ParseResult { Ok, Help, UsageError };

/// Parses argv[1..]. Accepts "--opt VALUE" and "--opt=VALUE". On a usage
/// error sets \p Error to one line without the "error: " prefix.
ParseResult parseCommandLine(int Argc, const char *const *Argv,
                             LauncherOptions &Out, std::string &Error);

/// The --help text for a program invoked as \p Program.
std::string usageText(const std::string &Program);

/// Strict number parsing: the whole string must be the number. Used for
/// every numeric flag so "-n 12abc" is an error, not 12.
bool parseInt64(const std::string &S, int64_t &Out);
bool parseUInt64(const std::string &S, uint64_t &Out);
bool parseFloat(const std::string &S, float &Out); // finite values only

} // namespace monocard

#endif // MONOCARD_RUNTIME_CLI_COMMANDLINE_H
