"""Tests for monocard.safetensors_io: round trips, bf16 rounding, strict
rejection of malformed files, sharded checkpoints.

Run: /usr/bin/python3 -m unittest discover -s python/tests
"""

import json
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from monocard import safetensors_io as st  # noqa: E402


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f)


def raw_file(header, data=b"", pad=True):
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return len(h).to_bytes(8, "little") + h + data


class Bf16Test(unittest.TestCase):
    def test_round_to_nearest_even(self):
        one = 1.0
        ulp = 2.0 ** -7                    # bf16 spacing at 1.0
        x = np.array([one, one + ulp / 2,  # halfway -> even (1.0)
                      one + ulp + ulp / 2,  # halfway -> even (1 + 2ulp)
                      one + ulp / 2 + 2 ** -20,  # just above halfway -> up
                      -2.5, np.finfo(np.float32).max, np.inf, -np.inf, 0.0,
                      -0.0],
                     np.float32)
        back = st.bf16_bits_to_f32(st.f32_to_bf16_bits(x))
        want = [1.0, 1.0, 1.0 + 2 * ulp, 1.0 + ulp, -2.5, np.inf, np.inf,
                -np.inf, 0.0, -0.0]
        # f32 max is past bf16 max + half an ulp: rounds to inf, as in torch
        np.testing.assert_array_equal(back, np.array(want, np.float32))
        self.assertTrue(np.signbit(back[-1]))

    def test_nan_stays_nan(self):
        b = st.f32_to_bf16_bits(np.array([np.nan, -np.nan], np.float32))
        self.assertTrue(np.isnan(st.bf16_bits_to_f32(b)).all())

    def test_matches_exhaustive_truncation_on_exact_values(self):
        bits = np.arange(0, 1 << 16, dtype=np.uint16)
        f = st.bf16_bits_to_f32(bits)
        finite = np.isfinite(f)
        np.testing.assert_array_equal(st.f32_to_bf16_bits(f[finite]),
                                      bits[finite])

    def test_relative_error_bound(self):
        x = np.random.default_rng(0).normal(0, 1, 10000).astype(np.float32)
        y = st.bf16_bits_to_f32(st.f32_to_bf16_bits(x))
        self.assertLessEqual(np.max(np.abs(y - x) / np.abs(x)), 2.0 ** -8)


class RoundTripTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_all_dtypes(self):
        rng = np.random.default_rng(1)
        f = rng.normal(size=(3, 5)).astype(np.float32)
        tensors = {"a.f32": f, "b.f16": f.astype(np.float16),
                   "c.bf16": ("BF16", f), "d.i32": np.arange(7, dtype=np.int32),
                   "e.i64": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
                   "f.empty": np.zeros((0, 4), np.float32),
                   "g.scalar": np.array(2.5, np.float32)}
        path = os.path.join(self.dir, "x.safetensors")
        st.save_file(tensors, path, {"format": "pt"})
        entries, meta, start = st.read_header(path)
        self.assertEqual(meta, {"format": "pt"})
        self.assertEqual(start % 8, 0)
        self.assertEqual([entries[k]["dtype"] for k in tensors],
                         ["F32", "F16", "BF16", "I32", "I64", "F32", "F32"])
        got = st.load_file(path)
        np.testing.assert_array_equal(got["a.f32"], f)
        np.testing.assert_array_equal(got["b.f16"],
                                      f.astype(np.float16).astype(np.float32))
        self.assertEqual(got["c.bf16"].dtype, np.float32)
        np.testing.assert_allclose(got["c.bf16"], f, rtol=2 ** -8)
        np.testing.assert_array_equal(got["d.i32"], np.arange(7))
        self.assertEqual(got["e.i64"].shape, (2, 3))
        self.assertEqual(got["f.empty"].shape, (0, 4))
        self.assertEqual(got["g.scalar"].shape, ())
        raw = st.load_file(path, ["c.bf16"], upcast=False)["c.bf16"]
        np.testing.assert_array_equal(raw, st.f32_to_bf16_bits(f))

    def test_bytes_are_little_endian_and_contiguous(self):
        x = np.arange(4, dtype=">f4")[::-1]
        path = os.path.join(self.dir, "be.safetensors")
        st.save_file({"x": x.astype(np.float32)}, path)
        with open(path, "rb") as f:
            blob = f.read()
        self.assertEqual(blob[-16:], np.array([3, 2, 1, 0], "<f4").tobytes())

    def test_sharded_checkpoint(self):
        rng = np.random.default_rng(2)
        tensors = {"t%d" % i: rng.normal(size=(i + 1, 8)).astype(np.float32)
                   for i in range(7)}
        files = st.save_checkpoint(tensors, self.dir, shards=3)
        self.assertEqual(files[-1], st.INDEX_NAME)
        self.assertEqual(files[:3], [st.shard_name(i, 3) for i in range(3)])
        self.assertEqual(files[0], "model-00001-of-00003.safetensors")
        index = read_json(os.path.join(self.dir, st.INDEX_NAME))
        self.assertEqual(index["metadata"]["total_size"],
                         sum(a.nbytes for a in tensors.values()))
        self.assertEqual(set(index["weight_map"]), set(tensors))
        self.assertEqual(len(set(index["weight_map"].values())), 3)
        got = st.load_checkpoint(self.dir)
        for k, v in tensors.items():
            np.testing.assert_array_equal(got[k], v)

    def test_too_many_shards(self):
        with self.assertRaises(st.SafetensorsError):
            st.save_checkpoint({"a": np.zeros(2, np.float32)}, self.dir, 2)


