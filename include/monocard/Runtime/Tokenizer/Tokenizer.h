//===- Tokenizer.h - Hugging Face tokenizer.json, in plain C++ --*- C++ -*-===//
//
// Reads a Hugging Face `tokenizer.json` and encodes / decodes exactly as the
// `tokenizers` library does, for the BPE tokenizers of the models Monocard
// compiles:
//  * byte-level BPE (GPT-2, Llama-3, Qwen2): pre-tokenizer ByteLevel, or
//    Sequence[Split(Regex), ByteLevel]; normalizer none or NFC;
//  * SentencePiece-style BPE (Llama-2, Mistral): normalizer
//    Prepend("▁") + Replace(" ", "▁") or pre-tokenizer Metaspace, byte
//    fallback to <0xNN> tokens, decoders Replace/ByteFallback/Fuse/Strip.
// Added tokens (special or not) are matched verbatim in the input first.
// Split patterns are not run by a regex engine: the known patterns (GPT-2,
// Llama-3, Qwen2) are recognised by their text and run by hand-written
// scanners; any other pattern is refused when the file is loaded.
//
// A Tokenizer is immutable once loaded; encode() and decode() are const and
// may run on several threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_TOKENIZER_TOKENIZER_H
#define MONOCARD_RUNTIME_TOKENIZER_TOKENIZER_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace monocard {

class TokenizerImpl;

/// The bound on token ids when no model gives one: 2^24, far beyond any real
/// vocabulary (the largest have about 2^18 tokens), small enough that the
/// per-id tables of a hostile file stay a few hundred MiB at most.
constexpr uint64_t MaxTokenizerVocab = uint64_t(1) << 24;

class Tokenizer {
public:
  /// Loads `tokenizer.json` from \p Path. On failure returns nullptr and sets
  /// \p Error to one line, e.g. "tokenizer.json: unsupported pre-tokenizer
  /// 'Whitespace'" or "tokenizer.json: unexpected end of input at byte 812".
  /// Every id in the file (vocab, added tokens, post-processor) must be
  /// below \p ModelVocab, the model's vocabulary size (0: no model, ids
  /// below MaxTokenizerVocab), so that no id can index past the model's
  /// embedding and no table is sized by a stray id.
  static std::unique_ptr<Tokenizer> loadFile(const std::string &Path,
                                             std::string &Error,
                                             uint64_t ModelVocab = 0);
  /// Loads from the text of a tokenizer.json (e.g. the copy embedded in the
  /// .weights file). \p Name prefixes error messages.
  static std::unique_ptr<Tokenizer>
  loadJson(std::string_view Json, std::string &Error,
           std::string_view Name = "tokenizer.json", uint64_t ModelVocab = 0);
  ~Tokenizer();

  /// Token ids of \p Text. With \p AddSpecialTokens the post-processor's
  /// tokens are added (e.g. Llama's BOS), as `tokenizers`' encode() does by
  /// default. Special-token text in the input (e.g. "<|endoftext|>") becomes
  /// that token. Any bytes are accepted, invalid UTF-8 included.
  std::vector<int32_t> encode(std::string_view Text,
                              bool AddSpecialTokens = true) const;

  /// Text of \p Ids as `tokenizers`' decode() gives it. Ids outside the
  /// vocabulary are skipped (check isValidId() first to report them).
  /// Incomplete UTF-8 (e.g. half a character) becomes U+FFFD.
  std::string decode(const int32_t *Ids, size_t NumIds,
                     bool SkipSpecialTokens = false) const;
  std::string decode(const std::vector<int32_t> &Ids,
                     bool SkipSpecialTokens = false) const {
    return decode(Ids.data(), Ids.size(), SkipSpecialTokens);
  }

  /// One past the largest id (model vocabulary and added tokens).
  size_t vocabSize() const;
  bool isValidId(int32_t Id) const;
  /// The token's string as stored in the vocabulary (e.g. "Ġhello",
  /// "▁hello", "<0x0A>", "<|endoftext|>"); empty for an invalid id.
  std::string_view tokenToString(int32_t Id) const;
  /// The id of the token spelled \p Token (added tokens first, then the
  /// model vocabulary), or -1. Use it to find BOS/EOS: tokenToId("<s>").
  int32_t tokenToId(std::string_view Token) const;
  /// True for added tokens marked special (BOS, EOS, <|im_end|>, ...).
  bool isSpecial(int32_t Id) const;

private:
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> Impl);
  std::unique_ptr<TokenizerImpl> Impl;
};

/// Decodes a stream of generated tokens piece by piece, for printing as they
/// come. Text is released only once it is final: a character split over
/// several tokens (byte-level BPE, byte fallback) prints whole once its last
/// byte arrives, and leading-space rules (SentencePiece's stripped first
/// space) apply as they do when decoding the whole sequence. The same
/// algorithm as `tokenizers`' DecodeStream: each step decodes only a short
/// window of recent tokens.
class TokenStreamDecoder {
public:
  explicit TokenStreamDecoder(const Tokenizer &Tok,
                              bool SkipSpecialTokens = false);

  /// Gives the tokens that precede the generated ones (the prompt) as
  /// context, printing nothing; only the last few matter. Optional: without
  /// it the first generated token is decoded as the start of a text.
  void prime(const int32_t *Ids, size_t NumIds);
  void prime(const std::vector<int32_t> &Ids) { prime(Ids.data(), Ids.size()); }

  /// Adds one token; returns the text it completes (often empty while a
  /// multi-byte character is still incomplete).
  std::string step(int32_t Id);

  /// Returns what is still held back (an incomplete character, as U+FFFD)
  /// at the end of generation, and resets the stream.
  std::string flush();

private:
  const Tokenizer &Tok;
  bool SkipSpecial;
  // Window: the tokens since the last release plus those before it, kept
  // as context. Prefix: Window's text as of the last release. PrefixIndex:
  // how many leading tokens of Window to drop at the next release.
  std::vector<int32_t> Window;
  std::string Prefix;
  size_t PrefixIndex = 0;
};

} // namespace monocard

#endif // MONOCARD_RUNTIME_TOKENIZER_TOKENIZER_H
