#!/usr/bin/env python3
"""Numpy reference implementation of Llama / Mistral / Qwen2 inference.

Why this exists: compiled programs are checked against it on machines with
no torch.  It does the same math as Hugging Face transformers' eager
implementation (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py):

  x = embed_tokens[ids]
  per layer:
    h = rms_norm(x) * input_layernorm          x * rsqrt(mean(x^2) + eps) * w
    q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)
    q, k = rope(q), rope(k)                    rotate_half: pairs (i, i + d/2)
    K/V cache[pos .. pos+n) = k, v             per kv head
    a = softmax(q K^T / sqrt(d) + causal mask) V   (GQA: q head j reads kv
                                                head j // (heads / kv_heads))
    x = x + a Wo^T (+bo)
    h = rms_norm(x) * post_attention_layernorm
    x = x + (silu(h Wg^T) * (h Wu^T)) Wd^T
  logits = (rms_norm(x) * norm) lm_head^T      (lm_head = embed_tokens if tied)

rope: inv_freq[i] = theta^(-2i/d), i < d/2, adjusted for rope_scaling
("linear": / factor; "llama3": transformers' _compute_llama3_parameters);
angle = pos * inv_freq; cos/sin of concat(angle, angle); x*cos +
rotate_half(x)*sin with rotate_half(x) = concat(-x[d/2:], x[:d/2]).

Weights are upcast to float32 when loaded (what the compiled CPU program
uses), then all arithmetic is float64, so the reference is the exact answer
for those weights; logits are returned as float32.  Prompts are prefilled
(optionally in chunks), then decoding is incremental over a KV cache,
exactly as the compiled program runs.

CLI:
  reference.py MODEL_DIR (--tokens 1,2,3 | --prompt TEXT) [-n 32]
               [--logits-out ref.npy] [--prefill-chunk C] [--check-prefill]
Writes float32 [1+n, vocab]: row 0 = logits at the prompt's last position,
row i = logits after feeding back the argmax of row i-1.  Prints
"greedy: t0,t1,...,tn" (the argmax of every row, 1+n ids) and the smallest
top-2 margin.  No EOS stopping: always 1+n rows.
"""

import argparse
import math
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from monocard import hf_model  # noqa: E402


