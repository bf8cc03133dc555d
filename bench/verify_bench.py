#!/usr/bin/env python3
"""Checksum cost on a large .weights file: writes (once) a synthetic
checkpoint of --gb GB of f16 tensors whose recipe copies them unchanged
(so the .weights file is as large), then times `monocard-runtime-test pack`
(which hashes what it wrote, reading it back) and `verify` (a full read and
hash), warm, and cold when the page cache can be dropped (root).

  verify_bench.py --tool build/bin/monocard-runtime-test --dir /tmp/vb \
      [--gb 13]
"""
import argparse, json, os, struct, subprocess, time

ROWS, COLS = 16384, 16384  # 512 MiB of f16 a tensor


def fnv(text):
    h = 0xcbf29ce484222325
    for c in text.encode():
        h = ((h ^ c) * 0x100000001b3) % 2**64
    return h


def make(d, tensors):
    ckpt = os.path.join(d, "ckpt")
    os.makedirs(ckpt, exist_ok=True)
    names = ["t%03d.weight" % i for i in range(tensors)]
    path = os.path.join(ckpt, "model.safetensors")
    nbytes = ROWS * COLS * 2
    if not os.path.exists(path) or os.path.getsize(path) < tensors * nbytes:
        hdr = {n: {"dtype": "F16", "shape": [ROWS, COLS],
                   "data_offsets": [i * nbytes, (i + 1) * nbytes]}
               for i, n in enumerate(names)}
        h = json.dumps(hdr).encode()
        h += b" " * (-len(h) % 8)
        # Random bytes (NaNs included): an f16 -> f16 copy does not care.
        chunk = os.urandom(1 << 26)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            for _ in range(tensors * nbytes // len(chunk)):
                f.write(chunk)
    recipe = [{"param": n, "offset": i * ROWS * COLS * 2, "dtype": "f16",
               "shape": [ROWS, COLS], "sources": [n], "transform": "convert"}
              for i, n in enumerate(names)]
    text = json.dumps(recipe, separators=(",", ":"))
    info = ('{"format":1,"target":"cpu","architecture":"LlamaForCausalLM",'
            '"vocab_size":64,"hidden_size":4096,"num_layers":1,'
            '"num_heads":32,"num_kv_heads":32,"head_dim":128,"max_seq":64,'
            '"prefill_chunk":16,"bos_token_id":1,"eos_token_id":2,'
            '"weights_bytes":%d,"kv_bytes":4096,"arena_bytes":4096,'
            '"fingerprint":"%016x","recipe":%s}'
            % (tensors * nbytes, fnv(text), text))
    with open(os.path.join(d, "info.json"), "w") as f:
        f.write(info)
    return ckpt


def timed(cmd):
    t = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.time() - t, out.stdout.strip()


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tool", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--gb", type=float, default=13)
    a = p.parse_args()
    tensors = max(1, int(a.gb * 1e9 / (ROWS * COLS * 2)))
    ckpt = make(a.dir, tensors)
    info = os.path.join(a.dir, "info.json")
    out = os.path.join(a.dir, "out.weights")
    gb = tensors * ROWS * COLS * 2 / 1e9
    print("checkpoint: %d tensors, %.2f GB" % (tensors, gb))
    s, msg = timed([a.tool, "pack", info, ckpt, out])
    print("pack: %.1f s (%.2f GB/s): %s" % (s, gb / s, msg))
    s, msg = timed([a.tool, "verify", info, out])
    print("verify, warm: %.1f s (%.2f GB/s): %s" % (s, gb / s, msg))
    if drop_caches():
        s, msg = timed([a.tool, "verify", info, out])
        print("verify, cold: %.1f s (%.2f GB/s): %s" % (s, gb / s, msg))
        drop_caches()
        t = time.time()
        subprocess.run(["cat", out], check=True, stdout=subprocess.DEVNULL)
        s = time.time() - t
        print("cat, cold (the disk's speed): %.1f s (%.2f GB/s)" % (s, gb / s))
        s, msg = timed([a.tool, "open", info, out])
        print("open (header checks only): %.3f s" % s)


if __name__ == "__main__":
    main()
