"""Tests for monocard.reference and compare_logits.py.

The reference is checked against a second, deliberately different
implementation (token-by-token, head-by-head loops; RoPE as complex
rotation of pairs (i, i + d/2); Meta's scalar llama3 `apply_scaling`), for
internal consistency (one prefill == chunked prefill == incremental decode),
and for GQA (== MHA with K/V heads repeated as transformers' repeat_kv does).

Run: /usr/bin/python3 -m unittest discover -s python/tests
"""

import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from monocard import checkpoints, hf_model, reference  # noqa: E402
from monocard.compare_logits import compare  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PKG = os.path.join(HERE, "..", "monocard")
PROMPT = [5, 17, 100, 3, 42, 250, 7]


def model(variant, seed=0):
    cfg = checkpoints.make_config(variant)
    return hf_model.parse_config(cfg), checkpoints.make_weights(cfg, seed)


def meta_llama3_scaling(freqs, factor, lo, hi, old_ctx):
    """Meta's llama-models apply_scaling, scalar loop form."""
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < old_ctx / hi:
            out.append(f)
        elif wavelen > old_ctx / lo:
            out.append(f / factor)
        else:
            s = (old_ctx / wavelen - lo) / (hi - lo)
            out.append((1 - s) * f / factor + s * f)
    return np.array(out)


def naive_logits(c, w, tokens):
    """Independent forward pass, one token at a time, one head at a time."""
    w = {n: a.astype(np.float64) for n, a in w.items()}
    lm = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    d, half = c.head_dim, c.head_dim // 2
    inv = 1.0 / c.rope_theta ** (np.arange(half) * 2.0 / d)
    if c.rope_scaling:
        rs = c.rope_scaling
        inv = meta_llama3_scaling(inv, rs["factor"], rs["low_freq_factor"],
                                  rs["high_freq_factor"],
                                  rs["original_max_position_embeddings"])

    def rope(vec, pos):
        z = (vec[:half] + 1j * vec[half:]) * np.exp(1j * pos * inv)
        return np.concatenate([z.real, z.imag])

    def norm(x, g):
        return x / math.sqrt(float(np.dot(x, x)) / len(x) + c.rms_norm_eps) * g

    def lin(x, name):
        y = w[name + ".weight"].dot(x)
        return y + w[name + ".bias"] if name + ".bias" in w else y

    cache = [([], []) for _ in range(c.num_layers)]
    out = []
    for pos, tok in enumerate(tokens):
        x = w["model.embed_tokens.weight"][tok].copy()
        for li in range(c.num_layers):
            p = "model.layers.%d." % li
            h = norm(x, w[p + "input_layernorm.weight"])
            q = lin(h, p + "self_attn.q_proj")
            k = lin(h, p + "self_attn.k_proj")
            v = lin(h, p + "self_attn.v_proj")
            ks, vs = cache[li]
            ks.append([rope(k[j * d:(j + 1) * d], pos)
                       for j in range(c.num_kv_heads)])
            vs.append([v[j * d:(j + 1) * d] for j in range(c.num_kv_heads)])
            att = []
            for hd in range(c.num_heads):
                kvh = hd * c.num_kv_heads // c.num_heads
                qh = rope(q[hd * d:(hd + 1) * d], pos)
                scores = [float(np.dot(qh, ks[t][kvh])) / math.sqrt(d)
                          for t in range(pos + 1)]
                m = max(scores)
                e = [math.exp(s - m) for s in scores]
                att.append(sum(e[t] / sum(e) * vs[t][kvh]
                               for t in range(pos + 1)))
            x = x + lin(np.concatenate(att), p + "self_attn.o_proj")
            h = norm(x, w[p + "post_attention_layernorm.weight"])
            g = lin(h, p + "mlp.gate_proj")
            x = x + lin(g / (1 + np.exp(-g)) * lin(h, p + "mlp.up_proj"),
                        p + "mlp.down_proj")
        out.append(lm.dot(norm(x, w["model.norm.weight"])))
    return np.array(out)


