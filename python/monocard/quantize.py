"""numpy reference of the packed-weights recipe (docs/packed-weights-format.md).

Why this exists: the packer (lib/Runtime/Weights/Packer.cpp) is the one place that
decides packed bytes; this module computes the same bytes independently so
tests can compare them exactly, and quality tooling can measure what
quantization does to a model without the compiler.

The arithmetic is float32 throughout, as in the C++: `w / scale` is one f32
division, np.rint rounds half to even, and the scale is rounded to
scale_dtype before anything divides by it.

    w = concat_rows([a, b, c])                 # step 1, axis 0
    w = pair_rows(w, [0, 64, 16])              # step 2
    data, params = pack_rows(w, "i4", group=64, scale_dtype="f16")   # step 3
"""

import numpy as np

SCALE_DTYPES = ("f32", "f16", "bf16")
_SCALE_SIZE = {"f32": 4, "f16": 2, "bf16": 2}


def _f32(x):
    return np.asarray(x, dtype=np.float32)


def f32_to_bf16_bits(x):
    """float32 -> bf16 bit patterns (uint16), round to nearest even; NaNs
    stay NaN (as lib/Runtime/Support/DType.cpp does)."""
    x = _f32(x)
    u = x.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        r = np.where(nan, ((x.view(np.uint32) >> 16) | 0x40).astype(np.uint16),
                     r)
    return r


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(
        np.float32)


def round_to(x, dtype):
    """float32 values rounded to dtype ("f32", "f16", "bf16"), as float32."""
    x = _f32(x)
    if dtype == "f32":
        return x.copy()
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float32)
    if dtype == "bf16":
        return bf16_bits_to_f32(f32_to_bf16_bits(x))
    raise ValueError("unknown dtype %r" % (dtype,))


def encode(x, dtype):
    """float32 values as little-endian bytes of dtype (f32, f16, bf16)."""
    x = _f32(x)
    if dtype == "f32":
        return x.astype("<f4").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    if dtype == "bf16":
        return f32_to_bf16_bits(x).astype("<u2").tobytes()
    raise ValueError("unknown dtype %r" % (dtype,))


def _pick_scale(primary, fallback, scale_dtype):
    """primary rounded to scale_dtype; where 0, fallback rounded; where
    still 0, 1."""
    s = round_to(primary, scale_dtype)
    s = np.where(s == 0, round_to(fallback, scale_dtype), s)
    return np.where(s == 0, np.float32(1), s).astype(np.float32)


def concat_rows(sources):
    """Step 1: sources concatenated along axis 0, as float32."""
    return np.concatenate([_f32(s) for s in sources], axis=0)


def pair_rows(w, triples):
    """Step 2: for each (start, count, block), every run of `block` rows in
    [start, start + count) is reordered so output row 2i is input row i and
    output row 2i + 1 is input row i + block/2 of that run. Rows of a 1-D
    array are its elements. Returns a new array."""
    w = np.asarray(w)
    out = w.copy()
    t = list(triples)
    assert len(t) % 3 == 0, "pair_rows is a flat list of triples"
    for start, count, block in zip(t[0::3], t[1::3], t[2::3]):
        assert block > 0 and block % 2 == 0 and count % block == 0
        half = block // 2
        for run in range(start, start + count, block):
            src = w[run:run + block]
            dst = np.empty_like(src)
            dst[0::2] = src[:half]
            dst[1::2] = src[half:]
            out[run:run + block] = dst
    return out


def quantize_int8_per_channel(w, scale_dtype):
    """[N, K] -> (codes int8 [N, K], scales float32 [N, 1]).
    scale = max|w| / 127 rounded to scale_dtype (0 -> max|w| rounded -> 1),
    q = clamp(rint(w / scale), -127, 127). The zeros are all 0."""
    w = _f32(w)
    amax = np.max(np.abs(w), axis=1, keepdims=True) if w.shape[1] else \
        np.zeros((w.shape[0], 1), np.float32)
    scale = _pick_scale(amax / np.float32(127), amax, scale_dtype)
    q = np.clip(np.rint(w / scale), np.float32(-127), np.float32(127))
    return q.astype(np.int8), scale


