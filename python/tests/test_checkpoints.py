"""Tests for monocard.checkpoints / make_checkpoint.py / bpe_tokenizer /
hf_model: every variant and dtype loads strictly, every broken case is
rejected, the tokenizer is valid.

Run: /usr/bin/python3 -m unittest discover -s python/tests
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from monocard import bpe_tokenizer, checkpoints, hf_model  # noqa: E402
from monocard import safetensors_io as st  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SCRIPT = os.path.join(HERE, "..", "monocard", "make_checkpoint.py")

REQUIRED_FIELDS = ["architectures", "hidden_size", "intermediate_size",
                   "num_hidden_layers", "num_attention_heads",
                   "num_key_value_heads", "vocab_size",
                   "max_position_embeddings", "rms_norm_eps", "rope_theta",
                   "rope_scaling", "tie_word_embeddings", "bos_token_id",
                   "eos_token_id", "torch_dtype", "model_type"]


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class VariantTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_every_variant_and_dtype(self):
        st_dtype = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
        for variant in checkpoints.VARIANTS:
            f32 = None
            for dtype in checkpoints.DTYPES:
                with self.subTest(variant=variant, dtype=dtype):
                    checkpoints.write_checkpoint(self.dir, variant, dtype)
                    cfg = read_json(os.path.join(self.dir, "config.json"))
                    for k in REQUIRED_FIELDS:
                        self.assertIn(k, cfg)
                    c, headers = hf_model.load_model(self.dir, False)
                    self.assertEqual(c.hidden_size, 64)
                    self.assertEqual(c.num_layers, 2)
                    self.assertTrue(300 <= c.vocab_size <= 512)
                    self.assertTrue(128 <= c.intermediate_size <= 176)
                    self.assertEqual(set(headers),
                                     set(hf_model.expected_tensors(c)))
                    self.assertEqual({d for d, _ in headers.values()},
                                     {st_dtype[dtype]})
                    self.assertEqual(cfg["torch_dtype"],
                                     checkpoints.DTYPES[dtype])
                    _, w = hf_model.load_model(self.dir)
                    if f32 is None:
                        f32 = w
                    for n, a in w.items():  # same weights, rounded
                        np.testing.assert_allclose(a, f32[n], rtol=2 ** -8,
                                                   atol=1e-7)

    def test_variant_specifics(self):
        def cfg(v):
            return hf_model.parse_config(checkpoints.make_config(v))
        self.assertEqual((cfg("llama-gqa").num_heads,
                          cfg("llama-gqa").num_kv_heads), (4, 2))
        self.assertEqual((cfg("llama-mha").num_heads,
                          cfg("llama-mha").num_kv_heads), (4, 4))
        self.assertEqual(cfg("llama3-rope").rope_scaling["rope_type"], "llama3")
        self.assertEqual(cfg("mistral").architecture, "MistralForCausalLM")
        q = cfg("qwen2")
        self.assertTrue(q.tie_word_embeddings and q.qkv_bias and not q.o_bias)
        names = hf_model.expected_tensors(q)
        self.assertNotIn("lm_head.weight", names)
        self.assertIn("model.layers.1.self_attn.k_proj.bias", names)
        self.assertNotIn("model.layers.0.self_attn.o_proj.bias", names)
        self.assertIn("lm_head.weight", hf_model.expected_tensors(cfg("mistral")))
        self.assertEqual(names["model.layers.0.mlp.down_proj.weight"], (64, 176))
        self.assertEqual(names["model.layers.0.self_attn.k_proj.weight"],
                         (32, 64))

    def test_transformers5_rope_parameters_spelling(self):
        for v in checkpoints.VARIANTS:
            cfg = checkpoints.make_config(v)
            legacy = hf_model.parse_config(cfg)
            rp = dict(cfg.pop("rope_scaling") or {"rope_type": "default"},
                      rope_theta=cfg.pop("rope_theta"))
            cfg["rope_parameters"] = rp
            cfg["dtype"] = cfg.pop("torch_dtype")
            self.assertEqual(hf_model.parse_config(cfg), legacy)

    def test_seed_changes_weights_shards_do_not(self):
        checkpoints.write_checkpoint(self.dir, "qwen2", "bf16", seed=0)
        a = st.load_checkpoint(self.dir)
        checkpoints.write_checkpoint(self.dir, "qwen2", "bf16", seed=0,
                                     shards=3)
        self.assertFalse(os.path.exists(os.path.join(self.dir,
                                                     "model.safetensors")))
        self.assertEqual(len(read_json(os.path.join(
            self.dir, st.INDEX_NAME))["weight_map"]), len(a))
        b = st.load_checkpoint(self.dir)
        for n in a:
            np.testing.assert_array_equal(a[n], b[n])
        checkpoints.write_checkpoint(self.dir, "qwen2", "bf16", seed=1)
        self.assertFalse(os.path.exists(os.path.join(self.dir, st.INDEX_NAME)))
        c = st.load_checkpoint(self.dir)
        self.assertFalse(np.array_equal(a["model.norm.weight"],
                                        c["model.norm.weight"]))


class BrokenTest(unittest.TestCase):
    def test_every_broken_case_is_rejected(self):
        with tempfile.TemporaryDirectory() as d:
            for case in checkpoints.BROKEN:
                for shards in (1, 2):
                    with self.subTest(case=case, shards=shards):
                        checkpoints.write_checkpoint(d, "llama-gqa", "f16",
                                                     shards=shards,
                                                     broken=case)
                        with self.assertRaises(hf_model.CheckpointError) as cm:
                            hf_model.load_model(d)
                        msg = str(cm.exception)
                        self.assertNotIn("\n", msg)
                        self.assertTrue(msg)

    def test_messages_name_the_problem(self):
        want = {"missing-tensor": "missing tensor",
                "extra-tensor": "unexpected tensor",
                "shape-mismatch": "shape", "bad-dtype": "dtype I8",
                "truncated-json": "not valid JSON",
                "malformed-json": "not valid JSON",
                "truncated-header": "exceeds the file",
                "malformed-header": "header is not valid JSON",
                "offset-past-end": "past the end",
                "overlapping-tensors": "overlap",
                "unsupported-arch": "FalconForCausalLM",
                "unsupported-field": "yarn",
                "missing-field": "num_hidden_layers",
                "bad-index": "does not exist"}
        self.assertEqual(set(want), set(checkpoints.BROKEN))
        with tempfile.TemporaryDirectory() as d:
            for case, fragment in want.items():
                with self.subTest(case=case):
                    checkpoints.write_checkpoint(d, "qwen2", "bf16",
                                                 broken=case)
                    with self.assertRaises(hf_model.CheckpointError) as cm:
                        hf_model.load_model(d)
                    self.assertIn(fragment, str(cm.exception))


class CliTest(unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([PY, SCRIPT] + list(args), capture_output=True,
                              text=True)

    def test_success_is_silent(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "m")
            r = self.run_cli("--variant", "mistral", "--dtype", "bf16",
                             "--out", out, "--seed", "3", "--shards", "2")
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
            self.assertTrue(os.path.exists(os.path.join(out, st.INDEX_NAME)))

    def test_bad_arguments(self):
        with tempfile.TemporaryDirectory() as d:
            for args in (["--variant", "gpt2", "--dtype", "f32", "--out", d],
                         ["--variant", "qwen2", "--dtype", "f8", "--out", d],
                         ["--variant", "qwen2", "--dtype", "f32"],
                         ["--variant", "qwen2", "--dtype", "f32", "--out", d,
                          "--shards", "0"],
                         ["--variant", "qwen2", "--dtype", "f32", "--out", d,
                          "--shards", "1000"],
                         ["--variant", "qwen2", "--dtype", "f32", "--out", d,
                          "--broken", "nope"]):
                r = self.run_cli(*args)
                self.assertNotEqual(r.returncode, 0, args)
                self.assertIn("error", r.stderr)


class TokenizerTest(unittest.TestCase):
    def test_tokenizer_json_is_consistent(self):
        for vocab_size in (320, 352, 384, 448, 512):
            tok, bos, eos = bpe_tokenizer.make_tokenizer_json(vocab_size)
            m = tok["model"]
            self.assertEqual(m["type"], "BPE")
            self.assertEqual(tok["pre_tokenizer"]["type"], "ByteLevel")
            self.assertEqual(tok["decoder"]["type"], "ByteLevel")
            ids = sorted(list(m["vocab"].values()) +
                         [t["id"] for t in tok["added_tokens"]])
            self.assertEqual(ids, list(range(vocab_size)))
            self.assertEqual((bos, eos), (vocab_size - 2, vocab_size - 1))
            b2u = bpe_tokenizer.bytes_to_unicode()
            for b in range(256):
                self.assertEqual(m["vocab"][b2u[b]], b)
            seen = set(b2u.values())
            for merge in m["merges"]:
                a, b = merge.split(" ")
                self.assertIn(a, seen)
                self.assertIn(b, seen)
                seen.add(a + b)
            self.assertEqual(seen, set(m["vocab"]))

    def test_encode_decode_round_trip(self):
        tok, _, eos = bpe_tokenizer.make_tokenizer_json(512)
        t = bpe_tokenizer.Tokenizer(json.loads(json.dumps(tok)))
        for text in ("Once upon a time", "the clockmaker's 2024 tools!",
                     "  spaces\n\ttabs", "héllo wörld ☃", ""):
            ids = t.encode(text)
            self.assertEqual(t.decode(ids), text)
            self.assertTrue(all(0 <= i < 512 for i in ids))
        ids = t.encode("a<|end_of_text|>b")
        self.assertEqual(ids[1], eos)
        self.assertLess(len(t.encode(" the")), 2)  # merged to one token


if __name__ == "__main__":
    unittest.main()