class RopeTest(unittest.TestCase):
    def test_llama3_matches_meta_and_has_three_regimes(self):
        c, _ = model("llama3-rope")
        rs = c.rope_scaling
        base = 1.0 / c.rope_theta ** (np.arange(0, c.head_dim, 2) / c.head_dim)
        got = reference.rope_inv_freq(c)
        want = meta_llama3_scaling(base, 8.0, 1.0, 4.0, 64)
        np.testing.assert_allclose(got, want, rtol=1e-14)
        ratio = base / got
        self.assertEqual(ratio[0], 1.0)                  # high frequency
        self.assertAlmostEqual(ratio[-1], rs["factor"])  # low frequency
        self.assertTrue(((ratio > 1.0) & (ratio < 8.0)).any())  # smoothed

    def test_llama3_real_llama31_values(self):
        """Llama 3.1 8B: theta 5e5, d 128, factor 8, 1/4, 8192."""
        c, _ = model("llama3-rope")
        c.rope_theta, c.head_dim = 500000.0, 128
        c.rope_scaling = dict(c.rope_scaling,
                              original_max_position_embeddings=8192.0)
        base = 1.0 / 500000.0 ** (np.arange(0, 128, 2) / 128)
        np.testing.assert_allclose(reference.rope_inv_freq(c),
                                   meta_llama3_scaling(base, 8, 1, 4, 8192),
                                   rtol=1e-14)

    def test_rotate_half_is_pair_i_i_plus_half(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(3, 16))
        inv = rng.uniform(0.01, 1.0, 8)
        cos, sin = reference.rope_cos_sin(inv, np.array([0, 1, 7]))
        y = reference.apply_rope(x, cos, sin)
        np.testing.assert_allclose(y[0], x[0], atol=1e-15)  # position 0
        z = (x[2, :8] + 1j * x[2, 8:]) * np.exp(1j * 7 * inv)
        np.testing.assert_allclose(y[2], np.concatenate([z.real, z.imag]),
                                   atol=1e-12)


