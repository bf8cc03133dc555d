#!/usr/bin/env python3
"""Packer throughput on a synthetic Llama-2-7B-layer-shaped checkpoint.

Writes (once) DIR/ckpt with --layers copies of four 11008x4096 f16
tensors (gate, up, down^T, extra: 180 M elements, 360 MB a layer) and a
model info whose recipe packs each as a real layer would: gate/up
concatenated with pair_rows to i4/g128, down to i4/g128, and gate, up,
extra to i8 (f16 scales): 271 M elements of f16 read a layer. Then times
`monocard-runtime-test pack` with MONOCARD_PACK_THREADS=1, 2, ... and
prints f16-input elements/s, per thread too.

  pack_bench.py --tool build/bin/monocard-runtime-test --dir /tmp/packbench \
      [--layers 1] [--threads 1,2] [--repeat 2] [--check-same]

--check-same compares the .weights files of the thread counts byte for
byte. The checkpoint's pages stay in the page cache after the first run,
so numbers are packer speed, not disk speed (run once first to warm).
"""
import argparse, filecmp, json, os, resource, subprocess, sys, time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
from monocard import safetensors_io as st  # noqa: E402

N, K = 11008, 4096
NAMES = ["gate.weight", "up.weight", "down.weight", "extra.weight"]


def align(v, n):
    return (v + n - 1) // n * n


def names(layers):
    return [["l%d.%s" % (l, n) for n in NAMES] for l in range(layers)]


def make_ckpt(d, layers):
    stamp = os.path.join(d, "layers")
    if os.path.exists(stamp) and open(stamp).read() == str(layers):
        return
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    base = [(rng.standard_normal((N, K), dtype=np.float32) * 0.02)
            .astype(np.float16) for _ in NAMES]
    ts = {}
    for layer in names(layers):  # same values in every layer: cheap to make
        for n, v in zip(layer, base):
            ts[n] = ("F16", v)
    st.save_checkpoint(ts, d, shards=max(1, layers // 2))
    with open(stamp, "w") as f:
        f.write(str(layers))


def recipe_info(layers):
    entries = []
    for l, ns in enumerate(names(layers)):
        entries += [
            ("%d.gate_up.i4" % l, ns[:2], [2 * N, K], 4, 128,
             [0, 2 * N, 2 * N]),
            ("%d.down.i4" % l, [ns[2]], [N, K], 4, 128, None),
            ("%d.gate.i8" % l, [ns[0]], [N, K], 8, K, None),
            ("%d.up.i8" % l, [ns[1]], [N, K], 8, K, None),
            ("%d.extra.i8" % l, [ns[3]], [N, K], 8, K, None),
        ]
    recipe, off = [], 0
    for param, src, shape, bits, group, pairs in entries:
        rb = align((shape[1] * bits + 7) // 8, 16)
        e = {"param": param, "offset": off, "dtype": "i%d" % bits,
             "shape": shape, "sources": src, "transform": "quantize",
             "quant": {"bits": bits, "group": group, "scale_dtype": "f16",
                       "row_bytes": rb}}
        if pairs:
            e["pair_rows"] = pairs
        off = align(off + shape[0] * rb, 64)
        recipe.append(e)
    for e in recipe:
        q = e["quant"]
        q["scales_offset"] = off
        off = align(off + e["shape"][0] * -(-K // q["group"]) * 2 * 2, 64)
    text = json.dumps(recipe, separators=(",", ":"))
    h = 0xcbf29ce484222325
    for c in text.encode():
        h = ((h ^ c) * 0x100000001b3) % 2**64
    info = ('{"format":1,"target":"cpu","architecture":"LlamaForCausalLM",'
            '"vocab_size":64,"hidden_size":4096,"num_layers":1,'
            '"num_heads":32,"num_kv_heads":32,"head_dim":128,"max_seq":64,'
            '"prefill_chunk":16,"bos_token_id":1,"eos_token_id":2,'
            '"weights_bytes":%d,"kv_bytes":4096,"arena_bytes":4096,'
            '"fingerprint":"%016x","recipe":%s}' % (off, h, text))
    elems = sum(e["shape"][0] * e["shape"][1] for e in recipe)
    return info, elems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tool", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--check-same", action="store_true")
    p.add_argument("--layers", type=int, default=1,
                   help="copies of the four tensors (360 MB of f16 each)")
    p.add_argument("--keep", action="store_true",
                   help="keep the .weights files (default: only with "
                        "--check-same)")
    a = p.parse_args()
    ckpt = os.path.join(a.dir, "ckpt")
    make_ckpt(ckpt, a.layers)
    info, elems = recipe_info(a.layers)
    info_path = os.path.join(a.dir, "info.json")
    with open(info_path, "w") as f:
        f.write(info)
    outs = []
    for t in [int(x) for x in a.threads.split(",")]:
        env = dict(os.environ, MONOCARD_PACK_THREADS=str(t))
        out = os.path.join(a.dir, "t%d.weights" % t)
        best = cpu = None
        for _ in range(a.repeat):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([a.tool, "pack", info_path, ckpt, out], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            dt = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            c = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            if best is None or dt < best:
                best, cpu = dt, c
        rate = elems / best
        print("threads=%d: %.2f s (cpu %.2f s) for %.0f M elements: "
              "%.1f M elem/s, %.1f M elem/s/thread, %.0f M elem per cpu-s, "
              "%.2f GB/s f16 in"
              % (t, best, cpu, elems / 1e6, rate / 1e6, rate / t / 1e6,
                 elems / cpu / 1e6, rate * 2 / 1e9), flush=True)
        outs.append(out)
    if a.check_same:
        for o in outs[1:]:
            same = filecmp.cmp(outs[0], o, shallow=False)
            print("%s %s %s" % (os.path.basename(o),
                                "==" if same else "!=",
                                os.path.basename(outs[0])))
            if not same:
                sys.exit(1)
    if not (a.keep or a.check_same):
        for o in outs:
            os.unlink(o)


if __name__ == "__main__":
    main()
