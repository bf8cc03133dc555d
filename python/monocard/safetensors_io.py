"""Read and write safetensors files with numpy only.

Why this exists: the test checkpoints, the numpy reference model and the
importer tests must not depend on torch or the `safetensors` package, and the
C++ importer needs a second, independent reader of the same format to be
checked against.  The reader here is *strict*: it rejects everything the
Rust `safetensors` crate rejects (bad header length, non-JSON header, unknown
dtype, a size that does not match the shape, offsets past the end, overlaps,
holes), each with a one-line message.

Format (https://github.com/huggingface/safetensors):
    u64 LE  N                 header length in bytes
    N bytes JSON header       {"__metadata__": {str: str},
                               name: {"dtype": "F32", "shape": [..],
                                      "data_offsets": [begin, end]}, ...}
    data                      offsets are relative to the start of data
The writer pads the header with spaces to a multiple of 8 (as the Rust crate
does) and lays tensors out back to back in the order given.

BF16 has no numpy dtype: it is handled as uint16 bit patterns (the top half
of an IEEE f32).  `f32_to_bf16_bits` rounds to nearest even (what torch's
`.to(torch.bfloat16)` does); `bf16_bits_to_f32` is an exact 16-bit shift.
"""

import json
import os

import numpy as np

# safetensors dtype name -> (numpy dtype of the stored bits, bytes per element)
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_NUMPY_TO_ST = {np.dtype("float64"): "F64", np.dtype("float32"): "F32",
                np.dtype("float16"): "F16", np.dtype("int64"): "I64",
                np.dtype("int32"): "I32", np.dtype("int16"): "I16",
                np.dtype("int8"): "I8", np.dtype("uint8"): "U8",
                np.dtype("bool"): "BOOL"}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the Rust crate's limit
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"


class SafetensorsError(ValueError):
    """A safetensors file or checkpoint directory is malformed."""


