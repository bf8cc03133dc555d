#!/usr/bin/env python3
"""Derives more tokenizer test fixtures from the ones make_tokenizer_fixtures.py
trains, for configurations real checkpoints use that the base three lack:

  qwen2-bytelevel  llama3-bytelevel's vocabulary with Qwen2's pipeline:
                   normalizer NFC, the Qwen2 split regex (\\p{N} one digit at
                   a time), no BOS; plus added tokens with lstrip, rstrip,
                   single_word and normalized set, and one special token
                   that is a prefix of another.
  sp-metaspace     sp-bpe's vocabulary with the newer SentencePiece form:
                   no normalizer, pre-tokenizer Metaspace(prepend_scheme
                   "first", split false), decoder Metaspace.
  digits-bytelevel gpt2-bytelevel's vocabulary with StarCoder / SmolLM's
                   pre-tokenizer Sequence[Digits(individual_digits),
                   ByteLevel].

The cases are recorded with Hugging Face `tokenizers`: the Python package
when it is installed (the GPU machine), otherwise its Node.js binding (the
npm package `tokenizers`, same Rust core) found under --node-modules:

  python3 python/make_tokenizer_variants.py --out test/Runtime/Tokenizer/Inputs
  python3 python/make_tokenizer_variants.py --out test/Runtime/Tokenizer/Inputs \\
      --node-modules /tmp/tok-npm/node_modules
"""

import argparse
import copy
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import COMMON_CASES, LLAMA3_PATTERN  # noqa

SPIECE = "\u2581"
QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")

# What the variants change: Unicode normalization, digit splitting, case
# folding in contractions, Unicode whitespace, added-token options.
EXTRA_CASES = [
    "cafe\u0301 A\u030a \u212b \u2126 \u1100\u1161\u11a8 \uac00\u11a8",
    "e\u0301\u0323 q\u0307\u0323 \u1e0b\u0323",
    "digits 1234567 \u0661\u0662\u0663 x\u00b2 \u2167 \u00bd",
    "IT'S 'S 'Re 'LL 'D 'M 'VE 'T \u017f 'x",
    "ws\u2003em\u3000ideo\u2028ls\u0085nel\u000bvt end",
    "\n\n\n  \t \r\n\r\n x",
    "  two leading, trailing two  ",
]

QWEN2_SPECIAL_CASES = [
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>xyz <|im_start|>x",
    "left   [LS] x [LS]",
    "right [RS]   x[RS]",
    "word words sword word, word_ \u00e9word word",
    "C\u0327a \u00c7a",
]

SP_SPECIAL_CASES = [
    "<s>Hello</s>",
    "<s> Hello </s> world",
    " <s>",
]


def base(outdir, name):
    with open(os.path.join(outdir, name, "tokenizer.json"), encoding="utf-8") as f:
        return json.load(f)


def qwen2(outdir):
    tj = copy.deepcopy(base(outdir, "llama3-bytelevel"))
    tj["normalizer"] = {"type": "NFC"}
    split, byte_level = tj["pre_tokenizer"]["pretokenizers"]
    assert split["pattern"]["Regex"] == LLAMA3_PATTERN
    split["pattern"]["Regex"] = QWEN2_PATTERN
    byte_level["trim_offsets"] = False
    tj["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False,
                            "trim_offsets": False, "use_regex": False}
    tj["model"]["ignore_merges"] = False
    next_id = max(a["id"] for a in tj["added_tokens"]) + 1
    for content, opts in [("<|im_start|>", {"special": True}),
                          ("<|im_end|>", {"special": True}),
                          ("<|im_start|>x", {"special": True}),
                          ("[LS]", {"lstrip": True}),
                          ("[RS]", {"rstrip": True}),
                          ("word", {"single_word": True, "normalized": True}),
                          ("\u00c7a", {"normalized": True})]:
        tok = {"id": next_id, "content": content, "single_word": False,
               "lstrip": False, "rstrip": False, "normalized": False,
               "special": False}
        tok.update(opts)
        tj["added_tokens"].append(tok)
        next_id += 1
    return tj, QWEN2_SPECIAL_CASES


def sp_metaspace(outdir):
    tj = copy.deepcopy(base(outdir, "sp-bpe"))
    tj["normalizer"] = None
    meta = {"type": "Metaspace", "replacement": SPIECE,
            "prepend_scheme": "first", "split": False}
    tj["pre_tokenizer"] = meta
    tj["decoder"] = dict(meta)
    return tj, SP_SPECIAL_CASES


def digits(outdir):
    tj = copy.deepcopy(base(outdir, "gpt2-bytelevel"))
    tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, tj["pre_tokenizer"]]}
    return tj, ["<|endoftext|>12345<|endoftext|>", "v1.2.3 and 2024-01-01"]


NODE_SCRIPT = r"""
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
(async () => {
  const tok = Tokenizer.fromString(fs.readFileSync(process.argv[1], 'utf8'));
  const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const t of texts) {
    const e = await tok.encode(t, null, { addSpecialTokens: false });
    const ids = e.getIds();
    out.push({ ids, tokens: e.getTokens(),
      ids_with_special: (await tok.encode(t, null, { addSpecialTokens: true })).getIds(),
      decoded: await tok.decode(ids, false),
      decoded_skip_special: await tok.decode(ids, true) });
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def record(text_json, path, texts, node_modules):
    """The library's results for texts, in make_tokenizer_fixtures' format."""
    try:
        from tokenizers import Tokenizer
        from make_tokenizer_fixtures import make_cases
        return make_cases(Tokenizer.from_str(text_json), texts)[0]
    except ImportError:
        pass
    if not node_modules:
        sys.exit("no Python `tokenizers`: pass --node-modules DIR")
    env = dict(os.environ, NODE_PATH=node_modules)
    res = subprocess.run(["node", "-e", NODE_SCRIPT, path], env=env,
                         input=json.dumps(texts).encode(), check=True,
                         capture_output=True)
    cases = []
    for t, r in zip(texts, json.loads(res.stdout)):
        cases.append({"text": t, **r, "roundtrip": r["decoded"] == t})
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/Runtime/Tokenizer/Inputs")
    ap.add_argument("--node-modules")
    args = ap.parse_args()
    for name, build in [("qwen2-bytelevel", qwen2),
                        ("sp-metaspace", sp_metaspace),
                        ("digits-bytelevel", digits)]:
        tj, specials = build(args.out)
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        text = json.dumps(tj, ensure_ascii=False, separators=(",", ":"))
        p = os.path.join(d, "tokenizer.json")
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        cases = record(text, p, COMMON_CASES + EXTRA_CASES + specials,
                       args.node_modules)
        with open(os.path.join(d, "cases.json"), "w", encoding="utf-8") as f:
            f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False)
                                        for c in cases) + "\n]\n")
        print(f"{name}: {len(cases)} cases")


if __name__ == "__main__":
    main()
