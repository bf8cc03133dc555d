#!/usr/bin/env python3
"""Writes a small random checkpoint to CKPT_DIR and prints a model info JSON
whose recipe uses every member of docs/packed-weights-format.md: concat of
three sources with pair_rows (RoPE-like), gate/up pairing across a source
boundary, 1-D bias concats, i8 and i4 with f32/f16/bf16 scales, K not a
multiple of 32 (100, 75, 48), short last groups (K=200 with group 64),
rows that hit the scale fallbacks and rounding ties, and one tensor big
enough to take several packer chunks (tasks of its worker threads) with
pair runs across chunk edges.

  quant_recipe.py CKPT_DIR [--break CASE]

--break prints a recipe the packer must reject (see BREAKS below); the
checkpoint written is the same.
"""
import argparse, json, os, sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "..", "python"))
from monocard import safetensors_io as st  # noqa: E402

BREAKS = ["triple-length", "odd-block", "count-not-multiple", "range-outside",
          "triples-overlap", "bits", "bits-dtype", "group-zero", "i8-group",
          "scale-dtype", "row-bytes", "scales-offset", "no-quant",
          "quant-float", "quant-1d", "scales-overrun", "scales-overlap",
          "planes-overlap", "quant-transform", "quantize-float",
          "convert-pairs", "trailing-dims", "row-total", "bias-total"]

p = argparse.ArgumentParser()
p.add_argument("ckpt")
p.add_argument("--break", dest="brk", default=None, choices=BREAKS)
a = p.parse_args()

rng = np.random.default_rng(1234)


def rnd(*shape, scale=0.05):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


head = rnd(24, 200)
head[0] = 0                                   # scale fallback to 1
head[1] = 0.3                                 # constant positive
head[2] = -0.7                                # constant negative
head[3] = rnd(200, scale=1e-9)                # f16 scale underflows
head[4, :64] = np.arange(64) % 31 * 0.5       # i4 group 0: scale 1, ties
head[5] = np.abs(head[5]) + 0.01              # all positive
head[6] = -np.abs(head[6]) - 0.2              # all negative
head[7] = (np.arange(200) % 255 - 127) * 0.5  # i8: max 63.5, ties
head[7, 0] = 127                              # ... max 127: scale 1
head[8] = rnd(200, scale=1e4)                 # large values
head[9] = np.clip(rnd(200, scale=1e-7), -2e-7, 2e-7)  # f16: max|w| fallback
tensors = {
    "q.weight": ("BF16", rnd(48, 200)), "k.weight": ("F16", rnd(16, 200)),
    "v.weight": ("F32", rnd(16, 200)),
    "q.bias": ("F32", rnd(48)), "k.bias": ("BF16", rnd(16)),
    "v.bias": ("F16", rnd(16)),
    "gate.weight": ("F16", rnd(40, 100)), "up.weight": ("BF16", rnd(40, 100)),
    "gate.bias": ("F32", rnd(40)), "up.bias": ("F32", rnd(40)),
    "down.weight": ("BF16", rnd(100, 75)),
    "o.weight": ("F32", rnd(200, 48)),
    "embed.weight": ("F16", rnd(64, 200)),
    "head.weight": ("F32", head),
    "big.a": ("F16", rnd(1700, 700)), "big.b": ("BF16", rnd(1300, 700)),
}
os.makedirs(a.ckpt, exist_ok=True)
enc = {n: (d, v.astype(np.float16) if d == "F16" else v)
       for n, (d, v) in tensors.items()}
st.save_checkpoint(enc, a.ckpt, shards=2)
with open(os.path.join(a.ckpt, "tokenizer.json"), "w") as f:
    f.write('{"model": {"type": "BPE"}}\n')


def q(bits, group, sd):
    return {"bits": bits, "group": group, "scale_dtype": sd}


QKV = ["q.weight", "k.weight", "v.weight"]
ROPE = [0, 48, 16, 48, 16, 16]
GU = ["gate.weight", "up.weight"]
# (param, sources, shape, dtype, transform, pair_rows, quant)
entries = [
    ("qkv.i4", QKV, [80, 200], "i4", "quantize", ROPE, q(4, 64, "f16")),
    ("qkv.i8", QKV, [80, 200], "i8", "quantize", ROPE, q(8, 200, "bf16")),
    ("qkv.f16", QKV, [80, 200], "f16", "concat", ROPE, None),
    ("qkv.bias", ["q.bias", "k.bias", "v.bias"], [80], "f32", "concat", ROPE,
     None),
    ("gate_up.i8", GU, [80, 100], "i8", "quantize", [0, 80, 80],
     q(8, 100, "f32")),
    ("gate_up.i4", GU, [80, 100], "i4", "quantize", [0, 80, 80],
     q(4, 32, "bf16")),
    ("gate_up.bias", ["gate.bias", "up.bias"], [80], "bf16", "concat",
     [0, 80, 80], None),
    ("gate_up.bias.plain", ["gate.bias", "up.bias"], [80], "f16", "concat",
     None, None),
    ("down.i4", ["down.weight"], [100, 75], "i4", "quantize", None,
     q(4, 32, "f32")),
    ("down.twice.i4", ["down.weight", "down.weight"], [200, 75], "i4",
     "quantize", None, q(4, 16, "f16")),
    ("o.i8", ["o.weight"], [200, 48], "i8", "quantize", None,
     q(8, 48, "f16")),
    ("embed.weight", ["embed.weight"], [64, 200], "bf16", "convert", None,
     None),
    ("big.i4", ["big.a", "big.b"], [3000, 700], "i4", "quantize",
     [0, 3000, 600], q(4, 64, "f16")),
    ("big.bf16", ["big.a", "big.b"], [3000, 700], "bf16", "concat",
     [0, 3000, 600], None),
    # More than 2^20 elements: converted in two chunks, split mid-row.
    ("big.a.f32", ["big.a"], [1700, 700], "f32", "convert", None, None),
]
for sd in ("f32", "f16", "bf16"):
    entries.append(("head.i4." + sd, ["head.weight"], [24, 200], "i4",
                    "quantize", None, q(4, 64, sd)))
    entries.append(("head.i8." + sd, ["head.weight"], [24, 200], "i8",
                    "quantize", None, q(8, 200, sd)))

