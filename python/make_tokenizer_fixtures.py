#!/usr/bin/env python3
"""Builds the tokenizer test fixtures in test/Runtime/Tokenizer/Inputs/.

Three small but real Hugging Face `tokenizer.json` files, trained with the
`tokenizers` library on the Debian fortunes corpus, in the shapes real
checkpoints use, plus `cases.json` for each: the library's own encoding of
~30 test strings (add_special_tokens=False), the token strings, the
encoding with special tokens, and the library's decode of the ids.

  gpt2-bytelevel    BPE + ByteLevel pre-tokenizer (GPT-2 regex) + ByteLevel
                    decoder; merges as "a b" strings; <|endoftext|> last id,
                    in the vocab and in added_tokens (as GPT-2).
  llama3-bytelevel  BPE (ignore_merges true) + Sequence[Split(Llama-3 regex,
                    Isolated), ByteLevel(use_regex false)]; merges as
                    [a, b] pairs; special tokens only in added_tokens (ids
                    after the vocab, as Llama-3); TemplateProcessing adds
                    <|begin_of_text|>.
  sp-bpe            SentencePiece-style BPE as transformers' LlamaConverter
                    writes it (Llama-2 / Mistral): normalizer
                    Sequence[Prepend("▁"), Replace(" ", "▁")], no
                    pre-tokenizer, byte_fallback with <0x00>..<0xFF>,
                    fuse_unk, decoder Sequence[Replace, ByteFallback, Fuse,
                    Strip]; TemplateProcessing adds <s>.

Run where `tokenizers` is installed (the GPU machine):
  python3 python/train_demo.py corpus --out .demo_corpus/fortunes.json
  python3 python/make_tokenizer_fixtures.py --corpus .demo_corpus/fortunes.json \
      --out test/Runtime/Tokenizer/Inputs
  # verify the fixtures without `tokenizers` (needs the `regex` module):
  python3 python/make_tokenizer_fixtures.py --check --out test/Runtime/Tokenizer/Inputs
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_demo import (BYTELEVEL_DEC, BYTELEVEL_POST, BYTELEVEL_PRE,  # noqa
                        added_token, bpe_model, load_corpus, template_bos,
                        tokenizer_json, train_bpe, train_bytelevel_bpe)

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                  r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
                  r"\s+(?!\S)|\s+")

SPIECE = "\u2581"  # ▁

COMMON_CASES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "a",
    " leading space",
    "trailing spaces  ",
    "multiple    spaces   between words",
    "   ",
    "\n",
    "line one\nline two\n\nline four\n",
    "tabs\tand\ttabs\t\tend",
    "Windows\r\nline end",
    "You will be successful in your work.\n\t\t-- Anonymous",
    "    def f(x):\n        return x ** 2\n",
    "1234567890 3.14159 2026-11-21 1,000,000 42nd",
    "Punctuation!!! What?! (yes) [no] {maybe} -- \"quoted\" 'single' ...",
    "don't I'M you'll we've they'd it's SHE'S o'clock",
    "mixed CaSe WoRdS and ALLCAPS",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 jalape\u00f1o \u00fcber Stra\u00dfe "
    "\u00c0\u00c9\u00ce\u00d5\u00dc",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac: "
    "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 "
    "\u03ba\u03cc\u03c3\u03bc\u03b5",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 "
    "\u0442\u0435\u043a\u0441\u0442: \u041f\u0440\u0438\u0432\u0435\u0442, "
    "\u043c\u0438\u0440!",
    "\u4e2d\u6587\u6d4b\u8bd5\uff1a\u4f60\u597d\uff0c\u4e16\u754c\u3002"
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "emoji \U0001F600 family \U0001F468\u200d\U0001F469\u200d\U0001F467"
    "\u200d\U0001F466 flag \U0001F1EF\U0001F1F5 heart \u2764\ufe0f",
    "Rare: \u222e \u221e \u2260 \u2248 \u2603 \U0001D518\U0001D52B"
    "\U0001D526\U0001D520\U0001D52C\U0001D521\U0001D522",
    "control \x07bell \x1b[0m and\u00a0nbsp",
    "https://example.com/path?q=1&r=2#frag user@host.org",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "A" * 40 + " " + "ab" * 20,
    "Q: Why did the chicken cross the road?\nA: To get to the other side.",
]


def special_cases(specials):
    """Texts with special-token strings inside (the library splits them
    out even with add_special_tokens=False)."""
    a = specials[0]
    b = specials[-1]
    return [f"Hello{a}world", f"{a} spaced {b}", f"{b}{b}x"]


def make_cases(tok, texts):
    cases = []
    bad = 0
    for t in texts:
        enc = tok.encode(t, add_special_tokens=False)
        ids = list(enc.ids)
        dec = tok.decode(ids, skip_special_tokens=False)
        cases.append({
            "text": t,
            "ids": ids,
            "tokens": list(enc.tokens),
            "ids_with_special": list(
                tok.encode(t, add_special_tokens=True).ids),
            "decoded": dec,
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            "roundtrip": dec == t,
        })
        bad += dec != t
    return cases, bad


def check_size(path):
    n = os.path.getsize(path)
    assert n < 200_000, (path, n)
    return n


def write(outdir, name, tj, specials):
    from tokenizers import Tokenizer
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    text = json.dumps(tj, ensure_ascii=False, indent=None,
                      separators=(",", ":"))
    tok = Tokenizer.from_str(text)  # the library must accept it as is
    p = os.path.join(d, "tokenizer.json")
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)
    cases, bad = make_cases(tok, COMMON_CASES + special_cases(specials))
    with open(os.path.join(d, "cases.json"), "w", encoding="utf-8") as f:
        # One case per line: valid JSON, easy to diff.
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False)
                                    for c in cases) + "\n]\n")
    print(f"{name}: vocab {tok.get_vocab_size(with_added_tokens=False)} "
          f"(+added {tok.get_vocab_size(True) - tok.get_vocab_size(False)}), "
          f"{len(tj['model']['merges'])} merges, {check_size(p)} bytes, "
          f"{len(cases)} cases, {bad} not round-tripping", flush=True)
    for c in cases:
        if not c["roundtrip"]:
            print("   no round trip:", repr(c["text"]), "->",
                  repr(c["decoded"]))
    for c in cases[:2] + cases[-3:]:
        print("  ", repr(c["text"]), c["tokens"])
    return tok


def build_gpt2(texts, vocab_size):
    vocab, merges = train_bytelevel_bpe(texts, vocab_size - 1, BYTELEVEL_PRE)
    eot = "<|endoftext|>"
    vocab = dict(vocab)
    vocab[eot] = len(vocab)
    tj = tokenizer_json(
        bpe_model(vocab, merges, merges_style="strings",
                  continuing_subword_prefix="", end_of_word_suffix=""),
        [added_token(vocab[eot], eot, normalized=True)],
        pre_tokenizer=BYTELEVEL_PRE, post_processor=BYTELEVEL_POST,
        decoder=BYTELEVEL_DEC)
    return tj, [eot]


def build_llama3(texts, vocab_size):
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False,
         "trim_offsets": True, "use_regex": False}]}
    specials = ["<|begin_of_text|>", "<|end_of_text|>",
                "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    vocab, merges = train_bytelevel_bpe(texts, vocab_size - len(specials),
                                        pre)
    base = len(vocab)
    added = [added_token(base + i, s) for i, s in enumerate(specials)]
    post = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True,
         "trim_offsets": False, "use_regex": True},
        template_bos(specials[0], base)]}
    tj = tokenizer_json(
        bpe_model(vocab, merges, merges_style="pairs", ignore_merges=True),
        added, pre_tokenizer=pre, post_processor=post, decoder=BYTELEVEL_DEC)
    return tj, specials


def build_sp(texts, vocab_size):
    norm = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": SPIECE},
        {"type": "Replace", "pattern": {"String": " "}, "content": SPIECE}]}
    # Training-only pre-tokenizer, mimicking SentencePiece's pieces: words
    # with their leading ▁, runs of ▁, control characters isolated, single
    # digits (split_digits).  The written tokenizer has no pre-tokenizer.
    train_pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split",
         "pattern": {"Regex": f"{SPIECE}+(?={SPIECE})|{SPIECE}?[^{SPIECE}"
                              f"\\x00-\\x1f]+|{SPIECE}|[\\x00-\\x1f]"},
         "behavior": "Isolated", "invert": False},
        {"type": "Digits", "individual_digits": True}]}
    specials = ["<unk>", "<s>", "</s>"]
    byte_toks = [f"<0x{i:02X}>" for i in range(256)]
    tv, merges = train_bpe(texts, vocab_size - 256, pre_tokenizer=train_pre,
                           normalizer=norm, special_tokens=specials)
    # Control characters go through byte fallback, as in Llama-2.
    in_merges = {t for m in merges for t in m}
    vocab = {s: i for i, s in enumerate(specials + byte_toks)}
    for t, _ in sorted(tv.items(), key=lambda kv: kv[1]):
        if t in vocab:
            continue
        if len(t) == 1 and ord(t) < 32:
            assert t not in in_merges, repr(t)
            continue
        vocab[t] = len(vocab)
    for a, b in merges:
        assert a in vocab and b in vocab and a + b in vocab, (a, b)
    dec = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": SPIECE}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    tj = tokenizer_json(
        bpe_model(vocab, merges, merges_style="strings", unk_token="<unk>",
                  fuse_unk=True, byte_fallback=True),
        [added_token(i, s) for i, s in enumerate(specials)],
        normalizer=norm, pre_tokenizer=None,
        post_processor=template_bos("<s>", 1), decoder=dec)
    return tj, ["<s>", "</s>"]


# --------------------------------------------------------------------------
# --check: a plain-Python re-implementation of the three pipelines (needs
# only the `regex` module), run against cases.json.  It documents, in code,
# what a runtime tokenizer must do to match the library.
# --------------------------------------------------------------------------

GPT2_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|"
                r" ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")


def _bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1))
          + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _bpe(symbols, ranks):
    """Repeatedly merge the adjacent pair of lowest rank (leftmost first)."""
    while len(symbols) > 1:
        best = None
        for i in range(len(symbols) - 1):
            r = ranks.get((symbols[i], symbols[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        symbols = symbols[:i] + [symbols[i] + symbols[i + 1]] + symbols[i + 2:]
    return symbols


def _split_added(text, added, rx):
    """Added (special) tokens are cut out of the raw text first, longest
    first, even with add_special_tokens=False."""
    out, pos = [], 0
    if added:
        pat = rx.compile("|".join(rx.escape(s) for s in
                                  sorted(added, key=len, reverse=True)))
        for m in pat.finditer(text):
            if m.start() > pos:
                out.append((text[pos:m.start()], False))
            out.append((m.group(), True))
            pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def reference_encode(tj, text):
    import regex as rx
    m = tj["model"]
    vocab = m["vocab"]
    ranks = {tuple(x.split(" ")) if isinstance(x, str) else tuple(x): i
             for i, x in enumerate(m["merges"])}
    added = {a["content"]: a["id"] for a in tj["added_tokens"]}
    b2u = _bytes_to_unicode()
    pre = tj["pre_tokenizer"]
    ids = []
    for seg, special in _split_added(text, added, rx):
        if special:
            ids.append(added[seg])
            continue
        if pre is None:  # sp-bpe: normalizer, then BPE over the whole segment
            s = SPIECE + seg.replace(" ", SPIECE)
            for sym in _bpe(list(s), ranks):
                if sym in vocab:
                    ids.append(vocab[sym])
                else:  # byte fallback
                    ids += [vocab["<0x%02X>" % b] for b in sym.encode()]
            continue
        if pre["type"] == "ByteLevel":
            pattern = GPT2_PATTERN
        else:
            pattern = pre["pretokenizers"][0]["pattern"]["Regex"]
        for piece in rx.findall(pattern, seg):
            w = "".join(b2u[b] for b in piece.encode("utf-8"))
            if m.get("ignore_merges") and w in vocab:
                ids.append(vocab[w])
                continue
            ids += [vocab[s] for s in _bpe(list(w), ranks)]
    return ids


def check(outdir):
    bad = 0
    for name in ("gpt2-bytelevel", "llama3-bytelevel", "sp-bpe"):
        d = os.path.join(outdir, name)
        tj = json.load(open(os.path.join(d, "tokenizer.json"),
                            encoding="utf-8"))
        cases = json.load(open(os.path.join(d, "cases.json"),
                               encoding="utf-8"))
        ok = 0
        for c in cases:
            got = reference_encode(tj, c["text"])
            if got == c["ids"]:
                ok += 1
            else:
                bad += 1
                print(f"{name}: MISMATCH {c['text']!r}: {got} != {c['ids']}")
        print(f"{name}: {ok}/{len(cases)} cases match")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=".demo_corpus/fortunes.json")
    ap.add_argument("--out", default="test/Runtime/Tokenizer/Inputs")
    ap.add_argument("--check", action="store_true",
                    help="only verify --out's cases.json with the plain "
                         "Python re-implementation (needs `regex`, not "
                         "`tokenizers`)")
    args = ap.parse_args()
    if args.check:
        sys.exit(1 if check(args.out) else 0)
    import tokenizers
    print("tokenizers", tokenizers.__version__, flush=True)
    texts = load_corpus(args.corpus)
    for name, fn, n in (("gpt2-bytelevel", build_gpt2, 1500),
                        ("llama3-bytelevel", build_llama3, 1800),
                        ("sp-bpe", build_sp, 1500)):
        tj, specials = fn(texts, n)
        write(args.out, name, tj, specials)


if __name__ == "__main__":
    main()
