#!/usr/bin/env python3
"""Cross-check our checkpoints, reference and tokenizer against the real
Hugging Face libraries (torch, transformers, tokenizers, safetensors).

Why: reference.py claims to do transformers' math and checkpoints.py claims
to write what transformers writes, but the development machine has no torch.
The GPU machine has all four libraries; run this there (CPU is enough):

    python3 python/monocard/hf_crosscheck.py [--device cpu|cuda] [-n 16]

For every variant x dtype (and one sharded copy) it checks that
  * safetensors.numpy.load_file reads our files bit-exactly;
  * transformers loads the checkpoint and its greedy prefill + KV-cache
    decode logits (weights upcast to float32, eager attention) pass
    compare_logits' rule (rtol 1e-4, identical greedy tokens) against
    reference.py;
  * tokenizers encodes and decodes sample texts exactly as bpe_tokenizer;
  * the safetensors library rejects our four corrupted-file cases.
Prints one line per check; exits 1 if any check failed.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from monocard import bpe_tokenizer, checkpoints, hf_model  # noqa: E402
from monocard import reference  # noqa: E402
from monocard import safetensors_io as st  # noqa: E402
from monocard.compare_logits import compare  # noqa: E402

PROMPT = [5, 17, 100, 3, 42, 250, 7]
TEXTS = ["Once upon a time", "the clockmaker's 2024 tools!",
         "  spaces\n\ttabs  ", "h\u00e9llo w\u00f6rld \u2603",
         "a<|end_of_text|>b"]


def hf_greedy(model_dir, n, device):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, attn_implementation="eager").float().to(device).eval()
    rows = []
    with torch.no_grad():
        out = model(input_ids=torch.tensor([PROMPT], device=device),
                    use_cache=True)
        rows.append(out.logits[0, -1].float().cpu().numpy())
        for _ in range(n):
            tok = int(np.argmax(rows[-1]))
            out = model(input_ids=torch.tensor([[tok]], device=device),
                        past_key_values=out.past_key_values, use_cache=True)
            rows.append(out.logits[0, -1].float().cpu().numpy())
    return np.stack(rows)


def read_with_safetensors(path):
    """{name: ndarray of the stored bits} via the safetensors library."""
    import torch
    from safetensors import safe_open
    out = {}
    with safe_open(path, framework="pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            if t.dtype == torch.bfloat16:
                out[name] = t.view(torch.int16).numpy().view(np.uint16)
            else:
                out[name] = t.numpy()
    return out


def check_safetensors(model_dir):
    ours = st.load_checkpoint(model_dir, upcast=False)
    theirs = {}
    for path in sorted(set(st.checkpoint_files(model_dir).values())):
        theirs.update(read_with_safetensors(path))
    return set(ours) == set(theirs) and all(
        ours[n].shape == theirs[n].shape and
        ours[n].tobytes() == theirs[n].tobytes() for n in ours)


def check_tokenizer(model_dir):
    from tokenizers import Tokenizer
    path = os.path.join(model_dir, "tokenizer.json")
    theirs, ours = Tokenizer.from_file(path), bpe_tokenizer.Tokenizer(path)
    for text in TEXTS:
        ids = theirs.encode(text, add_special_tokens=False).ids
        if ids != ours.encode(text):
            return "encode %r: tokenizers %s, ours %s" % (text, ids,
                                                          ours.encode(text))
        back = theirs.decode(ids, skip_special_tokens=False)
        if back != ours.decode(ids):
            return "decode %r: tokenizers %r, ours %r" % (text, back,
                                                          ours.decode(ids))
    if theirs.get_vocab_size(with_added_tokens=True) != ours.vocab_size:
        return "vocab size differs"
    return None


def attempt(fn, *args):
    """(ok, detail): fn's result, or False and the exception it raised."""
    try:
        r = fn(*args)
        return (r, "") if isinstance(r, bool) else (True, r)
    except Exception as e:  # report and keep checking the rest
        return False, "%s: %s" % (type(e).__name__, e)


def main(argv=None):
    p = argparse.ArgumentParser(prog="hf_crosscheck.py")
    p.add_argument("--device", default="cpu")
    p.add_argument("-n", type=int, default=16)
    a = p.parse_args(argv)
    failures = 0

    def report(what, ok, detail=""):
        nonlocal failures
        failures += not ok
        print("%-44s %s%s" % (what, "OK" if ok else "FAIL",
                              " " + detail if detail else ""))

    with tempfile.TemporaryDirectory() as tmp:
        for variant in checkpoints.VARIANTS:
            for dtype, shards in (("f32", 1), ("f16", 1), ("bf16", 1),
                                  ("bf16", 3)):
                d = os.path.join(tmp, "%s-%s-%d" % (variant, dtype, shards))
                checkpoints.write_checkpoint(d, variant, dtype, shards=shards)
                tag = "%s %s shards=%d" % (variant, dtype, shards)
                report(tag + " safetensors", *attempt(check_safetensors, d))
                c, w = hf_model.load_model(d)
                ref, _ = reference.greedy(c, w, PROMPT, a.n)
                try:
                    ok, line = compare(hf_greedy(d, a.n, a.device), ref)
                except Exception as e:  # report, keep checking the rest
                    ok, line = False, "%s: %s" % (type(e).__name__, e)
                report(tag + " transformers", ok, line)
            ok, err = attempt(check_tokenizer, d)
            report(variant + " tokenizer", ok and err is None,
                   str(err or ""))
        for case in ("truncated-header", "malformed-header",
                     "offset-past-end", "overlapping-tensors"):
            d = os.path.join(tmp, case)
            checkpoints.write_checkpoint(d, "llama-gqa", "f32", broken=case)
            try:
                read_with_safetensors(os.path.join(d, st.SINGLE_NAME))
                report("safetensors rejects " + case, False, "it loaded")
            except ImportError as e:
                report("safetensors rejects " + case, False, str(e))
            except Exception as e:
                report("safetensors rejects " + case, True,
                       type(e).__name__)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
