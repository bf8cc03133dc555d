"""Writes DIR/tokenizer.json for the fake CUDA model (vocab 97): byte-level
BPE without merges whose 97 ids are the characters '!'..'~' (ids 0..93),
space (94), newline (95) and tab (96), so every character of plain ASCII
text is one token and id(c) is easy to compute in a test:
    ord(c) - 33 for '!'..'~', 94 / 95 / 96 for ' ', '\\n', '\\t'."""
import json
import os
import sys

chars = [chr(c) for c in range(33, 127)] + ["\u0120", "\u010a", "\u0109"]
vocab = {c: i for i, c in enumerate(chars)}
tok = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [], "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                      "trim_offsets": True, "use_regex": True},
    "post_processor": None,
    "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None,
              "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
              "merges": []},
}
os.makedirs(sys.argv[1], exist_ok=True)
with open(os.path.join(sys.argv[1], "tokenizer.json"), "w") as f:
    json.dump(tok, f, ensure_ascii=False)
