"""Tests for monocard.quantize, the numpy reference of the packed-weights
recipe (docs/packed-weights-format.md). The packer is checked against it
byte for byte by test/Runtime/Weights/pack-quantize.test; these pin the reference
itself to the document.

Run: /usr/bin/python3 -m unittest discover -s python/tests
"""

import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from monocard import quantize as qz  # noqa: E402


class PairRowsTest(unittest.TestCase):
    def test_runs(self):
        w = np.arange(8)
        self.assertEqual(qz.pair_rows(w, [0, 8, 4]).tolist(),
                         [0, 2, 1, 3, 4, 6, 5, 7])
        # Rows outside the triples stay; 2-D rows move whole.
        m = np.arange(12).reshape(6, 2)
        got = qz.pair_rows(m, [2, 4, 4])
        self.assertEqual(got[:, 0].tolist(), [0, 2, 4, 8, 6, 10])
        self.assertEqual(got[3].tolist(), [8, 9])

    def test_gate_up(self):
        gate, up = np.full((3, 2), 1.0), np.full((3, 2), 2.0)
        w = qz.pair_rows(qz.concat_rows([gate, up]), [0, 6, 6])
        self.assertEqual(w[:, 0].tolist(), [1, 2, 1, 2, 1, 2])


class QuantizeTest(unittest.TestCase):
    def test_int8(self):
        w = np.array([[127, -63.5, 0.5, 1.5], [0, 0, 0, 0]], np.float32)
        q, s = qz.quantize_int8_per_channel(w, "f16")
        self.assertEqual(s.ravel().tolist(), [1, 1])  # 0 falls back to 1
        self.assertEqual(q[0].tolist(), [127, -64, 0, 2])  # half to even
        self.assertEqual(q[1].tolist(), [0, 0, 0, 0])

    def test_int4_groups(self):
        w = np.array([[0, 15, 7.5, 8.5, 2, 3, 4]], np.float32)
        q, s, z = qz.quantize_int4_groups(w, 4, "bf16")
        # Range [0, 4] of the short group: 4/15 rounded to bf16.
        self.assertEqual(s.tolist(), [[1, 0.267578125]])
        self.assertEqual(q[0, :4].tolist(), [0, 15, 8, 8])  # half to even
        self.assertEqual(q[0, 4:].tolist(), [7, 11, 15])
        self.assertEqual(z.tolist(), [[0, 0]])
        # All negative: 0 is in the range, so zero is 15.
        q, s, z = qz.quantize_int4_groups(-w[:, :4] - 1, 4, "f32")
        self.assertEqual(z.tolist(), [[15]])
        self.assertEqual(q[0, 1], 0)

    def test_scale_rounded_before_dividing(self):
        rng = np.random.default_rng(3)
        w = rng.standard_normal((16, 100)).astype(np.float32)
        for sd in qz.SCALE_DTYPES:
            q, s, z = qz.quantize_int4_groups(w, 32, sd)
            self.assertTrue((qz.round_to(s, sd) == s).all())
            d = qz.dequantize(q, s, z, 32)
            g = np.arange(100) // 32
            self.assertTrue((np.abs(d - w) <= s[:, g] * 0.56).all())
            q, s = qz.quantize_int8_per_channel(w, sd)
            self.assertTrue((np.abs(qz.dequantize(q, s) - w)
                             <= s * (0.5 + 2**-16)).all())


class PackRowsTest(unittest.TestCase):
    def test_int4_layout(self):
        w = np.zeros((2, 33), np.float32)
        w[0, :3] = [1, 2, 3]  # one group of 33: scale 3/15
        data, params = qz.pack_rows(w, "i4", 64, "f32")
        self.assertEqual(qz.row_bytes(33, 4), 32)
        self.assertEqual(len(data), 2 * 32)
        self.assertEqual(data[0], 5 | (10 << 4))  # even k low nibble
        self.assertEqual(data[1], 15)
        self.assertEqual(data[17:32], bytes(15))  # padding
        self.assertEqual(np.frombuffer(params, "<f4").tolist(),
                         [np.float32(0.2), 0, 1, 0])

    def test_int8_layout(self):
        w = np.array([[-1, 0.5, 1]], np.float32)
        data, params = qz.pack_rows(w, "i8", None, "f16")
        self.assertEqual(data, bytes([0x81, 64, 127]) + bytes(13))
        self.assertEqual(np.frombuffer(params, "<f2").tolist(),
                         [np.float16(1 / 127), 0])


if __name__ == "__main__":
    unittest.main()
