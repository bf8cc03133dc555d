#!/usr/bin/env python3
"""The numpy reference (reference.py) on quantized-then-dequantized weights:
what a program compiled with --quant computes, up to f32 rounding.

Why this exists: a quantized program differs from the full-precision model
by design, so its logits cannot be checked against reference.py directly.
This quantizes the same weights tfm-quantize marks (every linear layer's
weight: q/k/v/o and gate/up/down projections; the output projection only
with --lm-head, and never when it is tied to the embedding) exactly as the
packer does (quantize.py, docs/packed-weights-format.md), dequantizes them
to f32 with w = (q - zero) * scale, and runs reference.py's greedy decode.
A program's logits must then match within the usual 1e-4.

Rows of a linear weight are quantized independently (i8 per row, i4 per
group along a row), so concatenating q/k/v or gate/up and reordering their
rows, as fusion does, does not change any dequantized value.

CLI:
  quant_reference.py MODEL_DIR --quant int8|int4 [--group 128] [--lm-head]
                     --tokens 1,2,3 [-n 32] [--prefill-chunk C]
                     [--logits-out ref.npy]
Prints "greedy: ..." as reference.py does.
"""

import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from monocard import hf_model, quantize, reference  # noqa: E402

LINEAR_SUFFIXES = ("q_proj.weight", "k_proj.weight", "v_proj.weight",
                   "o_proj.weight", "gate_proj.weight", "up_proj.weight",
                   "down_proj.weight")


def quantized_names(config, weights, lm_head):
    names = [n for n in weights if n.endswith(LINEAR_SUFFIXES)]
    if lm_head and not config.tie_word_embeddings and \
            "lm_head.weight" in weights:
        names.append("lm_head.weight")
    return names


def dequantized(w, bits, group, scale_dtype="f32"):
    """w [N, K] float32 as the packer quantizes it, dequantized to f32."""
    k = w.shape[1]
    if bits == 8:
        codes, scales = quantize.quantize_int8_per_channel(w, scale_dtype)
        return quantize.dequantize(codes, scales)
    g = min(group, k)
    codes, scales, zeros = quantize.quantize_int4_groups(w, g, scale_dtype)
    return quantize.dequantize(codes, scales, zeros, g)


def main(argv=None):
    p = argparse.ArgumentParser(prog="quant_reference.py")
    p.add_argument("model_dir", metavar="MODEL_DIR")
    p.add_argument("--quant", required=True, choices=["int8", "int4"])
    p.add_argument("--group", type=int, default=128)
    p.add_argument("--lm-head", action="store_true")
    p.add_argument("--tokens", required=True)
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--prefill-chunk", type=int, default=None)
    p.add_argument("--logits-out", metavar="FILE.npy")
    a = p.parse_args(argv)
    config, weights = hf_model.load_model(a.model_dir)
    bits = 8 if a.quant == "int8" else 4
    for name in quantized_names(config, weights, a.lm_head):
        weights[name] = dequantized(weights[name], bits, a.group)
    prompt = [int(t) for t in a.tokens.split(",") if t.strip()]
    logits, ids = reference.greedy(config, weights, prompt, a.n,
                                   a.prefill_chunk)
    if a.logits_out:
        np.save(a.logits_out, logits)
    print("greedy: " + ",".join(map(str, ids)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