def quantize_int4_groups(w, group, scale_dtype):
    """[N, K] -> (codes uint8 in [0, 15] [N, K], scales float32 [N, G],
    zeros float32 [N, G]) with G = ceil(K / group); the last group may be
    short. With mn = min(0, group min) and mx = max(0, group max),
    scale = (mx - mn) / 15 rounded to scale_dtype (0 -> max(|mn|, |mx|)
    rounded -> 1), zero = clamp(rint(-mn / scale), 0, 15),
    q = clamp(rint(w / scale) + zero, 0, 15)."""
    w = _f32(w)
    n, k = w.shape
    groups = -(-k // group)
    codes = np.zeros((n, k), np.uint8)
    scales = np.zeros((n, groups), np.float32)
    zeros = np.zeros((n, groups), np.float32)
    for g in range(groups):
        blk = w[:, g * group:min(k, (g + 1) * group)]
        mn = np.minimum(blk.min(axis=1, keepdims=True), np.float32(0))
        mx = np.maximum(blk.max(axis=1, keepdims=True), np.float32(0))
        s = _pick_scale((mx - mn) / np.float32(15),
                        np.maximum(np.abs(mn), np.abs(mx)), scale_dtype)
        z = np.clip(np.rint(-mn / s), np.float32(0), np.float32(15))
        z = z + np.float32(0)  # -0 -> +0, as the packer stores it
        q = np.clip(np.rint(blk / s) + z, np.float32(0), np.float32(15))
        codes[:, g * group:g * group + blk.shape[1]] = q.astype(np.uint8)
        scales[:, g:g + 1] = s
        zeros[:, g:g + 1] = z
    return codes, scales, zeros


def dequantize(codes, scales, zeros=None, group=None):
    """w = (q - zero) * scale in float32, with element k of a row using
    group k // group (group defaults to K: one scale per row)."""
    q = np.asarray(codes).astype(np.float32)
    k = q.shape[1]
    scales = _f32(scales)
    if zeros is None:
        zeros = np.zeros_like(scales)
    group = k if group is None else group
    g = np.arange(k) // group
    return (q - _f32(zeros)[:, g]) * scales[:, g]


def row_bytes(k, bits):
    """Bytes of one data-plane row: alignTo(ceil(K * bits / 8), 16)."""
    return (-(-k * bits // 8) + 15) // 16 * 16


def pack_rows(w, dtype, group=None, scale_dtype=None):
    """Step 3 on a float32 array (after concat and pair_rows): the bytes the
    packer writes. For f32/f16/bf16 returns (data, b""); for "i8"/"i4"
    returns (data_plane, parameter_plane) with data rows row_bytes(K, bits)
    long (padding zero) and [scale, zero] pairs of scale_dtype per group.
    "i8" ignores group (it is K)."""
    w = _f32(w)
    if dtype in ("f32", "f16", "bf16"):
        return encode(w, dtype), b""
    assert w.ndim == 2 and scale_dtype in SCALE_DTYPES
    n, k = w.shape
    if dtype == "i8":
        bits = 8
        codes, scales = quantize_int8_per_channel(w, scale_dtype)
        zeros = np.zeros_like(scales)
        body = codes.view(np.uint8)
    elif dtype == "i4":
        bits = 4
        codes, scales, zeros = quantize_int4_groups(w, group, scale_dtype)
        padded = np.zeros((n, k + (k & 1)), np.uint8)
        padded[:, :k] = codes
        body = padded[:, 0::2] | (padded[:, 1::2] << 4)
    else:
        raise ValueError("unknown dtype %r" % (dtype,))
    rb = row_bytes(k, bits)
    data = np.zeros((n, rb), np.uint8)
    data[:, :body.shape[1]] = body
    params = np.stack([scales, zeros], axis=-1)  # [N, G, 2]
    return data.tobytes(), encode(params.reshape(-1), scale_dtype)


def pack_entry(entry, tensors):
    """All three steps for one recipe entry (a dict as in the model info),
    with tensors {name: float32 ndarray}. Returns (data, params) as
    pack_rows does."""
    w = concat_rows([tensors[s] for s in entry["sources"]])
    if entry.get("pair_rows"):
        w = pair_rows(w, entry["pair_rows"])
    assert list(w.shape) == list(entry["shape"]), entry["param"]
    q = entry.get("quant") or {}
    return pack_rows(w, entry["dtype"], q.get("group"), q.get("scale_dtype"))
