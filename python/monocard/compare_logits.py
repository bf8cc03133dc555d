#!/usr/bin/env python3
"""Compare a compiled program's logits with the reference's, pass or fail.

Why this exists: end-to-end tests need one shared, stated tolerance rule
instead of ad-hoc comparisons in every test.  The rule:

  rel = max |ours - ref| / max |ref|        (over all compared rows)
  pass  iff  rel <= rtol  and  argmax(ours[r]) == argmax(ref[r]) for every
             compared row r

Both files are .npy arrays [rows, vocab] (row 0 = prompt's last position,
row i = i-th decode step, as reference.py writes them).

--tokens-only-until-margin: greedy decoding feeds back the argmax, so where
the reference's top-2 margin is so small that an error within tolerance may
flip the argmax, the two runs legitimately diverge from the next row on.
With this flag, rows are compared up to and including the first row whose
reference top-2 margin is below --margin (default 2 * rtol * max|ref|, the
largest gap an in-tolerance error can close); that row's argmax may differ
and later rows are not compared.

Usage: compare_logits.py OURS.npy REF.npy [--rtol 1e-4]
                         [--tokens-only-until-margin [--margin M]]
Prints one line; exits 0 on pass, 1 on fail, 2 on bad input.
"""

import argparse
import sys

import numpy as np


def compare(ours, ref, rtol=1e-4, until_margin=False, margin=None):
    """Returns (ok, summary line)."""
    rows, vocab = ref.shape
    limit, note = rows, ""
    ref_sorted = np.sort(ref, axis=-1)
    margins = ref_sorted[:, -1] - ref_sorted[:, -2] if vocab > 1 else \
        np.full(rows, np.inf)
    if until_margin:
        thr = margin if margin is not None else 2 * rtol * float(
            np.abs(ref).max())
        close = np.nonzero(margins < thr)[0]
        if len(close):
            limit = int(close[0]) + 1
            note = " (compared rows 0..%d: row %d margin %.3g < %.3g)" % (
                limit - 1, limit - 1, margins[limit - 1], thr)
    o, r = ours[:limit].astype(np.float64), ref[:limit].astype(np.float64)
    finite = bool(np.isfinite(o).all())
    err = float(np.abs(o - r).max()) if finite else float("inf")
    mx = float(np.abs(r).max())
    rel = err / mx if mx > 0 else (0.0 if err == 0 else float("inf"))
    same = np.argmax(o, axis=-1) == np.argmax(r, axis=-1)
    if note:
        same[limit - 1] = True  # the near-tie row may pick either token
    n_same = int(same.sum())
    ok = finite and rel <= rtol and n_same == limit
    first_bad = "" if n_same == limit else ", first differs at row %d" % int(
        np.nonzero(~same)[0][0])
    line = ("compare: rows=%d vocab=%d max_abs_err=%.3g max_abs_logit=%.3g "
            "rel=%.3g (tol %.0e) greedy tokens identical: %d/%d%s%s %s" % (
                rows, vocab, err, mx, rel, rtol, n_same, limit, first_bad,
                note, "OK" if ok else "FAIL"))
    if not finite:
        line += " (ours has NaN/inf)"
    return ok, line


def main(argv=None):
    p = argparse.ArgumentParser(prog="compare_logits.py",
                                description="compare logits with a reference")
    p.add_argument("ours", metavar="OURS.npy")
    p.add_argument("ref", metavar="REF.npy")
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--tokens-only-until-margin", action="store_true")
    p.add_argument("--margin", type=float, default=None)
    a = p.parse_args(argv)
    try:
        ours, ref = np.load(a.ours), np.load(a.ref)
    except (OSError, ValueError) as e:
        print("compare: error: %s" % e, file=sys.stderr)
        return 2
    if ours.ndim == 1:
        ours = ours[None]
    if ref.ndim == 1:
        ref = ref[None]
    if ours.shape != ref.shape or ref.ndim != 2 or ref.size == 0:
        print("compare: shape mismatch: ours %s vs ref %s FAIL"
              % (list(ours.shape), list(ref.shape)))
        return 1
    ok, line = compare(ours, ref, a.rtol, a.tokens_only_until_margin,
                       a.margin)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
