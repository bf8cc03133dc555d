#!/usr/bin/env python3
"""Teacher-forced perplexity: the rules `<exe> --perplexity FILE` follows.

Why this exists: the launcher's perplexity mode (lib/Runtime/Cli/Perplexity.cpp)
and its references (reference.py --perplexity, quant_quality.py) must agree
on what a document is, which positions are scored and how the argmax list is
hashed; this module is that agreement in Python.

  documents   the parts of the text between lines that are exactly "%"
              ("%\\r" too); no separator: the whole text; whitespace-only
              parts dropped; a trailing newline ends the last line
  ids         [bos] + tokenizer(text, no special tokens), cut to max_seq
              (no bos when the model has none)
  scored      position i predicts ids[i + 1]: len(ids) - 1 per document
  nll         -log_softmax(logits)[target], float64, max subtracted first
  ppl         exp(sum nll / scored positions)
  argmax      lowest index of the largest logit, at every scored position;
              argmax_sha256 = sha256(",".join(map(str, argmax)))

CLI (two --perplexity --json outputs):
  perplexity.py compare A.json B.json     ppl change, top-1 agreement
  perplexity.py check OURS.json REF.json [--rtol 1e-4] [--min-agreement 0.99]
      pass/fail: same token and document counts, |ppl/ref - 1| <= rtol,
      argmax agreement >= min-agreement, OURS's argmax_sha256 is the hash
      of its argmax list; one line, exit 0 (pass) or 1 (fail)
"""

import hashlib
import json
import math
import sys

import numpy as np


def split_documents(text):
    """The documents of `text` (str), as the launcher splits them."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()  # a trailing newline ends the last line
    docs, cur = [], []
    for line in lines + ["%"]:
        if line in ("%", "%\r"):
            d = "\n".join(cur)
            if d.strip(" \t\r\n\f\v"):
                docs.append(d)
            cur = []
        else:
            cur.append(line)
    return docs


def document_ids(docs, encode, bos, max_seq=None):
    """[[bos] + encode(doc)] cut to max_seq; returns (ids lists, cut count)."""
    out, cut = [], 0
    for d in docs:
        ids = ([bos] if bos is not None and bos >= 0 else []) + list(encode(d))
        if max_seq is not None and len(ids) > max_seq:
            ids, cut = ids[:max_seq], cut + 1
        out.append(ids)
    return out, cut


def nll_rows(logits, targets):
    """-log_softmax(logits)[targets] per row (float64) and the argmax."""
    x = np.asarray(logits, np.float64)
    m = x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=-1)) + m[:, 0]
    t = np.asarray(targets, np.int64)
    return lse - x[np.arange(len(t)), t], np.argmax(x, axis=-1)


def argmax_sha256(ids):
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


def summary(nll_sum, tokens, documents, argmax):
    nll = nll_sum / tokens if tokens else 0.0
    return {"tokens": tokens, "documents": documents, "nll": nll,
            "ppl": math.exp(nll), "nll_sum": nll_sum,
            "argmax_sha256": argmax_sha256(argmax),
            "argmax": [int(a) for a in argmax]}


def agreement(a, b):
    """Fraction of positions where two argmax lists agree (same length)."""
    if len(a) != len(b):
        raise ValueError("argmax lists differ in length: %d vs %d"
                         % (len(a), len(b)))
    if not a:
        return float("nan")
    return sum(int(x == y) for x, y in zip(a, b)) / len(a)


def check(ours, ref, rtol=1e-4, min_agreement=0.99):
    """(ok, one line)."""
    problems = []
    if ours["tokens"] != ref["tokens"] or ours["documents"] != ref["documents"]:
        problems.append("counts differ: %d tokens / %d documents vs %d / %d"
                        % (ours["tokens"], ours["documents"], ref["tokens"],
                           ref["documents"]))
        agree = float("nan")
    else:
        agree = agreement(ours["argmax"], ref["argmax"])
        if not agree >= min_agreement:
            problems.append("argmax agreement %.4f < %.4f"
                            % (agree, min_agreement))
    rel = ours["ppl"] / ref["ppl"] - 1
    if not abs(rel) <= rtol:
        problems.append("ppl differs by %.3g > %.3g" % (rel, rtol))
    if ours.get("argmax_sha256") != argmax_sha256(ours["argmax"]):
        problems.append("argmax_sha256 is not the hash of argmax")
    line = ("%d tokens, %d documents; ppl %.6f vs reference %.6f (rel %.2e, "
            "limit %.0e); argmax agreement %.4f; %s" % (
                ours["tokens"], ours["documents"], ours["ppl"], ref["ppl"],
                rel, rtol, agree,
                "OK" if not problems else "FAIL: " + "; ".join(problems)))
    return not problems, line


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="perplexity.py")
    ap.add_argument("cmd", choices=("compare", "check"))
    ap.add_argument("a", metavar="OURS.json")
    ap.add_argument("b", metavar="REF.json")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--min-agreement", type=float, default=0.99)
    args = ap.parse_args(argv)
    try:
        with open(args.a) as f:
            a = json.load(f)
        with open(args.b) as f:
            b = json.load(f)
    except (OSError, ValueError) as e:
        print("perplexity.py: error: %s" % e, file=sys.stderr)
        return 2
    if args.cmd == "check":
        ok, line = check(a, b, args.rtol, args.min_agreement)
        print(line)
        return 0 if ok else 1
    print("ppl %.4f vs %.4f (%+.3f%%), top-1 agreement %.4f over %d "
          "positions" % (a["ppl"], b["ppl"], 100 * (a["ppl"] / b["ppl"] - 1),
                         agreement(a["argmax"], b["argmax"]), a["tokens"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
