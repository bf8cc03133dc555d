"""Tests for the quality tooling: monocard.perplexity (the document rules the
launcher's --perplexity follows), reference.perplexity, and the helpers of
bench/gpu_bench.py and bench/prepare_gpu_bench.py that can run without a
GPU (logit error, token agreement, int4 quantization and the int4 peer's
plumbing over stand-in ops, model-info extraction).

Run: /usr/bin/python3 -m unittest discover -s python/tests
"""

import hashlib
import json
import math
import os
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.join(REPO, "bench"))
from monocard import perplexity as px  # noqa: E402

try:
    import torch
except ImportError:  # numpy-only machines
    torch = None


class PerplexityRules(unittest.TestCase):
    def test_split_documents(self):
        # The same cases as CliTests.cpp's testPerplexity.
        self.assertEqual(px.split_documents("a\nb\n%\nc\n"), ["a\nb", "c"])
        self.assertEqual(px.split_documents("a\n%\n%\n  \n%\nb"), ["a", "b"])
        self.assertEqual(px.split_documents("%\r\nx\r\n%\r\n"), ["x\r"])
        self.assertEqual(px.split_documents("no separator\n\nat all\n"),
                         ["no separator\n\nat all"])
        self.assertEqual(px.split_documents("a %\n%%\n"), ["a %\n%%"])
        self.assertEqual(px.split_documents(""), [])
        self.assertEqual(px.split_documents("\n%\n \n"), [])

    def test_document_ids(self):
        ids, cut = px.document_ids(["ab", "abcdef"], lambda d: [ord(c) for c in d],
                                   0, max_seq=4)
        self.assertEqual(ids, [[0, 97, 98], [0, 97, 98, 99]])
        self.assertEqual(cut, 1)
        ids, _ = px.document_ids(["ab"], lambda d: [1, 2], None)
        self.assertEqual(ids, [[1, 2]])

    def test_nll_rows(self):
        lg = np.array([[1.0, 3.0, 3.0, -2.0], [1000.0, 999.0, -1000.0, 0.0]])
        nll, am = px.nll_rows(lg, [0, 1])
        z = math.exp(1) + 2 * math.exp(3) + math.exp(-2)
        self.assertAlmostEqual(nll[0], math.log(z) - 1.0, places=12)
        self.assertAlmostEqual(nll[1], 1.0 + math.log1p(math.exp(-1.0)),
                               places=9)
        self.assertEqual(list(am), [1, 0])  # lowest index on ties

    def test_summary_and_check(self):
        self.assertEqual(px.argmax_sha256([5, 0, 12]), hashlib.sha256(
            b"5,0,12").hexdigest())
        a = px.summary(10.0, 5, 2, [1, 2, 3, 4, 5])
        self.assertAlmostEqual(a["ppl"], math.exp(2.0))
        b = dict(a, argmax=[1, 2, 3, 4, 6])
        b["argmax_sha256"] = px.argmax_sha256(b["argmax"])
        self.assertEqual(px.agreement(a["argmax"], b["argmax"]), 0.8)
        self.assertTrue(px.check(a, a, 1e-6, 1.0)[0])
        ok, line = px.check(b, a, 1e-6, 1.0)
        self.assertFalse(ok)
        self.assertIn("agreement 0.8000 < 1.0000", line)
        bad = dict(a, argmax_sha256="0" * 64)
        self.assertFalse(px.check(bad, a)[0])


class ReferencePerplexity(unittest.TestCase):
    def test_matches_incremental_decode(self):
        """reference.perplexity (one forward per document) equals scoring
        with one decode step per position, as the launcher does."""
        from monocard import checkpoints, hf_model, reference
        with tempfile.TemporaryDirectory() as d:
            checkpoints.write_checkpoint(d, "llama-gqa", "f32", seed=3)
            config, weights = hf_model.load_model(d)
            docs = [[1, 5, 9, 2, 7], [3, 4], [8]]
            r = reference.perplexity(config, weights, docs)
            total, argmax = 0.0, []
            for ids in docs[:2]:
                ref = reference.Reference(config, weights, capacity=len(ids))
                for i in range(len(ids) - 1):
                    lg = ref.forward([ids[i]], i)
                    nll, am = px.nll_rows(lg, [ids[i + 1]])
                    total += nll[0]
                    argmax.append(int(am[0]))
            self.assertEqual((r["tokens"], r["documents"]), (5, 2))
            self.assertAlmostEqual(r["nll_sum"], total, places=9)
            self.assertEqual(r["argmax"], argmax)