SIZE = {"f32": 4, "f16": 2, "bf16": 2}


def align(v, n):
    return (v + n - 1) // n * n


recipe, off = [], 0
for param, sources, shape, dtype, transform, pairs, quant in entries:
    e = {"param": param, "offset": off, "dtype": dtype, "shape": shape,
         "sources": sources, "transform": transform}
    if pairs:
        e["pair_rows"] = pairs
    if quant:
        bits = quant["bits"]
        n, k = shape
        quant["row_bytes"] = align((k * bits + 7) // 8, 16)
        off += n * quant["row_bytes"]
        e["quant"] = quant
    else:
        n = 1
        for d in shape:
            n *= d
        off += n * SIZE[dtype]
    off = align(off, 64)
    recipe.append(e)
# The parameter planes after all data planes.
for e in recipe:
    if "quant" in e:
        qq = e["quant"]
        groups = -(-e["shape"][1] // qq["group"])
        qq["scales_offset"] = off
        off = align(off + e["shape"][0] * groups * 2 * SIZE[qq["scale_dtype"]],
                    64)
weights_bytes = off

R = {e["param"]: e for e in recipe}
b = a.brk
if b == "triple-length":
    R["qkv.i4"]["pair_rows"] = [0, 48, 16, 48]
elif b == "odd-block":
    R["qkv.i4"]["pair_rows"] = [0, 45, 15]
elif b == "count-not-multiple":
    R["qkv.i4"]["pair_rows"] = [0, 40, 16]
elif b == "range-outside":
    R["qkv.i4"]["pair_rows"] = [64, 32, 16]
elif b == "triples-overlap":
    R["qkv.i4"]["pair_rows"] = [0, 48, 16, 32, 16, 16]
elif b == "bits":
    R["qkv.i4"]["quant"]["bits"] = 3
elif b == "bits-dtype":
    R["qkv.i8"]["quant"]["bits"] = 4
elif b == "group-zero":
    R["qkv.i4"]["quant"]["group"] = 0
elif b == "i8-group":
    R["qkv.i8"]["quant"]["group"] = 64
elif b == "scale-dtype":
    R["qkv.i4"]["quant"]["scale_dtype"] = "f64"
elif b == "row-bytes":
    R["down.i4"]["quant"]["row_bytes"] = 38
elif b == "scales-offset":
    R["down.i4"]["quant"]["scales_offset"] += 32
elif b == "no-quant":
    del R["down.i4"]["quant"]
elif b == "quant-float":
    R["qkv.f16"]["quant"] = dict(R["qkv.i4"]["quant"])
elif b == "quant-1d":
    R["qkv.i4"]["shape"] = [16000]
elif b == "scales-overrun":
    weights_bytes -= 64
elif b == "scales-overlap":
    R["head.i8.f32"]["quant"]["scales_offset"] = R["o.i8"]["offset"]
elif b == "planes-overlap":
    R["o.i8"]["quant"]["scales_offset"] = R["o.i8"]["offset"] + 128
elif b == "quant-transform":
    R["down.i4"]["transform"] = "concat"
elif b == "quantize-float":
    R["qkv.f16"]["transform"] = "quantize"
elif b == "convert-pairs":
    R["embed.weight"]["pair_rows"] = [0, 64, 16]
elif b == "trailing-dims":
    R["gate_up.i8"]["sources"] = ["gate.weight", "down.weight"]
elif b == "row-total":
    R["qkv.i4"]["sources"] = ["q.weight", "k.weight"]
elif b == "bias-total":
    R["qkv.bias"]["sources"] = ["q.bias", "k.bias", "v.bias", "k.bias"]

text = json.dumps(recipe, separators=(",", ":"))
h = 0xcbf29ce484222325
for c in text.encode():
    h = ((h ^ c) * 0x100000001b3) % 2**64
print('{"format":1,"target":"cpu","architecture":"LlamaForCausalLM",'
      '"vocab_size":64,"hidden_size":200,"num_layers":1,"num_heads":3,'
      '"num_kv_heads":1,"head_dim":16,"max_seq":64,"prefill_chunk":16,'
      '"bos_token_id":1,"eos_token_id":2,"weights_bytes":%d,"kv_bytes":4096,'
      '"arena_bytes":4096,"fingerprint":"%016x","recipe":%s}'
      % (weights_bytes, h, text))
