"""A small byte-level BPE tokenizer in Hugging Face `tokenizers` format.

Why this exists: every test checkpoint needs a valid tokenizer.json whose
size matches config.json's vocab_size, and the launcher's tokenizer needs an
independent implementation to be checked against.  This module

  * trains merges on a fixed built-in English text (deterministic), so the
    merges are real, valid BPE merges (each "a b" joins two existing tokens);
  * writes the tokenizer.json dict (model BPE, pre_tokenizer and decoder
    ByteLevel, GPT-2 byte-to-unicode alphabet);
  * encodes/decodes text with such a tokenizer.json (for tests).

Vocabulary layout of the generated tokenizers:
    ids 0..255          one token per byte value b, id == b, spelled with
                        GPT-2's bytes_to_unicode()[b] (so ' ' is 'Ġ')
    ids 256..V-3        tokens created by merges, in merge order
    ids V-2, V-1        added (special) tokens <|begin_of_text|> and
                        <|end_of_text|>; these are in "added_tokens" only,
                        not in model.vocab (Llama-3 style)
Merges are written as "left right" strings (byte-level tokens never contain
a space).  post_processor is null: nothing is added around encoded text.

The pre-tokenizer regex is GPT-2's; Python's `re` has no \\p{L}/\\p{N}, so
it is approximated with \\w classes: exact for ASCII text.
"""

import json
import re

BOS_TOKEN = "<|begin_of_text|>"
EOS_TOKEN = "<|end_of_text|>"

# GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
PRETOKENIZE = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+"""
    r"""|\s+(?!\S)|\s+""")

CORPUS = """\
Once upon a time, in a small town beside a slow green river, there lived an
old clockmaker who kept a shop full of ticking things. Every morning he opened
the shutters, wound the tall clock by the door, and made a cup of tea. The
children of the town liked to stand at his window and watch the little brass
wheels turn. One winter the river froze, and the clocks in the shop began to
run slow, one after another, until the whole town was late for everything.
The baker was late with the bread, the teacher was late for the school, and
the mayor missed the train to the city. So the clockmaker took his tools and
his lamp, and walked out along the frozen river to find out what was wrong.
He found that the water wheel which turned the great gears under the bridge
had stopped, held fast by the ice. He worked through the night, chipping and
warming and oiling, and at dawn the wheel began to move again. When the town
woke up, every clock was right, and nobody knew why. The children said it was
magic; the clockmaker only smiled and put the kettle on.
def compute(x, y): return x * 2 + y - 1  # numbers: 0 1 2 3 42 100 2024 3.14
"The quick brown fox jumps over the lazy dog," she said; it's what we'd
written, and they'll read it. Questions? Answers! Colours, shapes & sounds.
"""


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable chars."""
    bs = (list(range(ord("!"), ord("~") + 1)) +
          list(range(ord("\u00a1"), ord("\u00ac") + 1)) +
          list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def _byte_chunks(text):
    """Pre-tokenize and spell each chunk in the byte-level alphabet."""
    return ["".join(BYTE_TO_CHAR[b] for b in m.encode("utf-8"))
            for m in PRETOKENIZE.findall(text)]


def train(num_new_tokens, text=CORPUS):
    """Learn merges until `num_new_tokens` tokens were added to the 256 byte
    tokens.  Ties (equal pair counts) break on the smaller pair, so the
    result is deterministic.  Returns (vocab {token: id}, merges [(a, b)])."""
    vocab = {BYTE_TO_CHAR[b]: b for b in range(256)}
    words = {}
    for chunk in _byte_chunks(text):
        key = tuple(chunk)
        words[key] = words.get(key, 0) + 1
    merges = []
    while len(vocab) < 256 + num_new_tokens:
        counts = {}
        for w, c in words.items():
            for pair in zip(w, w[1:]):
                counts[pair] = counts.get(pair, 0) + c
        if not counts:
            raise ValueError("corpus too small for %d merges" % num_new_tokens)
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        joined = best[0] + best[1]
        if joined not in vocab:
            vocab[joined] = len(vocab)
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return vocab, merges


def make_tokenizer_json(vocab_size):
    """The tokenizer.json dict for a vocabulary of exactly vocab_size ids
    (256 bytes + merges + 2 special tokens).  Returns (dict, bos_id, eos_id)."""
    if vocab_size < 258:
        raise ValueError("vocab_size must be at least 258, got %d" % vocab_size)
    vocab, merges = train(vocab_size - 258)
    bos, eos = vocab_size - 2, vocab_size - 1
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i, s in ((bos, BOS_TOKEN), (eos, EOS_TOKEN))]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                          "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                    "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab,
                  "merges": ["%s %s" % m for m in merges]},
    }
    return tok, bos, eos


class Tokenizer:
    """Encode/decode with a byte-level BPE tokenizer.json (as written above,
    or GPT-2/Llama-3 style files with string or [a, b] merges)."""

    def __init__(self, tok):
        if isinstance(tok, str):
            with open(tok, encoding="utf-8") as f:
                tok = json.load(f)
        model = tok["model"]
        if model.get("type") != "BPE":
            raise ValueError("not a BPE tokenizer: %r" % model.get("type"))
        self.vocab = dict(model["vocab"])
        self.ranks = {}
        for i, m in enumerate(model["merges"]):
            pair = tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
            self.ranks.setdefault(pair, i)
        self.special = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.special.items()})
        self.vocab_size = max(self.id_to_token) + 1

    def _bpe(self, word):
        syms = list(word)
        while len(syms) > 1:
            pairs = [(self.ranks.get(p, 1 << 62), i)
                     for i, p in enumerate(zip(syms, syms[1:]))]
            rank, _ = min(pairs)
            if rank == 1 << 62:
                break
            a, b = [p for p in zip(syms, syms[1:])
                    if self.ranks.get(p) == rank][0]
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        return [self.vocab[s] for s in syms]

    def encode(self, text):
        """Text -> token ids.  Special-token strings in the text map to their
        ids; nothing (no BOS) is added."""
        ids = []
        if self.special:
            alts = "|".join(re.escape(s) for s in
                            sorted(self.special, key=len, reverse=True))
            parts = re.split("(%s)" % alts, text)
        else:
            parts = [text]
        for part in parts:
            if part in self.special:
                ids.append(self.special[part])
                continue
            for chunk in _byte_chunks(part):
                ids.extend(self._bpe(chunk))
        return ids

    def decode(self, ids):
        """Token ids -> text (special tokens kept verbatim)."""
        out = bytearray()
        for i in ids:
            t = self.id_to_token[int(i)]
            if int(i) in self.special.values():
                out += t.encode("utf-8")
            else:
                out += bytes(CHAR_TO_BYTE[c] for c in t)
        return out.decode("utf-8", errors="replace")