def rope_inv_freq(c):
    """inv_freq [head_dim/2] for a ModelConfig, float64."""
    d = c.head_dim
    inv = 1.0 / c.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    rs = c.rope_scaling
    if rs is None:
        return inv
    if rs["rope_type"] == "linear":
        return inv / rs["factor"]
    # llama3, as transformers' _compute_llama3_parameters
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_ctx / lo
    high_freq_wavelen = old_ctx / hi
    wavelen = 2 * math.pi / inv
    inv_llama = np.where(wavelen > low_freq_wavelen, inv / factor, inv)
    smooth = (old_ctx / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(medium, smoothed, inv_llama)


def rope_cos_sin(inv_freq, positions):
    """cos, sin of shape [n, head_dim] for integer positions [n]."""
    ang = np.asarray(positions, np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([ang, ang], axis=-1)
    return np.cos(emb), np.sin(emb)


def apply_rope(x, cos, sin):
    """x [..., n, d] -> x*cos + rotate_half(x)*sin."""
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rot * sin


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


class Reference:
    """One sequence's state: weights, config and a KV cache of
    [num_kv_heads, capacity, head_dim] per layer for K and for V."""

    def __init__(self, config, weights, capacity=None):
        self.c = config
        self.w = {n: np.asarray(a, np.float64) for n, a in weights.items()}
        if config.tie_word_embeddings:
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        self.inv_freq = rope_inv_freq(config)
        self.reset(capacity or config.max_position_embeddings)

    def reset(self, capacity):
        c = self.c
        shape = (c.num_kv_heads, capacity, c.head_dim)
        self.k = [np.zeros(shape) for _ in range(c.num_layers)]
        self.v = [np.zeros(shape) for _ in range(c.num_layers)]

    def _linear(self, x, name):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y if b is None else y + b

    def forward(self, tokens, pos):
        """Run tokens at cache positions pos..pos+n-1 (prefill chunk or one
        decode step); append their K/V; return float64 logits [n, vocab]."""
        c, w = self.c, self.w
        tokens = np.asarray(tokens, np.int64)
        n, end = len(tokens), pos + len(tokens)
        if n == 0 or tokens.min() < 0 or tokens.max() >= c.vocab_size:
            raise ValueError("token ids must be in [0, %d)" % c.vocab_size)
        if end > self.k[0].shape[1]:
            raise ValueError("sequence of %d exceeds the KV cache capacity %d"
                             % (end, self.k[0].shape[1]))
        if c.sliding_window is not None and end > c.sliding_window:
            raise NotImplementedError("sequence longer than sliding_window")
        H, KV, d = c.num_heads, c.num_kv_heads, c.head_dim
        cos, sin = rope_cos_sin(self.inv_freq, np.arange(pos, end))
        # query i (position pos+i) may see key t iff t <= pos+i
        mask = np.where(np.arange(end)[None, :] <= np.arange(pos, end)[:, None],
                        0.0, -np.inf)
        x = w["model.embed_tokens.weight"][tokens]
        for li in range(c.num_layers):
            p = "model.layers.%d." % li
            h = rms_norm(x, w[p + "input_layernorm.weight"], c.rms_norm_eps)
            q = self._linear(h, p + "self_attn.q_proj").reshape(n, H, d)
            k = self._linear(h, p + "self_attn.k_proj").reshape(n, KV, d)
            v = self._linear(h, p + "self_attn.v_proj").reshape(n, KV, d)
            q = apply_rope(q.transpose(1, 0, 2), cos, sin)      # [H, n, d]
            k = apply_rope(k.transpose(1, 0, 2), cos, sin)      # [KV, n, d]
            self.k[li][:, pos:end] = k
            self.v[li][:, pos:end] = v.transpose(1, 0, 2)
            keys, vals = self.k[li][:, :end], self.v[li][:, :end]
            qg = q.reshape(KV, H // KV, n, d)
            s = np.einsum("kgnd,ktd->kgnt", qg, keys) / math.sqrt(d) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            a = np.einsum("kgnt,ktd->kgnd", s, vals).reshape(H, n, d)
            a = a.transpose(1, 0, 2).reshape(n, H * d)
            x = x + self._linear(a, p + "self_attn.o_proj")
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"],
                         c.rms_norm_eps)
            g = silu(self._linear(h, p + "mlp.gate_proj"))
            u = self._linear(h, p + "mlp.up_proj")
            x = x + (g * u) @ w[p + "mlp.down_proj.weight"].T
        x = rms_norm(x, w["model.norm.weight"], c.rms_norm_eps)
        return x @ w["lm_head.weight"].T

    def prefill(self, tokens, pos=0, chunk=None):
        """Prompt in chunks of `chunk` (None: all at once); last row's
        logits, float64 [vocab]."""
        chunk = chunk or len(tokens)
        for s in range(0, len(tokens), chunk):
            logits = self.forward(tokens[s:s + chunk], pos + s)
        return logits[-1]


def greedy(config, weights, prompt, n, prefill_chunk=None):
    """Prefill then n greedy decode steps.  Returns (float32 logits
    [1+n, vocab], argmax ids [1+n]); argmax is taken on the float32 rows."""
    ref = Reference(config, weights, capacity=len(prompt) + n)
    rows = [ref.prefill(list(prompt), 0, prefill_chunk).astype(np.float32)]
    pos = len(prompt)
    for _ in range(n):
        tok = int(np.argmax(rows[-1]))
        rows.append(ref.forward([tok], pos)[0].astype(np.float32))
        pos += 1
    logits = np.stack(rows)
    return logits, [int(t) for t in np.argmax(logits, axis=-1)]


def full_sequence_logits(config, weights, prompt, ids):
    """Logits of the same rows computed by ONE prefill over prompt +
    generated ids (no incremental decode), float32 [1+n, vocab]."""
    seq = list(prompt) + list(ids[:-1])
    ref = Reference(config, weights, capacity=len(seq))
    return ref.forward(seq, 0)[len(prompt) - 1:].astype(np.float32)


def perplexity(config, weights, docs, max_seq=None):
    """Teacher-forced scoring of token-id documents (monocard.perplexity's
    rules; ids already [bos] + text and cut to max_seq): one full-sequence
    forward per document, float64 throughout.  Returns the summary dict
    that `<exe> --perplexity FILE --json` prints."""
    from monocard import perplexity as px
    total, count, ndocs, argmax = 0.0, 0, 0, []
    for ids in docs:
        if len(ids) < 2:
            continue
        ref = Reference(config, weights, capacity=len(ids))
        logits = ref.forward(ids[:-1], 0)
        nll, am = px.nll_rows(logits, ids[1:])
        total += float(nll.sum())
        count += len(ids) - 1
        ndocs += 1
        argmax.extend(int(a) for a in am)
    return px.summary(total, count, ndocs, argmax)


def top2_margins(logits):
    """Per row: top-1 minus top-2 logit."""
    s = np.sort(logits, axis=-1)
    return s[:, -1] - s[:, -2]


def main_perplexity(a):
    from monocard import perplexity as px
    from monocard.bpe_tokenizer import Tokenizer
    try:
        with open(a.perplexity, encoding="utf-8") as f:
            text = f.read()
        config, weights = hf_model.load_model(a.model_dir)
        tok = Tokenizer(os.path.join(a.model_dir, "tokenizer.json"))
        docs, cut = px.document_ids(px.split_documents(text), tok.encode,
                                    config.bos_token_id, a.max_seq)
        r = perplexity(config, weights, docs)
    except (hf_model.CheckpointError, ValueError, NotImplementedError,
            OSError, KeyError) as e:
        print("reference.py: error: %s" % e, file=sys.stderr)
        return 1
    if not r["tokens"]:
        print("reference.py: error: nothing to score", file=sys.stderr)
        return 1
    if a.json:
        import json
        r["truncated_documents"] = cut
        print(json.dumps(r))
    else:
        print("perplexity %.2f over %d tokens (%d documents)"
              % (r["ppl"], r["tokens"], r["documents"]))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="reference.py",
                                description="numpy reference greedy decode")
    p.add_argument("model_dir", metavar="MODEL_DIR")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--tokens", help="prompt token ids, comma-separated")
    g.add_argument("--prompt", help="prompt text, encoded with the model's "
                   "tokenizer.json (no BOS added)")
    g.add_argument("--perplexity", metavar="FILE",
                   help="score FILE teacher-forced as `<exe> --perplexity` "
                   "does (python/monocard/perplexity.py); prints the same "
                   "line, or with --json the same object")
    p.add_argument("-n", type=int, default=16, help="decode steps (default 16)")
    p.add_argument("--logits-out", metavar="FILE.npy")
    p.add_argument("--prefill-chunk", type=int, default=None, metavar="C")
    p.add_argument("--max-seq", type=int, default=None, metavar="N",
                   help="--perplexity: cut documents to N tokens (the "
                   "program's max_seq)")
    p.add_argument("--json", action="store_true",
                   help="--perplexity: print the JSON object")
    p.add_argument("--check-prefill", action="store_true",
                   help="also recompute every row with one full-sequence "
                        "prefill and fail unless it matches")
    a = p.parse_args(argv)
    if a.n < 0:
        p.error("-n must be >= 0")
    if a.prefill_chunk is not None and a.prefill_chunk < 1:
        p.error("--prefill-chunk must be >= 1")
    if a.perplexity is not None:
        return main_perplexity(a)
    try:
        config, weights = hf_model.load_model(a.model_dir)
        if a.tokens is not None:
            try:
                prompt = [int(t) for t in a.tokens.split(",") if t.strip()]
            except ValueError:
                p.error("--tokens must be comma-separated integers")
        else:
            from monocard.bpe_tokenizer import Tokenizer
            prompt = Tokenizer(os.path.join(a.model_dir,
                                            "tokenizer.json")).encode(a.prompt)
        if not prompt:
            p.error("the prompt is empty")
        if len(prompt) + a.n > config.max_position_embeddings:
            print("reference.py: warning: %d positions exceed "
                  "max_position_embeddings %d" % (
                      len(prompt) + a.n, config.max_position_embeddings),
                  file=sys.stderr)
        logits, ids = greedy(config, weights, prompt, a.n, a.prefill_chunk)
    except (hf_model.CheckpointError, ValueError, NotImplementedError,
            OSError, KeyError) as e:
        print("reference.py: error: %s" % e, file=sys.stderr)
        return 1
    if a.logits_out:
        np.save(a.logits_out, logits)
    m = top2_margins(logits)
    r = int(np.argmin(m))
    print("greedy: " + ",".join(map(str, ids)))
    print("margin: min top-2 margin %.4g at row %d (max |logit| %.4g)"
          % (m[r], r, np.abs(logits).max()))
    if a.check_prefill:
        full = full_sequence_logits(config, weights, prompt, ids)
        err = float(np.abs(full - logits).max())
        ok = err <= 1e-5 * max(1.0, float(np.abs(logits).max()))
        print("check-prefill: max |incremental - full prefill| = %.3g %s"
              % (err, "OK" if ok else "FAIL"))
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
