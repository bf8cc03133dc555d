#!/usr/bin/env python3
"""Prints a monocard_model_info JSON whose recipe converts every tensor of a
checkpoint, as a stand-in for what monocard-compile emits, so the packer and
the .weights checks can be tested without the compiler.

  recipe_info.py CKPT_DIR [--policy mixed|f32] [--break CASE]

--policy mixed (default) exercises every conversion: the embedding and final
norm to f32, lm_head (if any) to bf16, everything else to f16.
--break: bad-transform, bad-shape, missing-source, overlap, overrun.
"""
import argparse, json, os, struct

p = argparse.ArgumentParser()
p.add_argument("ckpt")
p.add_argument("--policy", default="mixed", choices=["mixed", "f32"])
p.add_argument("--break", dest="brk", default=None)
a = p.parse_args()

def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return {k: v for k, v in json.loads(f.read(n)).items()
                if k != "__metadata__"}

cfg = json.load(open(os.path.join(a.ckpt, "config.json")))
single = os.path.join(a.ckpt, "model.safetensors")
tensors = {}
if os.path.exists(single):
    tensors = header(single)
else:
    index = json.load(open(os.path.join(a.ckpt,
                                        "model.safetensors.index.json")))
    for shard in sorted(set(index["weight_map"].values())):
        tensors.update(header(os.path.join(a.ckpt, shard)))

size = {"f32": 4, "f16": 2, "bf16": 2}
def dtype(name):
    if a.policy == "f32" or name in ("model.embed_tokens.weight",
                                     "model.norm.weight"):
        return "f32"
    return "bf16" if name == "lm_head.weight" else "f16"

recipe, off = [], 0
for name in sorted(tensors):
    n = 1
    for d in tensors[name]["shape"]:
        n *= d
    recipe.append({"param": name, "offset": off, "dtype": dtype(name),
                   "shape": tensors[name]["shape"], "sources": [name],
                   "transform": "convert"})
    off = (off + n * size[dtype(name)] + 63) // 64 * 64
weights_bytes = off
if a.brk == "bad-transform":
    recipe[0]["transform"] = "quant-int4"
elif a.brk == "bad-shape":
    recipe[0]["shape"] = recipe[0]["shape"][::-1]
elif a.brk == "missing-source":
    recipe[0]["sources"] = ["model.nope.weight"]
elif a.brk == "overlap":
    recipe[1]["offset"] = recipe[0]["offset"] + 64
elif a.brk == "overrun":
    weights_bytes -= 64

text = json.dumps(recipe, separators=(",", ":"))
h = 0xcbf29ce484222325
for b in text.encode():
    h = ((h ^ b) * 0x100000001b3) % 2**64
L = cfg["num_hidden_layers"]
kvh = cfg["num_key_value_heads"]
hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
print('{"format":1,"target":"cpu","architecture":%s,"vocab_size":%d,'
      '"hidden_size":%d,"num_layers":%d,"num_heads":%d,"num_kv_heads":%d,'
      '"head_dim":%d,"max_seq":64,"prefill_chunk":16,"bos_token_id":%d,'
      '"eos_token_id":%d,"weights_bytes":%d,"kv_bytes":%d,"arena_bytes":%d,'
      '"fingerprint":"%016x","recipe":%s}' % (
          json.dumps(cfg["architectures"][0]), cfg["vocab_size"],
          cfg["hidden_size"], L, cfg["num_attention_heads"], kvh, hd,
          cfg["bos_token_id"], cfg["eos_token_id"], weights_bytes,
          2 * L * kvh * 64 * hd * 4, 4096, h, text))
