//===- Tokenizer.cpp - tokenizer.json: loading, encode, decode ------------===//
//
// The top of the pipeline: reading the file, the added tokens (matched in the
// raw text before anything else, like `tokenizers`' AddedVocabulary), the
// post-processor's BOS/EOS, and gluing the stages of TokenizerImpl.h
// together.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Tokenizer/Tokenizer.h"

#include "TokenizerImpl.h"
#include "Unicode.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>

namespace monocard {

using namespace tok;

namespace {
struct AddedToken {
  std::string Content; // as written; Match is what is searched for
  std::string Match;   // Content, normalized if the token is "normalized"
  int32_t Id;
  bool Special, Normalized, Lstrip, Rstrip, SingleWord;
};

/// Finds added tokens in a text, leftmost first and longest at a position
/// (Aho-Corasick's leftmost-longest, which `tokenizers` uses). Candidates
/// are bucketed by first byte; there are rarely more than a few hundred.
class AddedTokenMatcher {
public:
  void add(const AddedToken *T) {
    if (T->Match.empty())
      return;
    // Longest first, so that the first hit at a position is the longest.
    auto &Bucket = ByFirstByte[static_cast<uint8_t>(T->Match[0])];
    auto It =
        std::find_if(Bucket.begin(), Bucket.end(), [T](const AddedToken *B) {
          return B->Match.size() < T->Match.size();
        });
    Bucket.insert(It, T);
    Empty = false;
  }
  bool empty() const { return Empty; }
  /// The longest token at \p Pos, or nullptr.
  const AddedToken *at(std::string_view S, size_t Pos) const {
    for (const AddedToken *T : ByFirstByte[static_cast<uint8_t>(S[Pos])])
      if (S.compare(Pos, T->Match.size(), T->Match) == 0)
        return T;
    return nullptr;
  }

private:
  std::vector<const AddedToken *> ByFirstByte[256];
  bool Empty = true;
};

struct Segment {
  size_t Begin, End;
  int32_t Id; // the added token's id, or -1 for text
};

/// Splits \p S into text and added-token segments, with the lstrip, rstrip
/// and single_word rules of `tokenizers`' AddedVocabulary::find_matches.
void splitOnAddedTokens(const AddedTokenMatcher &M, std::string_view S,
                        std::vector<Segment> &Out) {
  size_t TextStart = 0;
  for (size_t Pos = 0; Pos < S.size();) {
    const AddedToken *T = M.empty() ? nullptr : M.at(S, Pos);
    if (!T) {
      ++Pos;
      continue;
    }
    size_t Start = Pos, Stop = Pos + T->Match.size();
    if (T->SingleWord) {
      // Rejected unless neither neighbour is a word character.
      bool Before = false, After = false;
      if (Start > 0) {
        size_t B = Start - 1;
        while (B > 0 && (static_cast<uint8_t>(S[B]) & 0xC0) == 0x80)
          --B;
        unsigned Len;
        Before = unicode::isWordChar(unicode::decodeUtf8(S, B, Len));
      }
      if (Stop < S.size()) {
        unsigned Len;
        After = unicode::isWordChar(unicode::decodeUtf8(S, Stop, Len));
      }
      if (Before || After) {
        Pos = Stop;
        continue;
      }
    }
    if (T->Lstrip) {
      while (Start > TextStart) {
        size_t B = Start - 1;
        while (B > TextStart && (static_cast<uint8_t>(S[B]) & 0xC0) == 0x80)
          --B;
        unsigned Len;
        if (!unicode::isSpace(unicode::decodeUtf8(S, B, Len)))
          break;
        Start = B;
      }
    }
    if (T->Rstrip) {
      while (Stop < S.size()) {
        unsigned Len;
        if (!unicode::isSpace(unicode::decodeUtf8(S, Stop, Len)))
          break;
        Stop += Len;
      }
    }
    if (Start > TextStart)
      Out.push_back({TextStart, Start, -1});
    Out.push_back({Start, Stop, T->Id});
    TextStart = Pos = Stop;
  }
  if (TextStart < S.size())
    Out.push_back({TextStart, S.size(), -1});
}
} // namespace

bool tok::checkTokenId(const IdBound &B, std::string_view Token,
                       const JsonValue &V, int32_t &Out, std::string &Error) {
  std::string Name = "token " + jsonQuote(Token);
  if (!V.isInt()) {
    Error = Name + " has an id that is not an integer";
    return false;
  }
  int64_t Id = V.asInt();
  if (Id < 0) {
    Error = Name + " has a negative id " + std::to_string(Id);
    return false;
  }
  if (static_cast<uint64_t>(Id) >= B.Limit) {
    Error = Name + " has id " + std::to_string(Id) +
            (B.FromModel ? ", beyond the model's vocabulary (" +
                               std::to_string(B.Limit) + ")"
                         : ", which exceeds 2^24, beyond any real vocabulary");
    return false;
  }
  Out = static_cast<int32_t>(Id);
  return true;
}

class TokenizerImpl {
public:
  explicit TokenizerImpl(IdBound Bound) : Bound(Bound) {}
  bool load(const JsonValue &Root, std::string &Error);
  std::vector<int32_t> encode(std::string_view Text, bool AddSpecial) const;
  std::string decode(const int32_t *Ids, size_t N, bool SkipSpecial) const;

