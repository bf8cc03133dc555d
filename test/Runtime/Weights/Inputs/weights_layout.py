"""The .weights file's layout (docs/packed-weights-format.md), written
independently of the C++ for the tests: the header and the checksum table.
"""
import struct

HEADER = struct.Struct("<9Q")  # after the 16-byte magic
FIELDS = ("version", "fingerprint", "data_offset", "data_bytes",
          "tokenizer_offset", "tokenizer_bytes", "block_bytes",
          "table_offset", "checksum")
M = (1 << 64) - 1
P1, P2 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F
P3, P4 = 0x165667B19E3779F9, 0x85EBCA77C2B2AE63


def header(raw):
    assert raw[:16] == b"MONOCARD-WEIGHTS", "magic"
    return dict(zip(FIELDS, HEADER.unpack(raw[16:16 + HEADER.size])))


def _rotl(v, r):
    return ((v << r) | (v >> (64 - r))) & M


def _round(acc, x):
    return _rotl((acc + x * P2) & M, 31) * P1 & M


def _fold(h, x):
    return (_rotl(h ^ _round(0, x), 27) * P1 + P4) & M


def _avalanche(h):
    h ^= h >> 33
    h = h * P2 & M
    h ^= h >> 29
    h = h * P3 & M
    return h ^ (h >> 32)


def block_hash(b, index):
    """XXH64-style: four lanes over 32-byte stripes, then the words and the
    zero-padded tail, then the length."""
    n = len(b)
    words = struct.unpack("<%dQ" % (n // 8), b[:n // 8 * 8])
    v = [(index + P1 + P2) & M, (index + P2) & M, index, (index - P1) & M]
    stripes = n // 32
    for i in range(stripes):
        for lane in range(4):
            v[lane] = _round(v[lane], words[4 * i + lane])
    h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) +
         _rotl(v[3], 18)) & M
    for lane in range(4):
        h = ((h ^ _round(0, v[lane])) * P1 + P4) & M
    for w in words[4 * stripes:]:
        h = _fold(h, w)
    if n % 8:
        h = _fold(h, struct.unpack("<Q", b[n // 8 * 8:].ljust(8, b"\0"))[0])
    return _avalanche((h + n) & M)


def check(raw):
    """Asserts the checksum fields and table; returns the header."""
    h = header(raw)
    assert h["block_bytes"] == 1 << 20, "block_bytes"
    begin, end = h["data_offset"], h["table_offset"]
    assert end == (h["tokenizer_offset"] + h["tokenizer_bytes"] + 63) // 64 * 64
    blocks = [block_hash(raw[a:min(a + (1 << 20), end)], i)
              for i, a in enumerate(range(begin, end, 1 << 20))]
    table = struct.unpack("<%dQ" % len(blocks), raw[end:])
    assert list(table) == blocks, "checksum table"
    c = P3
    for b in blocks:
        c = _fold(c, b)
    assert _avalanche((c + end - begin) & M) == h["checksum"], "checksum"
    assert raw[end - (end - h["tokenizer_offset"] - h["tokenizer_bytes"]):end] \
        == bytes(end - h["tokenizer_offset"] - h["tokenizer_bytes"]), "padding"
    return h