class GpuBenchHelpers(unittest.TestCase):
    def test_logit_error(self):
        import gpu_bench as gb
        ref = np.array([[0.0, 1.0, 0.5], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
        q = ref.copy()
        q[0, 2] += 0.1
        e = gb.logit_error(q, ref)
        self.assertEqual((e["rows"], e["rows_same_context"],
                          e["steps_before_divergence"]), (3, 3, 3))
        self.assertAlmostEqual(e["max_abs"], 0.1)
        self.assertAlmostEqual(e["rel_l2"], 0.1 / np.linalg.norm(ref))
        q[1] = [0.0, 5.0, 0.0]  # argmax differs at row 1: row 2 not compared
        q[2] = [9.0, 0.0, 0.0]
        e = gb.logit_error(q, ref)
        self.assertEqual((e["rows_same_context"],
                          e["steps_before_divergence"]), (2, 1))
        self.assertAlmostEqual(e["top1_agreement"], 1 / 3)
        self.assertAlmostEqual(e["max_abs"], 5.0)
        self.assertEqual(gb.token_agreement([1, 2, 3, 4], [1, 2, 5, 4]),
                         {"positions": 4, "top1_agreement": 0.75,
                          "steps_before_divergence": 2})

    @unittest.skipIf(torch is None, "no torch")
    def test_int4_quantize(self):
        import gpu_bench as gb
        g = torch.Generator()
        g.manual_seed(0)
        w = torch.randn(16, 256, generator=g) * 0.02
        q, sz, deq = gb.int4_quantize(w, group=128)
        self.assertEqual(tuple(sz.shape), (2, 16, 2))
        self.assertEqual(sz.dtype, torch.bfloat16)
        self.assertTrue(int(q.min()) >= 0 and int(q.max()) <= 15)
        # dequantization from the packed scales/zeros as the kernel does
        s = sz.float()[:, :, 0].t().repeat_interleave(128, 1)
        z = sz.float()[:, :, 1].t().repeat_interleave(128, 1)
        self.assertTrue(torch.allclose((q.float() - 8) * s + z, deq))
        # within half a step, plus the bf16 rounding of the zero point
        step = s.max().item()
        self.assertLess((deq - w).abs().max().item(), 0.5 * step + 2e-3 * 0.1)
        shapes = [tuple(t.shape) for _, t in gb.int4_layouts(q)]
        self.assertEqual(shapes, [(16, 128), (16, 128), (16, 256)])
        hi = gb.int4_layouts(q)[0][1]
        self.assertEqual(int(hi[0, 0]), int(q[0, 0]) << 4 | int(q[0, 1]))

    @unittest.skipIf(torch is None, "no torch")
    def test_int4_peer_plumbing(self):
        """to_int4 + PeerLlama.lin over stand-in aten ops (the CPU has no
        tinygemm): the int4 peer's logits equal a float peer's built from
        the dequantized weights."""
        import gpu_bench as gb
        from monocard import hf_model
        F = torch.nn.functional
        cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
               "hidden_size": 128, "intermediate_size": 256,
               "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "vocab_size": 256,
               "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
               "rope_theta": 10000.0, "tie_word_embeddings": False,
               "torch_dtype": "float32"}
        c = hf_model.parse_config(cfg)
        g = torch.Generator()
        g.manual_seed(1)
        w = {n: (torch.ones(s) if n.endswith("norm.weight") else
                 torch.randn(s, generator=g) * 0.05)
             for n, s in hf_model.expected_tensors(c).items()}

        def sdpa(q, k, v, attn_mask=None):
            s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            s = s.masked_fill(~attn_mask, float("-inf"))
            return torch.softmax(s, -1) @ v

        saved = {}
        fake_ops = {
            "_convert_weight_to_int4pack": lambda t, tiles: t,
            "_weight_int4pack_mm": lambda x, wq, group, sz: (
                x.float() @ ((wq.float() - 8) * sz.float()[:, :, 0].t()
                             .repeat_interleave(group, 1) +
                             sz.float()[:, :, 1].t()
                             .repeat_interleave(group, 1)).t()
            ).to(torch.bfloat16)}
        had_sdpa = hasattr(F, "scaled_dot_product_attention")
        saved_sdpa = getattr(F, "scaled_dot_product_attention", None)
        F.scaled_dot_product_attention = sdpa
        for k, fn in fake_ops.items():
            saved[k] = getattr(torch.ops.aten, k, None)
            setattr(torch.ops.aten, k, fn)
        try:
            deqw = dict(w)
            for n in list(deqw):
                if n.endswith("proj.weight") or n == "lm_head.weight":
                    deqw[n] = gb.int4_quantize(w[n], 128)[2]
            P = gb.peer_class()
            toks = torch.tensor([3, 1, 4, 1, 5])
            pos = torch.arange(5)
            ref = P(cfg, deqw, 64).eval()(toks, pos)
            m = P(cfg, w, 64).eval()
            full = m(toks, pos)
            read = gb.to_int4(m, 2, lambda s: None)  # int32 [N, K] layout
            out = m(toks, pos)
            self.assertFalse(hasattr(m.layers[0], "q_proj"))
            self.assertTrue(m.int4)
            # x goes through bf16 on the way in: a few 1e-3 relative
            rel = ((out - ref).norm() / ref.norm()).item()
            self.assertLess(rel, 2e-2)
            # int4 g128 of Gaussian weights, 2 layers: tens of percent
            self.assertLess(((out - full).norm() / full.norm()).item(), 0.6)
            n_lin = sum(s[0] * s[1] for n, s in hf_model.expected_tensors(
                c).items() if n.endswith("proj.weight") or n == "lm_head.weight")
            self.assertGreater(read, n_lin * 4)  # int32 codes in this layout
        finally:
            for k, fn in saved.items():
                if fn is None:
                    delattr(torch.ops.aten, k)
                else:
                    setattr(torch.ops.aten, k, fn)
            if had_sdpa:
                F.scaled_dot_product_attention = saved_sdpa
            else:
                del F.scaled_dot_product_attention

    def test_model_info_of(self):
        from monocard import model_info as pg
        info = {"architecture": "LlamaForCausalLM", "weights_bytes": 4096,
                "recipe": [
                    {"param": "model.embed_tokens.weight", "offset": 0,
                     "dtype": "f16", "shape": [32, 8]},
                    {"param": "model.layers.0.mlp.up_proj.weight",
                     "offset": 512, "dtype": "i4", "shape": [16, 200],
                     "quant": {"bits": 4, "group": 128, "scale_dtype": "f16",
                               "scales_offset": 2048, "row_bytes": 112}},
                    {"param": "lm_head.weight", "offset": 3072,
                     "dtype": "i8", "shape": [32, 8],
                     "quant": {"bits": 8, "group": 8, "scale_dtype": "f32",
                               "scales_offset": 3584, "row_bytes": 16}}]}
        with tempfile.TemporaryDirectory() as d:
            exe = os.path.join(d, "model")
            with open(exe, "wb") as f:
                f.write(b"\x7fELF junk {\"architecture\": no\x00 more " +
                        json.dumps(info, separators=(",", ":")).encode() +
                        b"\x00tail")
            got = pg.model_info_of(exe)
        self.assertEqual(got, info)
        s = pg.weights_summary(got)
        # embedding: one f16 row (16 bytes); i4: 16 rows x 112 + 16 x 2
        # groups x 2 f16; i8: 32 x 16 + 32 x 1 group x 2 f32
        self.assertEqual(s["bytes_read_per_token"],
                         16 + (16 * 112 + 16 * 2 * 4) + (32 * 16 + 32 * 8))
        self.assertEqual(s["elements_by_dtype"],
                         {"f16": 256, "i4": 3200, "i8": 256})
        self.assertAlmostEqual(pg.quantized_bits(got), 8.0 * (
            16 * 112 + 16 * 2 * 4 + 32 * 16 + 32 * 8) / (3200 + 256))


if __name__ == "__main__":
    unittest.main()