  BpeModel Model;
  std::vector<NormalizerStep> Normalizers;
  std::vector<PreTokenizerStep> PreTokenizers;
  std::vector<DecoderStep> Decoders;
  bool HasDecoder = false;
  std::vector<AddedToken> Added;
  AddedTokenMatcher RawMatcher, NormalizedMatcher;
  std::unordered_map<std::string_view, int32_t> AddedByContent;
  std::vector<int32_t> PostPrefix, PostSuffix; // post-processor's tokens
  // Per id: its string (into Model or Added), validity and specialness.
  std::vector<std::string_view> IdToString;
  std::vector<bool> Valid, Special;

private:
  IdBound Bound; // what ids the file may use
  bool parseAddedTokens(const JsonValue *List, std::string &Error);
  bool parsePostProcessor(const JsonValue &V, std::string &Error);
  void encodeText(
      std::string_view Text, bool AtStart, std::vector<int32_t> &Out,
      std::unordered_map<std::string, std::vector<int32_t>> &Cache) const;
};

bool TokenizerImpl::parseAddedTokens(const JsonValue *List,
                                     std::string &Error) {
  if (!List || List->isNull())
    return true;
  if (!List->isArray()) {
    Error = "'added_tokens' is not an array";
    return false;
  }
  Added.reserve(List->size()); // Matchers keep pointers into Added.
  for (const JsonValue &T : List->array()) {
    const JsonValue *Id = T.find("id");
    const JsonValue *Content = T.find("content");
    if (!Id || !Content || !Content->isString()) {
      Error = "added token #" + std::to_string(Added.size()) +
              " needs an 'id' and a 'content'";
      return false;
    }
    int32_t IdValue;
    if (!checkTokenId(Bound, Content->asString(), *Id, IdValue, Error))
      return false;
    auto Flag = [&T](const char *Key, bool Default) {
      const JsonValue *F = T.find(Key);
      return F && F->isBool() ? F->asBool() : Default;
    };
    AddedToken A;
    A.Content = std::string(Content->asString());
    A.Id = IdValue;
    A.Special = Flag("special", false);
    A.Normalized = Flag("normalized", !A.Special);
    A.Lstrip = Flag("lstrip", false);
    A.Rstrip = Flag("rstrip", false);
    A.SingleWord = Flag("single_word", false);
    A.Match = A.Content;
    if (A.Normalized)
      normalize(Normalizers, A.Match);
    Added.push_back(std::move(A));
  }
  for (const AddedToken &A : Added) {
    (A.Normalized ? NormalizedMatcher : RawMatcher).add(&A);
    AddedByContent[A.Content] = A.Id;
  }
  return true;
}

bool TokenizerImpl::parsePostProcessor(const JsonValue &V, std::string &Error) {
  if (V.isNull())
    return true;
  const JsonValue *T = V.find("type");
  std::string_view Type = T ? T->asString() : "?";
  if (Type == "Sequence") {
    const JsonValue *List = V.find("processors");
    for (const JsonValue &P :
         List ? List->array() : JsonArrayRange(nullptr, nullptr))
      if (!parsePostProcessor(P, Error))
        return false;
    return true;
  }
  if (Type == "ByteLevel")
    return true; // only adjusts offsets
  std::vector<int32_t> Prefix, Suffix;
  if (Type == "TemplateProcessing") {
    const JsonValue *Single = V.find("single");
    const JsonValue *Specials = V.find("special_tokens");
    bool SeenSequence = false;
    for (const JsonValue &Item :
         Single ? Single->array() : JsonArrayRange(nullptr, nullptr)) {
      if (Item.find("Sequence")) {
        SeenSequence = true;
        continue;
      }
      const JsonValue *ST = Item.find("SpecialToken");
      const JsonValue *Name = ST ? ST->find("id") : nullptr;
      const JsonValue *Def =
          Name && Specials ? Specials->find(Name->asString()) : nullptr;
      const JsonValue *Ids = Def ? Def->find("ids") : nullptr;
      if (!Ids || !Ids->isArray()) {
        Error = "post-processor TemplateProcessing: special token " +
                (Name ? jsonQuote(Name->asString()) : std::string("?")) +
                " is not defined in special_tokens";
        return false;
      }
      for (const JsonValue &Id : Ids->array()) {
        int32_t V;
        if (!checkTokenId(Bound, Name->asString(), Id, V, Error))
          return false;
        (SeenSequence ? Suffix : Prefix).push_back(V);
      }
    }
  } else if (Type == "RobertaProcessing" || Type == "BertProcessing") {
    const JsonValue *Cls = V.find("cls");
    const JsonValue *Sep = V.find("sep");
    if (!Cls || Cls->size() != 2 || !Sep || Sep->size() != 2) {
      Error = "post-processor " + std::string(Type) + " without cls/sep";
      return false;
    }
    int32_t ClsId, SepId;
    if (!checkTokenId(Bound, (*Cls)[0].asString(), (*Cls)[1], ClsId, Error) ||
        !checkTokenId(Bound, (*Sep)[0].asString(), (*Sep)[1], SepId, Error))
      return false;
    Prefix.push_back(ClsId);
    Suffix.push_back(SepId);
  } else {
    Error = "unsupported post-processor '" + std::string(Type) + "'";
    return false;
  }
  // A later processor wraps what the earlier ones produced.
  PostPrefix.insert(PostPrefix.begin(), Prefix.begin(), Prefix.end());
  PostSuffix.insert(PostSuffix.end(), Suffix.begin(), Suffix.end());
  return true;
}

bool TokenizerImpl::load(const JsonValue &Root, std::string &Error) {
  if (!Root.isObject()) {
    Error = "not a tokenizer.json (top level is not an object)";
    return false;
  }
  const JsonValue *M = Root.find("model");
  if (!M) {
    Error = "not a tokenizer.json (no 'model')";
    return false;
  }
  const JsonValue Null;
  auto Member = [&](const char *Key) -> const JsonValue & {
    const JsonValue *V = Root.find(Key);
    return V ? *V : Null;
  };
  if (!Model.parse(*M, Bound, Error) ||
      !parseNormalizer(Member("normalizer"), Normalizers, Error) ||
      !parsePreTokenizer(Member("pre_tokenizer"), PreTokenizers, Error) ||
      !parseDecoder(Member("decoder"), Decoders, HasDecoder, Error) ||
      !parsePostProcessor(Member("post_processor"), Error) ||
      !parseAddedTokens(Root.find("added_tokens"), Error))
    return false;

  // The id -> string table: added tokens override the model's spelling.
  const Vocabulary &Vocab = Model.vocab();
  size_t Size = Vocab.size();
  for (const AddedToken &A : Added)
    Size = std::max(Size, static_cast<size_t>(A.Id) + 1);
  IdToString.assign(Size, std::string_view());
  Valid.assign(Size, false);
  Special.assign(Size, false);
  for (size_t I = 0; I < Vocab.size(); ++I) {
    IdToString[I] = Vocab.token(I);
    Valid[I] = Vocab.hasId(I);
  }
  for (const AddedToken &A : Added) {
    IdToString[A.Id] = A.Content;
    Valid[A.Id] = true;
  }
  // `tokenizers` skips special tokens by their string, so a model token
  // spelled like a special token is skipped too.
  for (const AddedToken &A : Added) {
    if (!A.Special)
      continue;
    Special[A.Id] = true;
    int32_t Same = Model.lookup(A.Content);
    if (Same >= 0)
      Special[Same] = true;
  }
  for (int32_t Id : PostPrefix)
    if (Id < 0 || static_cast<size_t>(Id) >= Size || !Valid[Id]) {
      Error = "post-processor uses unknown token id " + std::to_string(Id);
      return false;
    }
  for (int32_t Id : PostSuffix)
    if (Id < 0 || static_cast<size_t>(Id) >= Size || !Valid[Id]) {
      Error = "post-processor uses unknown token id " + std::to_string(Id);
      return false;
    }
  return true;
}

void TokenizerImpl::encodeText(
    std::string_view Text, bool AtStart, std::vector<int32_t> &Out,
    std::unordered_map<std::string, std::vector<int32_t>> &Cache) const {
  std::string Norm(Text);
  normalize(Normalizers, Norm);
  std::vector<Segment> Segments;
  splitOnAddedTokens(NormalizedMatcher, Norm, Segments);
  std::vector<std::string> Words;
  for (const Segment &S : Segments) {
    if (S.Id >= 0) {
      Out.push_back(S.Id);
      continue;
    }
    Words.clear();
    preTokenize(PreTokenizers,
                std::string_view(Norm).substr(S.Begin, S.End - S.Begin),
                AtStart && S.Begin == 0, Words);
    for (const std::string &W : Words) {
      // Repeated words are common in long texts; long ones (a whole
      // SentencePiece input) are not worth keeping.
      if (W.size() > 64) {
        Model.tokenize(W, Out);
        continue;
      }
      auto It = Cache.find(W);
      if (It == Cache.end()) {
        std::vector<int32_t> Ids;
        Model.tokenize(W, Ids);
        It = Cache.emplace(W, std::move(Ids)).first;
      }
      Out.insert(Out.end(), It->second.begin(), It->second.end());
    }
  }
}

std::vector<int32_t> TokenizerImpl::encode(std::string_view Text,
                                           bool AddSpecial) const {
  std::vector<int32_t> Out;
  if (AddSpecial)
    Out = PostPrefix;
  std::unordered_map<std::string, std::vector<int32_t>> Cache;
  std::vector<Segment> Segments;
  splitOnAddedTokens(RawMatcher, Text, Segments);
  for (const Segment &S : Segments) {
    if (S.Id >= 0)
      Out.push_back(S.Id);
    else
      encodeText(Text.substr(S.Begin, S.End - S.Begin), S.Begin == 0, Out,
                 Cache);
  }
  if (AddSpecial)
    Out.insert(Out.end(), PostSuffix.begin(), PostSuffix.end());
  return Out;
}

std::string TokenizerImpl::decode(const int32_t *Ids, size_t N,
                                  bool SkipSpecial) const {
  std::vector<std::string> Tokens;
  Tokens.reserve(N);
  for (size_t I = 0; I < N; ++I) {
    int32_t Id = Ids[I];
    if (Id < 0 || static_cast<size_t>(Id) >= Valid.size() || !Valid[Id])
      continue;
    if (SkipSpecial && Special[Id])
      continue;
    Tokens.emplace_back(IdToString[Id]);
  }
  if (!HasDecoder) {
    // No decoder: `tokenizers` joins the tokens with spaces.
    std::string Out;
    for (size_t I = 0; I < Tokens.size(); ++I)
      Out += (I ? " " : "") + Tokens[I];
    return Out;
  }
  return runDecoders(Decoders, std::move(Tokens));
}

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> Impl)
    : Impl(std::move(Impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::loadJson(std::string_view Json,
                                               std::string &Error,
                                               std::string_view Name,
                                               uint64_t ModelVocab) {
  JsonDocument Doc;
  std::string Why;
  IdBound Bound{ModelVocab ? ModelVocab : MaxTokenizerVocab, ModelVocab != 0};
  auto Impl = std::make_unique<TokenizerImpl>(Bound);
  if (!parseJson(Json, Doc, Why) || !Impl->load(Doc.root(), Why)) {
    Error = std::string(Name) + ": " + Why;
    return nullptr;
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(Impl)));
}

std::unique_ptr<Tokenizer> Tokenizer::loadFile(const std::string &Path,
                                               std::string &Error,
                                               uint64_t ModelVocab) {
  std::FILE *F = std::fopen(Path.c_str(), "rb");
  if (!F) {
    Error = "cannot open tokenizer '" + Path + "': " + std::strerror(errno);
    return nullptr;
  }
  std::string Text;
  char Buf[1 << 16];
  for (size_t N; (N = std::fread(Buf, 1, sizeof Buf, F)) > 0;)
    Text.append(Buf, N);
  bool Failed = std::ferror(F);
  std::fclose(F);
  if (Failed) {
    Error = "cannot read tokenizer '" + Path + "'";
    return nullptr;
  }
  return loadJson(Text, Error, Path, ModelVocab);
}

std::vector<int32_t> Tokenizer::encode(std::string_view Text,
                                       bool AddSpecialTokens) const {
  return Impl->encode(Text, AddSpecialTokens);
}

std::string Tokenizer::decode(const int32_t *Ids, size_t NumIds,
                              bool SkipSpecialTokens) const {
  return Impl->decode(Ids, NumIds, SkipSpecialTokens);
}

size_t Tokenizer::vocabSize() const { return Impl->Valid.size(); }

bool Tokenizer::isValidId(int32_t Id) const {
  return Id >= 0 && static_cast<size_t>(Id) < Impl->Valid.size() &&
         Impl->Valid[Id];
}

std::string_view Tokenizer::tokenToString(int32_t Id) const {
  return isValidId(Id) ? Impl->IdToString[Id] : std::string_view();
}

int32_t Tokenizer::tokenToId(std::string_view Token) const {
  auto It = Impl->AddedByContent.find(Token);
  if (It != Impl->AddedByContent.end())
    return It->second;
  return Impl->Model.lookup(Token);
}

bool Tokenizer::isSpecial(int32_t Id) const {
  return isValidId(Id) && Impl->Special[Id];
}

} // namespace monocard
