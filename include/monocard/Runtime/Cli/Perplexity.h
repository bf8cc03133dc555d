//===- Perplexity.h - Teacher-forced scoring of a text ----------*- C++ -*-===//
//
// `<exe> --perplexity FILE`: the model's perplexity on a text, through the
// same ModelRunner/StepBackend as generation, so CPU and CUDA programs (and
// quantized builds) are measured the same way.
//
// Documents are the parts of the file between lines that are exactly `%`
// (the fortune-file format); a file with no such line is one document.
// Each document is [bos] + its tokens (no bos when the model has none),
// cut to max_seq tokens. Position i of a document predicts token i + 1, so
// a document of n tokens scores n - 1 positions.
//
// Why one decode step per position: the step functions return the logits
// of ONE row (the last valid one), so teacher forcing needs a step call per
// scored position whichever step is used; a prefill call computes (and a
// GPU prefill launches) a whole prefill_chunk of rows for that one row,
// while a decode step computes one. So every position is a decode step, the
// document's first at position 0. A new document restarts at position 0:
// the cache rows of the previous one are overwritten before attention can
// read them (it reads rows 0..pos only).
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_CLI_PERPLEXITY_H
#define MONOCARD_RUNTIME_CLI_PERPLEXITY_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace monocard {

class ModelRunner;

/// The documents of \p Text: the text between lines that are exactly "%"
/// ("%\r" too), without the newline before a separator; a trailing newline
/// ends the last line rather than adding an empty one. A text without
/// separators is one document. Documents that hold only whitespace are
/// dropped.
std::vector<std::string> splitDocuments(std::string_view Text);

/// -log softmax(Logits)[Target] in double, with the max subtracted first
/// (stable for any finite logits). Sets \p Argmax to the largest logit's
/// index (the lowest one on ties, as the samplers do). Returns NaN when a
/// logit is not finite.
double tokenNll(const float *Logits, int64_t VocabSize, int32_t Target,
                int32_t &Argmax);

struct PerplexityResult {
  int64_t Tokens = 0;          // scored positions
  int64_t Documents = 0;       // documents with at least one scored position
  int64_t Truncated = 0;       // documents cut to max_seq tokens
  int64_t Skipped = 0;         // documents too short to score (< 2 tokens)
  double NllSum = 0;           // natural log, summed over the scored positions
  std::vector<int32_t> Argmax; // the predicted token at every position
  double Seconds = 0;

  double meanNll() const { return Tokens ? NllSum / Tokens : 0; }
};

/// Scores \p Documents (token ids, bos included, ids checked by the caller)
/// teacher-forced on \p Runner, cutting each to max_seq tokens. False with
/// one line in \p Error when a step failed or the logits are not finite.
bool scoreDocuments(ModelRunner &Runner,
                    const std::vector<std::vector<int32_t>> &Documents,
                    PerplexityResult &Result, std::string &Error);

/// SHA-256 of \p Data as 64 lowercase hex digits (FIPS 180-4).
std::string sha256Hex(std::string_view Data);

/// The argmax list as hashed for "argmax_sha256": the decimal ids joined
/// by "," (Python: ",".join(map(str, ids))).
std::string argmaxText(const std::vector<int32_t> &Ids);

} // namespace monocard

#endif // MONOCARD_RUNTIME_CLI_PERPLEXITY_H
