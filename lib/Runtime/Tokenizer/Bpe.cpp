//===- Bpe.cpp - The BPE model of tokenizer.json --------------------------===//
//
// Mirrors `tokenizers`' BPE::merge_word and Word::merge_all: a word starts as
// one symbol per character (or per byte through byte fallback, or an unknown
// token), then the pair with the lowest merge rank, leftmost first, is merged
// until no pair has a merge. A priority queue of candidate merges keeps that
// O(n log n) in the word length, which matters for SentencePiece-style
// tokenizers where the whole input is a single word.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"
#include "Unicode.h"

#include <algorithm>
#include <cstdio>
#include <queue>

namespace monocard {
namespace tok {

//===----------------------------------------------------------------------===//
// Vocabulary
//===----------------------------------------------------------------------===//

uint64_t Vocabulary::hash(std::string_view S) {
  // FNV-1a, then a multiply so that both the low bits (the slot) and the
  // high bits (the tag) depend on every byte.
  uint64_t H = 0xcbf29ce484222325ull;
  for (char C : S)
    H = (H ^ static_cast<uint8_t>(C)) * 0x100000001b3ull;
  return H * 0x9E3779B97F4A7C15ull;
}

void Vocabulary::build(
    const std::vector<std::pair<std::string_view, int32_t>> &Entries) {
  int32_t MaxId = -1;
  for (const auto &E : Entries)
    MaxId = std::max(MaxId, E.second);
  size_t N = static_cast<size_t>(MaxId + 1);
  // Lay the strings out by id.
  std::vector<std::string_view> ById(N);
  Present.assign(N, false);
  for (const auto &E : Entries) {
    ById[E.second] = E.first;
    Present[E.second] = true;
  }
  size_t Bytes = 0;
  for (std::string_view S : ById)
    Bytes += S.size();
  Pool.clear();
  Pool.reserve(Bytes);
  Offsets.assign(1, 0);
  Offsets.reserve(N + 1);
  for (std::string_view S : ById) {
    Pool += S;
    Offsets.push_back(static_cast<uint32_t>(Pool.size()));
  }
  // At most half full keeps probe sequences short.
  size_t Cap = 16;
  while (Cap < 2 * N)
    Cap *= 2;
  Mask = Cap - 1;
  Slots.assign(Cap, Slot{-1, 0});
  for (size_t Id = 0; Id < N; ++Id) {
    if (!Present[Id])
      continue;
    std::string_view S = token(Id);
    uint64_t H = hash(S);
    uint32_t Tag = static_cast<uint32_t>(H >> 32);
    uint64_t I = H & Mask;
    // Two ids spelled the same: the smaller one stays.
    bool Duplicate = false;
    for (; Slots[I].Id >= 0; I = (I + 1) & Mask)
      if (Slots[I].Tag == Tag && token(Slots[I].Id) == S) {
        Duplicate = true;
        break;
      }
    if (!Duplicate)
      Slots[I] = Slot{static_cast<int32_t>(Id), Tag};
  }
}

int32_t Vocabulary::lookup(std::string_view Token) const {
  if (Slots.empty())
    return -1;
  uint64_t H = hash(Token);
  uint32_t Tag = static_cast<uint32_t>(H >> 32);
  for (uint64_t I = H & Mask;; I = (I + 1) & Mask) {
    const Slot &S = Slots[I];
    if (S.Id < 0)
      return -1;
    if (S.Tag == Tag && token(S.Id) == Token)
      return S.Id;
  }
}

//===----------------------------------------------------------------------===//
// BpeModel
//===----------------------------------------------------------------------===//

void BpeModel::insertMerge(int32_t A, int32_t B, int32_t Rank, int32_t NewId) {
  uint64_t Key = pairKey(A, B);
  for (uint64_t I = slotOf(Key, MergeMask);; I = (I + 1) & MergeMask) {
    MergeEntry &E = Merges[I];
    // A repeated pair keeps its last rank, as in `tokenizers`.
    if (E.Key == Key || E.Key == EmptyKey) {
      E = MergeEntry{Key, Rank, NewId};
      return;
    }
  }
}

bool BpeModel::parse(const JsonValue &Model, const IdBound &Ids,
                     std::string &Error) {
  if (!Model.isObject()) {
    Error = "missing or invalid 'model'";
    return false;
  }
  if (const JsonValue *T = Model.find("type")) {
    if (T->asString() != "BPE") {
      Error = "unsupported model type '" + std::string(T->asString()) +
              "' (only BPE is supported)";
      return false;
    }
  }
  for (const char *Key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const JsonValue *V = Model.find(Key);
    if (V && !V->isNull() && !V->asString().empty()) {
      Error = std::string("unsupported BPE option ") + Key + " = " +
              jsonQuote(V->asString());
      return false;
    }
  }
  auto Flag = [&Model](const char *Key) {
    const JsonValue *V = Model.find(Key);
    return V && V->asBool();
  };
  FuseUnk = Flag("fuse_unk");
  ByteFallback = Flag("byte_fallback");
  IgnoreMerges = Flag("ignore_merges");

  // Vocabulary: token -> id, ids need not be dense.
  const JsonValue *V = Model.find("vocab");
  if (!V || !V->isObject()) {
    Error = "BPE model without a 'vocab' object";
    return false;
  }
  std::vector<std::pair<std::string_view, int32_t>> Entries;
  Entries.reserve(V->size());
  for (JsonMember M : V->members()) {
    int32_t Id;
    if (!checkTokenId(Ids, M.Key, M.Value, Id, Error))
      return false;
    Entries.emplace_back(M.Key, Id);
  }
  Vocab.build(Entries);

  if (const JsonValue *U = Model.find("unk_token"); U && U->isString()) {
    UnkId = lookup(U->asString());
    if (UnkId < 0) {
      Error =
          "unk_token " + jsonQuote(U->asString()) + " is not in the vocabulary";
      return false;
    }
  }
  for (int B = 0; B < 256; ++B) {
    char Name[8];
    std::snprintf(Name, sizeof Name, "<0x%02X>", B);
    ByteFallbackIds[B] = lookup(Name);
  }

  // Merges: "a b" strings (older files) or ["a", "b"] pairs (newer ones,
  // which allow spaces inside tokens). Rank = position in the list.
  const JsonValue *MList = Model.find("merges");
  if (!MList || !MList->isArray()) {
    Error = "BPE model without a 'merges' array";
    return false;
  }
  size_t Cap = 16;
  while (Cap < 2 * MList->size())
    Cap *= 2;
  Merges.assign(Cap, MergeEntry{EmptyKey, 0, 0});
  MergeMask = Cap - 1;
  std::string Joined;
  int32_t Rank = 0;
  for (const JsonValue &M : MList->array()) {
    std::string_view A, B;
    if (M.isString()) {
      std::string_view S = M.asString();
      size_t Space = S.find(' ');
      if (Space == std::string_view::npos) {
        Error = "merge #" + std::to_string(Rank) + " " + jsonQuote(S) +
                " is not two tokens separated by a space";
        return false;
      }
      A = S.substr(0, Space);
      B = S.substr(Space + 1);
    } else if (M.isArray() && M.size() == 2 && M[0].isString() &&
               M[1].isString()) {
      A = M[0].asString();
      B = M[1].asString();
    } else {
      Error =
          "merge #" + std::to_string(Rank) + " is neither \"a b\" nor [a, b]";
      return false;
    }
    Joined.assign(A).append(B);
    int32_t IdA = lookup(A), IdB = lookup(B), IdNew = lookup(Joined);
    if (IdA < 0 || IdB < 0 || IdNew < 0) {
      Error = "merge #" + std::to_string(Rank) + " (" + jsonQuote(A) + ", " +
              jsonQuote(B) + ") uses a token not in the vocabulary: " +
              jsonQuote(IdA < 0   ? A
                        : IdB < 0 ? B
                                  : std::string_view(Joined));
      return false;
    }
    insertMerge(IdA, IdB, Rank, IdNew);
    ++Rank;
  }
  return true;
}

void BpeModel::tokenize(std::string_view Word,
                        std::vector<int32_t> &Out) const {
  if (Word.empty())
    return;
  if (IgnoreMerges) {
    int32_t Id = lookup(Word);
    if (Id >= 0) {
      Out.push_back(Id);
      return;
    }
  }
  std::vector<int32_t> Symbols;
  Symbols.reserve(Word.size());
  bool PendingUnk = false; // an unknown character (run, with fuse_unk)
  for (size_t I = 0; I < Word.size();) {
    unsigned Len;
    unicode::decodeUtf8(Word, I, Len); // invalid bytes are 1-byte characters
    std::string_view Char = Word.substr(I, Len);
    I += Len;
    int32_t Id = lookup(Char);
    if (Id >= 0) {
      if (PendingUnk)
        Symbols.push_back(UnkId);
      PendingUnk = false;
      Symbols.push_back(Id);
      continue;
    }
    if (ByteFallback) {
      bool All = true;
      for (char C : Char)
        All &= ByteFallbackIds[static_cast<uint8_t>(C)] >= 0;
      if (All) {
        // Like `tokenizers`, a pending unknown token is not flushed first.
        for (char C : Char)
          Symbols.push_back(ByteFallbackIds[static_cast<uint8_t>(C)]);
        continue;
      }
    }
    if (UnkId >= 0) {
      if (PendingUnk && !FuseUnk)
        Symbols.push_back(UnkId);
      PendingUnk = true;
    }
    // Without an unk token the character is dropped, as in `tokenizers`.
  }
  if (PendingUnk)
    Symbols.push_back(UnkId);
  mergeWord(Symbols);
  Out.insert(Out.end(), Symbols.begin(), Symbols.end());
}

void BpeModel::mergeWord(std::vector<int32_t> &Ids) const {
  if (Ids.size() < 2)
    return;
  struct Symbol {
    int32_t Id;
    int32_t Prev, Next; // neighbours still alive, -1 at the ends
    bool Gone;
  };
  struct Candidate {
    int32_t Rank, Pos, NewId;
    // priority_queue pops the largest: invert to get lowest rank, then
    // leftmost position.
    bool operator<(const Candidate &O) const {
      return Rank != O.Rank ? Rank > O.Rank : Pos > O.Pos;
    }
  };
  const int32_t N = static_cast<int32_t>(Ids.size());
  std::vector<Symbol> S(N);
  for (int32_t I = 0; I < N; ++I)
    S[I] = {Ids[I], I - 1, I + 1 < N ? I + 1 : -1, false};
  std::vector<Candidate> Heap;
  Heap.reserve(N);
  std::priority_queue<Candidate> Queue(std::less<Candidate>(), std::move(Heap));
  auto Consider = [&](int32_t Pos) {
    if (const MergeEntry *E = findMerge(S[Pos].Id, S[S[Pos].Next].Id))
      Queue.push({E->Rank, Pos, E->NewId});
  };
  for (int32_t I = 0; I + 1 < N; ++I)
    Consider(I);
  while (!Queue.empty()) {
    Candidate Top = Queue.top();
    Queue.pop();
    Symbol &L = S[Top.Pos];
    if (L.Gone || L.Next < 0)
      continue;
    // Entries go stale when a neighbour merged first: the pair must still
    // be the one this entry was made for.
    const MergeEntry *E = findMerge(L.Id, S[L.Next].Id);
    if (!E || E->NewId != Top.NewId)
      continue;
    Symbol &R = S[L.Next];
    L.Id = Top.NewId;
    R.Gone = true;
    L.Next = R.Next;
    if (L.Next >= 0)
      S[L.Next].Prev = Top.Pos;
    if (L.Prev >= 0)
      Consider(L.Prev);
    if (L.Next >= 0)
      Consider(Top.Pos);
  }
  Ids.clear();
  for (int32_t I = 0; I >= 0; I = S[I].Next)
    Ids.push_back(S[I].Id);
}

} // namespace tok
} // namespace monocard
