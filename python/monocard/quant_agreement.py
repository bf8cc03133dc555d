#!/usr/bin/env python3
"""How far a quantized program's predictions are from the full-precision
model, teacher-forced.

Why this exists: a quantized model's greedy continuation drifts from the
full-precision one as soon as one argmax flips, after which token-by-token
comparisons measure nothing. Instead, this feeds both the same tokens: the
full-precision numpy reference (reference.py) generates a greedy
continuation S of the prompt, and the compiled PROGRAM is run once per
prefix (--tokens PROMPT+S[:i] -n 0 --logits-out), giving its logits at
every position of the same sequence. Reported and checked:

  agree     fraction of positions where the program's argmax is S[i]
            (the reference's own choice)
  ppl       perplexity of S under the program / under the reference
            (exp of the mean negative log-likelihood); the ratio is >= 1
            up to noise: how much worse the program predicts S
  rel_err   max |logit difference| / max |reference logit|

CLI:
  quant_agreement.py PROGRAM MODEL_DIR --tokens 1,2,3 [-n 32]
      [--min-agree A] [--max-ppl-ratio R] [--max-rel-err E]
Prints one line "quality: ..." and, if every given bound holds, "OK";
otherwise "FAIL" and exit status 1.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from monocard import hf_model, reference  # noqa: E402


def log_softmax(x):
    x = np.asarray(x, np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def program_rows(program, prompt, continuation):
    """The program's logits at the last position of PROMPT + S[:i], for
    i = 0 .. len(S) - 1: float32 [len(S), vocab]."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "row.npy")
        for i in range(len(continuation)):
            seq = list(prompt) + list(continuation[:i])
            subprocess.run([program, "--tokens", ",".join(map(str, seq)),
                            "-n", "0", "--logits-out", out], check=True,
                           stdout=subprocess.DEVNULL)
            rows.append(np.load(out)[0])
    return np.stack(rows)


def main(argv=None):
    p = argparse.ArgumentParser(prog="quant_agreement.py")
    p.add_argument("program")
    p.add_argument("model_dir")
    p.add_argument("--tokens", required=True)
    p.add_argument("-n", type=int, default=32)
    p.add_argument("--min-agree", type=float)
    p.add_argument("--max-ppl-ratio", type=float)
    p.add_argument("--max-rel-err", type=float)
    a = p.parse_args(argv)
    prompt = [int(t) for t in a.tokens.split(",") if t.strip()]
    config, weights = hf_model.load_model(a.model_dir)
    ref_logits, seq = reference.greedy(config, weights, prompt, a.n)
    ours = program_rows(os.path.abspath(a.program), prompt, seq)
    idx = np.arange(len(seq))
    agree = float(np.mean(np.argmax(ours, axis=-1) == np.asarray(seq)))
    nll_ours = -log_softmax(ours)[idx, seq].mean()
    nll_ref = -log_softmax(ref_logits)[idx, seq].mean()
    ppl_ours, ppl_ref = float(np.exp(nll_ours)), float(np.exp(nll_ref))
    ratio = ppl_ours / ppl_ref
    rel = float(np.abs(ours - ref_logits).max() / np.abs(ref_logits).max())
    ok = ((a.min_agree is None or agree >= a.min_agree) and
          (a.max_ppl_ratio is None or ratio <= a.max_ppl_ratio) and
          (a.max_rel_err is None or rel <= a.max_rel_err))
    print("quality: positions=%d agree=%.3f ppl=%.4f ref_ppl=%.4f "
          "ppl_ratio=%.4f rel_err=%.3g %s" % (
              len(seq), agree, ppl_ours, ppl_ref, ratio, rel,
              "OK" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
