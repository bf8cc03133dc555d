//===- TokenizerImpl.h - Pieces of the tokenizer pipeline -------*- C++ -*-===//
//
// Private to lib/Runtime/Tokenizer. The Hugging Face pipeline is
//   added-token split -> normalizer -> pre-tokenizer -> model (BPE)
//   -> post-processor                                  (encode)
//   ids -> token strings -> decoder chain              (decode)
// and each stage here mirrors the `tokenizers` component of the same name
// closely enough to give identical ids and text. Each stage parses its own
// JSON and reports unsupported configurations by name.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_LIB_RUNTIME_TOKENIZER_TOKENIZERIMPL_H
#define MONOCARD_LIB_RUNTIME_TOKENIZER_TOKENIZERIMPL_H

#include "monocard/Runtime/Support/Json.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace monocard {
namespace tok {

//===----------------------------------------------------------------------===//
// Split patterns (PreTokenizer.cpp)
//===----------------------------------------------------------------------===//

/// The split regexes we implement, each by a hand-written scanner.
enum class SplitPattern {
  Gpt2,   // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|...
  Llama3, // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}...
  Qwen2,  // as Llama3 with \p{N} instead of \p{N}{1,3}
};
/// Recognises \p Regex as one of the known patterns (exact text).
bool recognizeSplitPattern(std::string_view Regex, SplitPattern &Out);

struct Span {
  size_t Begin, End;
};
/// Appends the byte ranges of the successive matches of \p P in \p S, as the
/// regex engine would find them (leftmost, first alternative wins). The
/// known patterns match every character, so the matches tile \p S.
void findPatternMatches(SplitPattern P, std::string_view S,
                        std::vector<Span> &Out);

/// GPT-2's byte-to-unicode map: the UTF-8 spelling of byte \p B's character.
std::string_view byteLevelChar(uint8_t B);
/// The byte whose character is \p CP, or -1.
int byteLevelByte(uint32_t CP);

//===----------------------------------------------------------------------===//
// Normalizer and pre-tokenizer (PreTokenizer.cpp)
//===----------------------------------------------------------------------===//

struct NormalizerStep {
  enum class Kind { Prepend, Replace, Nfc, Strip } K;
  std::string From, To;             // Prepend: To; Replace: From -> To
  bool Left = false, Right = false; // Strip
};
/// Parses the "normalizer" member (null, one normalizer or a Sequence).
bool parseNormalizer(const JsonValue &V, std::vector<NormalizerStep> &Steps,
                     std::string &Error);
void normalize(const std::vector<NormalizerStep> &Steps, std::string &Text);

enum class SplitBehavior {
  Removed,
  Isolated,
  MergedWithPrevious,
  MergedWithNext,
  Contiguous
};
enum class PrependScheme { Always, First, Never };

struct PreTokenizerStep {
  enum class Kind { ByteLevel, Split, Metaspace, Digits } K;
  // ByteLevel
  bool AddPrefixSpace = false;
  bool UseRegex = true;
  // Split: by a known regex, or by a literal string when !IsRegex.
  bool IsRegex = true;
  SplitPattern Pattern = SplitPattern::Gpt2;
  std::string Literal;
  SplitBehavior Behavior = SplitBehavior::Isolated;
  bool Invert = false;
  // Metaspace
  std::string Replacement;
  PrependScheme Prepend = PrependScheme::Always;
  bool SplitOnReplacement = true;
  // Digits: each digit alone, or runs of digits.
  bool IndividualDigits = false;
};
/// Parses the "pre_tokenizer" member (null, one or a Sequence).
bool parsePreTokenizer(const JsonValue &V, std::vector<PreTokenizerStep> &Steps,
                       std::string &Error);
/// Splits \p Text into the words the model tokenizes, appended to \p Words.
/// \p AtStart: \p Text begins the input (Metaspace's "first" scheme).
void preTokenize(const std::vector<PreTokenizerStep> &Steps,
                 std::string_view Text, bool AtStart,
                 std::vector<std::string> &Words);

//===----------------------------------------------------------------------===//
// BPE model (Bpe.cpp)
//===----------------------------------------------------------------------===//

/// Token strings by id, in one buffer, with an open-addressing index from
/// string to id. A vocabulary has 30k-250k entries and every character of
/// every word is looked up in it: node-based std::unordered_map was the
/// largest cost of loading and of encoding.
class Vocabulary {
public:
  /// \p Entries: (token, id) pairs; ids need not be dense. An id listed
  /// twice keeps its last string; a string under two ids finds the smaller.
  void build(const std::vector<std::pair<std::string_view, int32_t>> &Entries);
  /// The id of \p Token, or -1.
  int32_t lookup(std::string_view Token) const;
  /// One past the largest id.
  size_t size() const { return Offsets.empty() ? 0 : Offsets.size() - 1; }
  bool hasId(size_t Id) const { return Id < Present.size() && Present[Id]; }
  std::string_view token(size_t Id) const {
    return std::string_view(Pool.data() + Offsets[Id],
                            Offsets[Id + 1] - Offsets[Id]);
  }

private:
  static uint64_t hash(std::string_view S);
  std::string Pool;
  std::vector<uint32_t> Offsets; // token Id is Pool[Offsets[Id], Offsets[Id+1])
  std::vector<bool> Present;
  // Ids by hash, with the hash's top bits to skip most string compares
  // (each one is a cache miss); Id -1 when empty; size 2^k.
  struct Slot {
    int32_t Id;
    uint32_t Tag;
  };
  std::vector<Slot> Slots;
  uint64_t Mask = 0;
};

/// The ids a tokenizer.json may use: below the model's vocabulary size when
/// the tokenizer belongs to a compiled model, else below MaxTokenizerVocab.
/// Checked before any table is sized by an id, so a stray id of 10^9 is an
/// error naming the token, not gigabytes of tables.
struct IdBound {
  uint64_t Limit;
  bool FromModel;
};

/// Reads \p V, the id of token \p Token, into \p Out if it is an integer in
/// [0, B.Limit); else sets \p Error, e.g. 'token "<x>" has id 1000000000,
/// beyond the model's vocabulary (2048)'.
bool checkTokenId(const IdBound &B, std::string_view Token, const JsonValue &V,
                  int32_t &Out, std::string &Error);

class BpeModel {
public:
  /// Parses the "model" member; every vocab id must be inside \p Ids.
  bool parse(const JsonValue &Model, const IdBound &Ids, std::string &Error);
  /// Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view Word, std::vector<int32_t> &Out) const;

