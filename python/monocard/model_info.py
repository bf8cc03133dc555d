"""The model info a compiled Monocard program carries, read from its file.

Why this exists: the benchmark and the quality table want to know what a
program's packed weights hold (dtypes, bytes, the bytes one decode step
reads) without running it; the `monocard_model_info` JSON embedded in every
program (docs/runtime-abi.md) says so, and its recipe follows
docs/packed-weights-format.md.
"""
import json

DTYPE_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i8": 1}


def model_info_of(exe):
    """The monocard_model_info JSON embedded in a compiled program (a
    NUL-terminated object starting {"architecture": ...), or None."""
    try:
        with open(exe, "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The compact form the compiler writes, then any NUL-delimited string
    # holding a "fingerprint" member.
    starts = []
    i = data.find(b'{"architecture":')
    while i >= 0:
        starts.append(i)
        i = data.find(b'{"architecture":', i + 1)
    i = data.find(b'"fingerprint"')
    while i >= 0:
        b = data.find(b"{", data.rfind(b"\0", 0, i) + 1, i)
        if b >= 0:
            starts.append(b)
        i = data.find(b'"fingerprint"', i + 1)
    for i in starts:
        j = data.find(b"\0", i)
        try:
            info = json.loads(data[i:j if j >= 0 else len(data)]
                              .decode("utf-8"))
        except ValueError:
            continue
        if isinstance(info, dict) and "recipe" in info:
            return info
    return None


def entry_bytes(e):
    """Packed bytes of one recipe entry (docs/packed-weights-format.md)."""
    n = 1
    for d in e["shape"]:
        n *= d
    q = e.get("quant")
    if e["dtype"] in ("i8", "i4") and q:
        rows = e["shape"][0] if len(e["shape"]) > 1 else 1
        k = n // rows
        groups = -(-k // q.get("group", k))
        sb = DTYPE_BYTES.get(q.get("scale_dtype", "f16"), 2)
        return rows * q["row_bytes"] + rows * groups * 2 * sb
    if e["dtype"] == "i4":
        return (n + 1) // 2
    return n * DTYPE_BYTES.get(e["dtype"], 2)


def quantized_bits(info):
    """Bits per element over the quantized (i8/i4) recipe entries, scales
    and row padding included; None when nothing is quantized."""
    if not info:
        return None
    q = [e for e in info.get("recipe", []) if e["dtype"] in ("i8", "i4")]
    n = 0
    for e in q:
        k = 1
        for d in e["shape"]:
            k *= d
        n += k
    return 8.0 * sum(entry_bytes(e) for e in q) / n if n else None


def weights_summary(info):
    """What a program's packed weights hold: weights_bytes, elements per
    dtype, and the bytes one decode step reads (each tensor once; the
    embedding table one row when lm_head is a tensor of its own)."""
    if not info:
        return None
    rec = info.get("recipe", [])
    params = {e["param"] for e in rec}
    by, read = {}, 0
    for e in rec:
        n = 1
        for d in e["shape"]:
            n *= d
        by[e["dtype"]] = by.get(e["dtype"], 0) + n
        b = entry_bytes(e)
        if (e["param"] == "model.embed_tokens.weight"
                and "lm_head.weight" in params and len(e["shape"]) == 2):
            b = b // e["shape"][0]
        read += b
    return {"weights_bytes": info.get("weights_bytes"),
            "elements_by_dtype": by, "bytes_read_per_token": read,
            "recipe_dtypes": sorted({(e["param"].split(".")[-2]
                                      if "." in e["param"] else e["param"],
                                      e["dtype"]) for e in rec})}
