#!/usr/bin/env python3
"""Checks a .weights file byte for byte against its checkpoint, computing
every conversion independently with numpy (round-to-nearest-even), and the
layout of docs/packed-weights-format.md: header fields, zero padding, zero
gaps, the tokenizer copied verbatim, the checksum table.

  verify_pack.py INFO.json CKPT_DIR FILE.weights
"""
import json, os, struct, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weights_layout

info = json.load(open(sys.argv[1]))
ckpt = sys.argv[2]
raw = open(sys.argv[3], "rb").read()

def load(ckpt):
    single = os.path.join(ckpt, "model.safetensors")
    if os.path.exists(single):
        files = ["model.safetensors"]
    else:
        index = json.load(open(os.path.join(ckpt,
                                            "model.safetensors.index.json")))
        files = sorted(set(index["weight_map"].values()))
    out = {}
    for fn in files:
        b = open(os.path.join(ckpt, fn), "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        for k, v in json.loads(b[8:8 + n]).items():
            if k != "__metadata__":
                s, e = v["data_offsets"]
                out[k] = (v["dtype"], b[8 + n + s:8 + n + e])
    return out

def to_f32(dt, buf):
    if dt == "F32":
        return np.frombuffer(buf, "<f4")
    if dt == "F16":
        return np.frombuffer(buf, "<f2").astype(np.float32)
    return (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)

def to_bf16(f):
    u = f.view(np.uint32).astype(np.uint64)
    return ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype("<u2")

tensors = load(ckpt)
h = weights_layout.check(raw)
ver, fp, doff, dbytes, toff, tbytes = (h[k] for k in weights_layout.FIELDS[:6])
assert ver == 2, "version"
assert fp == int(info["fingerprint"], 16), "fingerprint"
assert doff == 4096 and dbytes == info["weights_bytes"], "data range"
assert toff == (doff + dbytes + 63) // 64 * 64, "tokenizer offset"
hsize = 16 + weights_layout.HEADER.size
assert raw[hsize:doff] == bytes(doff - hsize), "header padding"
used = np.zeros(dbytes, bool)
for e in info["recipe"]:
    dt, buf = tensors[e["sources"][0]]
    f = to_f32(dt, buf)
    want = {"f32": lambda: f.astype("<f4").tobytes(),
            "f16": lambda: f.astype("<f2").tobytes(),
            "bf16": lambda: to_bf16(f).tobytes()}[e["dtype"]]()
    start = doff + e["offset"]
    assert raw[start:start + len(want)] == want, e["param"]
    used[e["offset"]:e["offset"] + len(want)] = True
data = np.frombuffer(raw, np.uint8, dbytes, doff)
assert (data[~used] == 0).all(), "gaps between tensors are not zero"
tok = os.path.join(ckpt, "tokenizer.json")
if os.path.exists(tok):
    assert raw[toff:toff + tbytes] == open(tok, "rb").read(), "tokenizer"
    blocks = (h["table_offset"] - doff + (1 << 20) - 1) >> 20
    assert len(raw) == h["table_offset"] + 8 * blocks, "file size"
else:
    assert tbytes == 0, "tokenizer bytes"
print("verified %d tensors" % len(info["recipe"]))