class ReferenceTest(unittest.TestCase):
    def test_matches_naive_implementation(self):
        for v in checkpoints.VARIANTS:
            with self.subTest(variant=v):
                c, w = model(v)
                ref = reference.Reference(c, w, capacity=len(PROMPT))
                got = ref.forward(PROMPT, 0)
                want = naive_logits(c, w, PROMPT)
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)

    def test_prefill_chunked_and_incremental_agree(self):
        for v in checkpoints.VARIANTS:
            c, w = model(v)
            logits, ids = reference.greedy(c, w, PROMPT, 12)
            self.assertEqual(logits.shape, (13, c.vocab_size))
            self.assertEqual(logits.dtype, np.float32)
            self.assertEqual(ids, list(np.argmax(logits, -1)))
            full = reference.full_sequence_logits(c, w, PROMPT, ids)
            np.testing.assert_allclose(full, logits, rtol=0, atol=1e-6)
            for chunk in (1, 2, 3, 5):
                with self.subTest(variant=v, chunk=chunk):
                    lc, ic = reference.greedy(c, w, PROMPT, 12, chunk)
                    self.assertEqual(ic, ids)
                    np.testing.assert_allclose(lc, logits, rtol=0, atol=1e-6)
            seq = PROMPT + ids[:-1]  # float64: one prefill vs step by step
            r1 = reference.Reference(c, w, len(seq))
            a = r1.forward(seq, 0)
            r2 = reference.Reference(c, w, len(seq))
            b = np.stack([r2.forward([t], i)[0] for i, t in enumerate(seq)])
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)

    def test_gqa_equals_mha_with_repeated_kv_heads(self):
        c, w = model("llama-gqa")
        rep, d = c.num_heads // c.num_kv_heads, c.head_dim
        mha = dict(w)
        for li in range(c.num_layers):
            for proj in ("k_proj", "v_proj"):
                n = "model.layers.%d.self_attn.%s.weight" % (li, proj)
                heads = w[n].reshape(c.num_kv_heads, d, -1)
                mha[n] = np.repeat(heads, rep, axis=0).reshape(-1, w[n].shape[1])
        cm = hf_model.parse_config(dict(checkpoints.make_config("llama-gqa"),
                                        num_key_value_heads=c.num_heads))
        a = reference.Reference(c, w, 8).forward(PROMPT, 0)
        b = reference.Reference(cm, mha, 8).forward(PROMPT, 0)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)

    def test_llama3_scaling_changes_logits(self):
        c, w = model("llama3-rope")
        a = reference.Reference(c, w, 8).forward(PROMPT, 0)
        c.rope_scaling = None
        b = reference.Reference(c, w, 8).forward(PROMPT, 0)
        self.assertGreater(np.abs(a - b).max(), 1e-3)

    def test_logits_not_degenerate(self):
        for v in checkpoints.VARIANTS:
            c, w = model(v)
            logits, ids = reference.greedy(c, w, PROMPT, 32)
            m = reference.top2_margins(logits)
            with self.subTest(variant=v):
                self.assertGreater(np.std(logits), 0.2)
                self.assertGreater(len(set(ids)), 8)
                # an in-tolerance (1e-4) error must not be able to flip them
                self.assertGreater(m.min(), 2e-4 * np.abs(logits).max())

    def test_cli(self):
        with tempfile.TemporaryDirectory() as d:
            checkpoints.write_checkpoint(d, "qwen2", "bf16", shards=2)
            out = os.path.join(d, "ref.npy")
            r = subprocess.run([PY, os.path.join(PKG, "reference.py"), d,
                                "--tokens", "1,2,3", "-n", "5",
                                "--logits-out", out, "--check-prefill"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            logits = np.load(out)
            self.assertEqual(logits.shape, (6, 512))
            line = r.stdout.splitlines()[0]
            self.assertEqual(line, "greedy: " + ",".join(
                str(int(t)) for t in np.argmax(logits, -1)))
            self.assertIn("OK", r.stdout)
            r = subprocess.run([PY, os.path.join(PKG, "reference.py"), d,
                                "--tokens", "1,2,999"], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("token ids", r.stderr)


class CompareTest(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.ref = rng.normal(0, 2, (6, 50)).astype(np.float32)

    def test_pass_and_fail(self):
        ok, line = compare(self.ref, self.ref)
        self.assertTrue(ok)
        self.assertTrue(line.startswith("compare: rows=6 vocab=50 "))
        self.assertTrue(line.endswith("greedy tokens identical: 6/6 OK"))
        ok, _ = compare(self.ref + 1e-5, self.ref)
        self.assertTrue(ok)
        ok, line = compare(self.ref + 1e-2, self.ref)
        self.assertFalse(ok)
        bad = self.ref.copy()
        bad[3, np.argmin(bad[3])] = 100.0  # flips the argmax of row 3
        ok, line = compare(bad, self.ref, rtol=1e3)
        self.assertFalse(ok)
        self.assertIn("5/6", line)
        nan = self.ref.copy()
        nan[0, 0] = np.nan
        self.assertFalse(compare(nan, self.ref)[0])

    def test_until_margin(self):
        ref = self.ref.copy()
        top = np.argsort(ref[2])[-2:]
        ref[2, top[0]] = ref[2, top[1]] - 1e-6  # near tie in row 2
        ours = ref.copy()
        ours[2, top[0]] += 2e-6                 # tie broken the other way
        ours[3:] = -ours[3:]                     # diverged afterwards
        self.assertFalse(compare(ours, ref)[0])
        ok, line = compare(ours, ref, until_margin=True)
        self.assertTrue(ok, line)
        self.assertIn("3/3", line)

    def test_cli_exit_codes(self):
        with tempfile.TemporaryDirectory() as d:
            a, b, c = (os.path.join(d, n) for n in ("a.npy", "b.npy", "c.npy"))
            np.save(a, self.ref)
            np.save(b, self.ref + 1e-2)
            np.save(c, self.ref[:3])
            script = os.path.join(PKG, "compare_logits.py")
            for other, rc in ((a, 0), (b, 1), (c, 1)):
                r = subprocess.run([PY, script, other, a],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, rc, r.stdout)
                self.assertEqual(len(r.stdout.splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