class StrictReaderTest(unittest.TestCase):
    GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]}}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "t.safetensors")

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, blob, fragment):
        with open(self.path, "wb") as f:
            f.write(blob)
        with self.assertRaises(st.SafetensorsError) as cm:
            st.read_header(self.path)
        self.assertIn(fragment, str(cm.exception))

    def header(self, **changes):
        h = json.loads(json.dumps(self.GOOD))
        for name, entry in changes.items():
            if entry is None:
                del h[name]
            else:
                h[name] = entry
        return h

    def test_good(self):
        with open(self.path, "wb") as f:
            f.write(raw_file(self.GOOD, b"\0" * 12))
        entries, _, _ = st.read_header(self.path)
        self.assertEqual(list(entries), ["a", "b"])

    def test_unpadded_header_is_accepted(self):
        with open(self.path, "wb") as f:
            f.write(raw_file(self.GOOD, b"\0" * 12, pad=False))
        st.read_header(self.path)

    def test_rejections(self):
        data = b"\0" * 12
        self.check(b"\1\0\0", "shorter than the 8-byte")
        self.check(raw_file(self.GOOD, data)[:20], "exceeds the file")
        self.check((9).to_bytes(8, "little") + b"{not json", "not valid JSON")
        self.check((2).to_bytes(8, "little") + b"[]", "not a JSON object")
        self.check(raw_file(self.header(b={"dtype": "Q4", "shape": [2],
                                           "data_offsets": [8, 12]}), data),
                   "unknown dtype")
        self.check(raw_file(self.header(b={"dtype": "F16", "shape": [3],
                                           "data_offsets": [8, 12]}), data),
                   "needs 6")
        self.check(raw_file(self.header(b={"dtype": "F16", "shape": [-2],
                                           "data_offsets": [8, 12]}), data),
                   "non-negative")
        self.check(raw_file(self.header(b={"dtype": "F16", "shape": [2],
                                           "data_offsets": [12, 8]}), data),
                   "bad data_offsets")
        self.check(raw_file(self.header(b={"dtype": "F16", "shape": [2]}),
                            data), "exactly dtype")
        self.check(raw_file(self.GOOD, data[:10]), "past the end")
        self.check(raw_file(self.header(b={"dtype": "F16", "shape": [2],
                                           "data_offsets": [6, 10]}), data),
                   "overlap")
        self.check(raw_file(self.header(b={"dtype": "F16", "shape": [2],
                                           "data_offsets": [10, 14]}),
                            data + b"\0\0"), "hole")
        self.check(raw_file(self.GOOD, data + b"\0" * 4), "trailing")
        self.check(raw_file(dict(self.GOOD, __metadata__={"a": 1}), data),
                   "__metadata__")

    def test_missing_shard_and_disagreeing_index(self):
        d = self.tmp.name
        st.save_checkpoint({"x": np.zeros(2, np.float32),
                            "y": np.ones(3, np.float32)}, d, shards=2)
        ipath = os.path.join(d, st.INDEX_NAME)
        index = read_json(ipath)
        index["weight_map"]["x"] = "model-00009-of-00002.safetensors"
        write_json(index, ipath)
        with self.assertRaisesRegex(st.SafetensorsError, "does not exist"):
            st.checkpoint_files(d)
        index["weight_map"]["x"] = st.shard_name(1, 2)
        write_json(index, ipath)
        with self.assertRaisesRegex(st.SafetensorsError, "disagrees"):
            st.checkpoint_files(d)


if __name__ == "__main__":
    unittest.main()
