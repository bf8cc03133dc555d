"""Checks `monocard-cuda-fake-model --perplexity TEXT --json` (OUT.json)
against what the fake model must give: no bos (the fake model has none),
one token per character (fake_cuda_tokenizer.py), documents cut to max_seq
16; at position i the fake kernels' logits are -|j - t| with
t = (sum of the ids at rows 0..i + 1 + w[0]) % 97, w[0] = 3.
Usage: fake_cuda_perplexity.py TEXT OUT.json; prints one line."""
import json
import sys

import numpy as np

from monocard import perplexity as px

TEXT, OUT = sys.argv[1:3]


def cid(c):
    return {" ": 94, "\n": 95, "\t": 96}.get(c, ord(c) - 33)


with open(TEXT) as f:
    docs = px.split_documents(f.read())
ids, cut = px.document_ids(docs, lambda d: [cid(c) for c in d], None, 16)
total, count, ndocs, argmax = 0.0, 0, 0, []
for d in ids:
    if len(d) < 2:
        continue
    ndocs += 1
    t = (np.cumsum(d[:-1]) + 4) % 97
    logits = -np.abs(np.arange(97)[None, :] - t[:, None]).astype(np.float32)
    nll, am = px.nll_rows(logits, d[1:])
    total += float(nll.sum())
    count += len(d) - 1
    argmax += [int(a) for a in am]
want = px.summary(total, count, ndocs, argmax)
with open(OUT) as f:
    got = json.load(f)
ok = (got["tokens"] == want["tokens"] and got["documents"] == want["documents"]
      and got["argmax"] == want["argmax"]
      and got["argmax_sha256"] == want["argmax_sha256"]
      and abs(got["ppl"] / want["ppl"] - 1) < 1e-9
      and got["truncated_documents"] == cut)
print("%s: %d tokens, %d documents, ppl %.6f (expected %.6f), %d cut" % (
    "OK" if ok else "MISMATCH", got["tokens"], got["documents"], got["ppl"],
    want["ppl"], got["truncated_documents"]))
sys.exit(0 if ok else 1)
