#!/usr/bin/env python3
"""Checks a .weights file packed from a recipe with concat, pair_rows and
quantized entries: every byte of every entry (data plane and parameter
plane) equals what python/monocard/quantize.py computes, every other data
byte is zero, and the quantized values, decoded from the file's bytes,
dequantize to within scale/2 of the originals (more only where scale_dtype
rounding left the group's range a little wider than 15 scales).

  verify_quant_pack.py INFO.json CKPT_DIR FILE.weights
"""
import json, struct, sys

import numpy as np

from monocard import quantize as qz
from monocard.safetensors_io import load_checkpoint

info = json.load(open(sys.argv[1]))
tensors = load_checkpoint(sys.argv[2])  # float32
raw = open(sys.argv[3], "rb").read()

ver, fp, doff, dbytes, toff, tbytes = struct.unpack("<6Q", raw[16:64])
assert raw[:16] == b"MONOCARD-WEIGHTS" and ver == 2, "magic, version"
assert fp == int(info["fingerprint"], 16) and doff == 4096
assert dbytes == info["weights_bytes"], "data bytes"
data = np.frombuffer(raw, np.uint8, dbytes, doff)
used = np.zeros(dbytes, bool)
SIZE = {"f32": 4, "f16": 2, "bf16": 2}


def decode(buf, dtype):
    if dtype == "f32":
        return np.frombuffer(buf, "<f4")
    if dtype == "f16":
        return np.frombuffer(buf, "<f2").astype(np.float32)
    return qz.bf16_bits_to_f32(np.frombuffer(buf, "<u2"))


def mark(off, n, what):
    assert not used[off:off + n].any(), "%s overlaps another entry" % what
    used[off:off + n] = True


quantized = 0
for e in info["recipe"]:
    want, want_params = qz.pack_entry(e, tensors)
    got = raw[doff + e["offset"]:doff + e["offset"] + len(want)]
    if got != want:
        diff = next(i for i in range(len(want)) if got[i] != want[i])
        sys.exit("%s: data differs at byte %d" % (e["param"], diff))
    mark(e["offset"], len(want), e["param"])
    if "quant" not in e:
        continue
    quantized += 1
    q = e["quant"]
    so = q["scales_offset"]
    got_params = raw[doff + so:doff + so + len(want_params)]
    assert got_params == want_params, "%s: parameter plane differs" % e["param"]
    mark(so, len(want_params), e["param"] + " scales")

    # Decode the file's bytes on their own and compare with the source.
    n, k = e["shape"]
    rb = q["row_bytes"]
    rows = np.frombuffer(got, np.uint8).reshape(n, rb)
    if q["bits"] == 8:
        codes = rows[:, :k].view(np.int8).astype(np.float32)
        assert (rows[:, k:] == 0).all(), "%s: padding" % e["param"]
        group = k
    else:
        nib = np.stack([rows & 15, rows >> 4], axis=-1).reshape(n, 2 * rb)
        codes = nib[:, :k].astype(np.float32)
        assert (nib[:, k:] == 0).all(), "%s: padding" % e["param"]
        group = q["group"]
    groups = -(-k // group)
    pr = decode(got_params, q["scale_dtype"]).reshape(n, groups, 2)
    scale, zero = pr[..., 0], pr[..., 1]
    assert (zero == np.rint(zero)).all() and (zero >= 0).all()
    assert (zero <= (0 if q["bits"] == 8 else 15)).all()
    deq = qz.dequantize(codes, scale, zero, group)
    w = qz.concat_rows([tensors[s] for s in e["sources"]])
    if e.get("pair_rows"):
        w = qz.pair_rows(w, e["pair_rows"])
    g = np.arange(k) // group
    s = scale[:, g].astype(np.float64)
    # The allowance for scale rounding: how far the range (0 included)
    # exceeds what 15 (or 2 * 127) rounded scales span.
    w64 = w.astype(np.float64)
    if q["bits"] == 8:
        extra = np.zeros_like(s)
    else:
        lo = np.minimum.reduceat(np.minimum(w64, 0), np.arange(0, k, group),
                                 axis=1)
        hi = np.maximum.reduceat(np.maximum(w64, 0), np.arange(0, k, group),
                                 axis=1)
        extra = np.maximum(0, (hi - lo) - 15 * scale)[:, g]
    err = np.abs(deq.astype(np.float64) - w64)
    # f32 rounding of w / scale and of (q - zero) * scale, |q - zero| <= 127.
    bound = s / 2 + extra + 2.0**-16 * s
    bad = err > bound
    assert not bad.any(), "%s: element %s dequantizes %g from %g (scale %g)" % (
        e["param"], np.argwhere(bad)[0], deq[bad][0], w[bad][0], s[bad][0])

assert (data[~used] == 0).all(), "bytes outside the entries are not zero"
print("verified %d entries, %d quantized" % (len(info["recipe"]), quantized))
