#!/usr/bin/env python3
"""Rewrites one JSON file of a checkpoint (made by make_checkpoint.py) into a
hostile or an unusual but legitimate form, for the JSON-limit tests.

  hostile_json.py CKPT_DIR CASE
  hostile_json.py --deep FILE          # FILE: 100,000 nested arrays

Cases:
  deep-config     config.json carries a field nested 100,000 levels deep
  nested-config   config.json carries a field nested 10 levels deep (legal)
  dup-config      config.json names "hidden_size" twice
  deep-header     model.safetensors' header nests 100,000 levels deep
  dup-header      model.safetensors' header lists model.norm.weight twice
  escaped-dup-header   the same, the second name spelled with a \\u escape
  deep-index      model.safetensors.index.json nests 100,000 levels deep
"""
import json, os, sys

DEEP = 100000


def deep(n):
    return "[" * n + "]" * n


def nested(n):
    return '{"a":' * n + "1" + "}" * n


def rewrite_header(path, edit):
    """Replaces the header text of a safetensors file by edit(text)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    text = blob[8:8 + n].decode().rstrip()
    new = edit(text).encode()
    new += b" " * (-len(new) % 8)
    with open(path, "wb") as f:
        f.write(len(new).to_bytes(8, "little") + new + blob[8 + n:])


def add_member(text, member):
    """Appends `"key": value` text to the JSON object text."""
    assert text.endswith("}")
    return text[:-1] + "," + member + "}"


def main():
    if sys.argv[1] == "--deep":
        with open(sys.argv[2], "w") as f:
            f.write(deep(DEEP))
        return
    ckpt, case = sys.argv[1], sys.argv[2]
    config = os.path.join(ckpt, "config.json")
    single = os.path.join(ckpt, "model.safetensors")
    with open(config) as f:
        cfg_text = json.dumps(json.load(f))
    if case in ("deep-config", "nested-config", "dup-config"):
        member = {"deep-config": '"x":' + deep(DEEP),
                  "nested-config": '"x":' + nested(10),
                  "dup-config": '"hidden_size":64'}[case]
        with open(config, "w") as f:
            f.write(add_member(cfg_text, member))
    elif case == "deep-header":
        rewrite_header(single, lambda t: '{"__metadata__":' + deep(DEEP) +
                       "," + t[1:])
    elif case in ("dup-header", "escaped-dup-header"):
        def dup(text):
            entry = json.dumps(json.loads(text)["model.norm.weight"])
            name = ('"model.norm.weight"' if case == "dup-header"
                    else '"\\u006dodel.norm.weight"')
            return add_member(text, name + ":" + entry)
        rewrite_header(single, dup)
    elif case == "deep-index":
        index = os.path.join(ckpt, "model.safetensors.index.json")
        with open(index) as f:
            text = json.dumps(json.load(f))
        with open(index, "w") as f:
            f.write(add_member(text, '"x":' + deep(DEEP)))
    else:
        sys.exit("unknown case " + case)


if __name__ == "__main__":
    main()