def f32_to_bf16_bits(x):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even.
    NaNs stay (quiet) NaNs; values that round past the max become inf."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.astype(np.float32, order="C").view(np.uint32)
    wide = bits.astype(np.uint64)
    rounded = ((wide + 0x7FFF + ((wide >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded = np.where(nan, ((bits >> 16) | 0x0040).astype(np.uint16),
                           rounded)
    return rounded


def bf16_bits_to_f32(bits):
    """uint16 bf16 bit patterns -> float32 (exact)."""
    b = np.asarray(bits, dtype=np.uint16)
    return (b.astype(np.uint32, order="C") << 16).view(np.float32)


def _as_entry(value):
    """Accepts an ndarray (dtype inferred) or (st_dtype, raw ndarray).
    Returns (st_dtype, little-endian contiguous ndarray of the stored bits)."""
    if isinstance(value, tuple):
        st, arr = value
        if st not in DTYPES:
            raise SafetensorsError("unknown safetensors dtype %r" % (st,))
        arr = np.asarray(arr)
        if st == "BF16" and arr.dtype != np.uint16:
            arr = f32_to_bf16_bits(arr.astype(np.float32))
    else:
        arr = np.asarray(value)
        st = _NUMPY_TO_ST.get(arr.dtype.newbyteorder("="))
        if st is None:
            raise SafetensorsError("no safetensors dtype for numpy %s" % arr.dtype)
    arr = arr.astype(DTYPES[st].newbyteorder("<"), order="C", copy=False)
    return st, arr


def encode(tensors, metadata=None):
    """Serialise {name: ndarray | (dtype, ndarray)} to safetensors bytes,
    tensors in the given order.  Used by save_file and by tests that need to
    corrupt the bytes before writing them."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, value in tensors.items():
        st, arr = _as_entry(value)
        raw = arr.tobytes()
        header[name] = {"dtype": st, "shape": [int(d) for d in arr.shape],
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    return len(hjson).to_bytes(8, "little") + hjson + b"".join(blobs)


def save_file(tensors, path, metadata=None):
    """Write {name: ndarray | (dtype, ndarray)} as one safetensors file."""
    with open(path, "wb") as f:
        f.write(encode(tensors, metadata))


def read_header(path):
    """Parse and validate a safetensors header without reading tensor data.

    Returns (entries, metadata, data_start) where entries is
    {name: {"dtype", "shape", "data_offsets"}} in file order.  Raises
    SafetensorsError naming the file and the problem."""
    def bad(msg):
        raise SafetensorsError("%s: %s" % (path, msg))
    size = os.path.getsize(path)
    if size < 8:
        bad("file is %d bytes, shorter than the 8-byte header length" % size)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > MAX_HEADER_BYTES:
            bad("declared header length %d is implausibly large" % n)
        if 8 + n > size:
            bad("declared header length %d exceeds the file (%d bytes after "
                "the length prefix)" % (n, size - 8))
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        bad("header is not valid JSON (%s)" % e)
    if not isinstance(header, dict):
        bad("header is not a JSON object")
    data_size = size - 8 - n
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in metadata.items()):
        bad("__metadata__ must map strings to strings")
    spans = []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape",
                                                 "data_offsets"}:
            bad("tensor %r: entry must have exactly dtype, shape, "
                "data_offsets" % name)
        dt, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dt not in DTYPES:
            bad("tensor %r: unknown dtype %r" % (name, dt))
        if not isinstance(shape, list) or not all(
                type(d) is int and d >= 0 for d in shape):
            bad("tensor %r: shape %r is not a list of non-negative "
                "integers" % (name, shape))
        if not (isinstance(offs, list) and len(offs) == 2 and all(
                type(o) is int and o >= 0 for o in offs) and offs[0] <= offs[1]):
            bad("tensor %r: bad data_offsets %r" % (name, offs))
        want = int(np.prod(shape, dtype=np.int64)) * DTYPES[dt].itemsize
        if offs[1] - offs[0] != want:
            bad("tensor %r: data_offsets %r hold %d bytes but %s%s needs %d"
                % (name, offs, offs[1] - offs[0], dt, shape, want))
        if offs[1] > data_size:
            bad("tensor %r: data_offsets %r run past the end of the data "
                "(%d bytes)" % (name, offs, data_size))
        spans.append((offs[0], offs[1], name))
    spans.sort()
    pos, prev = 0, None
    for b, e, name in spans:
        if b < pos:
            bad("tensors %r and %r overlap" % (prev, name))
        if b > pos:
            bad("hole in the data before tensor %r (bytes %d..%d unused)"
                % (name, pos, b))
        pos, prev = e, name
    if pos != data_size:
        bad("%d trailing bytes after the last tensor" % (data_size - pos))
    return header, metadata, 8 + n


def load_file(path, names=None, upcast=True):
    """Read tensors from one file: {name: ndarray}.  With upcast, F16 and
    BF16 come back as float32; otherwise BF16 comes back as uint16 bits."""
    entries, _, start = read_header(path)
    out = {}
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    for name in (entries if names is None else names):
        if name not in entries:
            raise SafetensorsError("%s: no tensor %r" % (path, name))
        e = entries[name]
        b, end = e["data_offsets"]
        arr = np.frombuffer(mm[start + b:start + end].tobytes(),
                            dtype=DTYPES[e["dtype"]]).reshape(tuple(e["shape"]))
        if upcast and e["dtype"] == "BF16":
            arr = bf16_bits_to_f32(arr).reshape(tuple(e["shape"]))
        elif upcast and e["dtype"] == "F16":
            arr = arr.astype(np.float32)
        out[name] = arr
    del mm
    return out


def shard_name(i, k):
    """HF's shard file name, 1-based: model-00001-of-00003.safetensors."""
    return "model-%05d-of-%05d.safetensors" % (i + 1, k)


def save_checkpoint(tensors, out_dir, shards=1, metadata=None):
    """Write model.safetensors, or `shards` files plus the index
    {"metadata": {"total_size": bytes}, "weight_map": {name: file}}.
    Tensors are split into contiguous groups of about equal bytes.
    Returns the list of file names written (index last)."""
    if metadata is None:
        metadata = {"format": "pt"}
    items = [(n, _as_entry(v)) for n, v in tensors.items()]
    if shards <= 1:
        save_file(dict(items), os.path.join(out_dir, SINGLE_NAME), metadata)
        return [SINGLE_NAME]
    if shards > len(items):
        raise SafetensorsError("cannot split %d tensors into %d shards"
                               % (len(items), shards))
    total = sum(a.nbytes for _, (_, a) in items)
    groups, cur = [[]], 0
    for i, (name, entry) in enumerate(items):
        to_open = shards - len(groups)
        if groups[-1] and to_open > 0 and (
                len(items) - i <= to_open or cur * shards >= total):
            groups.append([])
            cur = 0
        groups[-1].append((name, entry))
        cur += entry[1].nbytes
    weight_map, files = {}, []
    for i, group in enumerate(groups):
        fname = shard_name(i, shards)
        save_file(dict(group), os.path.join(out_dir, fname), metadata)
        files.append(fname)
        weight_map.update({name: fname for name, _ in group})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(out_dir, INDEX_NAME), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return files + [INDEX_NAME]


def checkpoint_files(model_dir):
    """{tensor name: file path} for a checkpoint directory, from the index
    if there is one, else from model.safetensors.  Validates the index: every
    file it names exists and holds exactly the tensors mapped to it, and
    total_size (if present) matches."""
    ipath = os.path.join(model_dir, INDEX_NAME)
    if not os.path.exists(ipath):
        single = os.path.join(model_dir, SINGLE_NAME)
        if not os.path.exists(single):
            raise SafetensorsError("%s: neither %s nor %s found"
                                   % (model_dir, SINGLE_NAME, INDEX_NAME))
        entries, _, _ = read_header(single)
        return {name: single for name in entries}
    try:
        with open(ipath) as f:
            index = json.load(f)
    except ValueError as e:
        raise SafetensorsError("%s: not valid JSON (%s)" % (ipath, e))
    wm = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wm, dict) or not all(isinstance(v, str)
                                           for v in wm.values()):
        raise SafetensorsError("%s: missing or bad weight_map" % ipath)
    by_file = {}
    for name, fname in wm.items():
        by_file.setdefault(fname, set()).add(name)
    for fname in sorted(by_file):
        if (os.path.basename(fname) != fname or
                not os.path.isfile(os.path.join(model_dir, fname))):
            raise SafetensorsError("%s: weight_map names shard %r, which does "
                                   "not exist" % (ipath, fname))
    total, out = 0, {}
    for fname, names in sorted(by_file.items()):
        path = os.path.join(model_dir, fname)
        entries, _, _ = read_header(path)
        if set(entries) != names:
            diff = sorted(names.symmetric_difference(entries))
            raise SafetensorsError("%s: weight_map disagrees with %s about "
                                   "tensor(s) %s" % (ipath, fname, diff[:3]))
        for name, e in entries.items():
            total += e["data_offsets"][1] - e["data_offsets"][0]
            out[name] = path
    ts = (index.get("metadata") or {}).get("total_size")
    if ts is not None and ts != total:
        raise SafetensorsError("%s: total_size %r but the shards hold %d "
                               "tensor bytes" % (ipath, ts, total))
    return out


def load_checkpoint(model_dir, upcast=True):
    """All tensors of a (possibly sharded) checkpoint: {name: ndarray}."""
    files = checkpoint_files(model_dir)
    out = {}
    for path in sorted(set(files.values())):
        out.update(load_file(path, [n for n, p in files.items() if p == path],
                             upcast))
    return out


def checkpoint_headers(model_dir):
    """{tensor name: (dtype, shape)} for a checkpoint, headers only."""
    out = {}
    for path in sorted(set(checkpoint_files(model_dir).values())):
        entries, _, _ = read_header(path)
        out.update({n: (e["dtype"], tuple(e["shape"]))
                    for n, e in entries.items()})
    return out