  int32_t lookup(std::string_view Token) const { return Vocab.lookup(Token); }
  const Vocabulary &vocab() const { return Vocab; }

private:
  /// The merge of a pair of ids: its rank and the id it produces. An
  /// open-addressing table keyed by the pair.
  struct MergeEntry {
    uint64_t Key; // pairKey(A, B); EmptyKey when free
    int32_t Rank, NewId;
  };
  static constexpr uint64_t EmptyKey = ~uint64_t(0);
  static uint64_t pairKey(int32_t A, int32_t B) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(A)) << 32) |
           static_cast<uint32_t>(B);
  }
  static uint64_t slotOf(uint64_t Key, uint64_t Mask) {
    return (Key * 0x9E3779B97F4A7C15ull >> 20) & Mask;
  }
  void insertMerge(int32_t A, int32_t B, int32_t Rank, int32_t NewId);
  const MergeEntry *findMerge(int32_t A, int32_t B) const {
    uint64_t Key = pairKey(A, B);
    for (uint64_t I = slotOf(Key, MergeMask);; I = (I + 1) & MergeMask) {
      const MergeEntry &E = Merges[I];
      if (E.Key == Key)
        return &E;
      if (E.Key == EmptyKey)
        return nullptr;
    }
  }
  void mergeWord(std::vector<int32_t> &Symbols) const;

  Vocabulary Vocab;
  std::vector<MergeEntry> Merges{MergeEntry{EmptyKey, 0, 0}};
  uint64_t MergeMask = 0;
  int32_t UnkId = -1;
  bool FuseUnk = false;
  bool ByteFallback = false;
  bool IgnoreMerges = false;
  int32_t ByteFallbackIds[256]; // ids of <0x00>..<0xFF>, -1 when absent
};

//===----------------------------------------------------------------------===//
// Decoders (TokenDecoder.cpp)
//===----------------------------------------------------------------------===//

struct DecoderStep {
  enum class Kind {
    ByteLevel,
    Replace,
    ByteFallback,
    Fuse,
    Strip,
    Metaspace
  } K;
  std::string From, To;          // Replace
  uint32_t Content = ' ';        // Strip: the character stripped
  size_t Start = 0, Stop = 0;    // Strip: how many at each end
  uint32_t Replacement = 0x2581; // Metaspace
  PrependScheme Prepend = PrependScheme::Always; // Metaspace
};
/// Parses the "decoder" member. \p HasDecoder is false for null, in which
/// case tokens are joined with spaces, as `tokenizers` does.
bool parseDecoder(const JsonValue &V, std::vector<DecoderStep> &Steps,
                  bool &HasDecoder, std::string &Error);
/// Runs the decoder chain over token strings and joins the result.
std::string runDecoders(const std::vector<DecoderStep> &Steps,
                        std::vector<std::string> Tokens);

} // namespace tok
} // namespace monocard

#endif // MONOCARD_LIB_RUNTIME_TOKENIZER_TOKENIZERIMPL_H
