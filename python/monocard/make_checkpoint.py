#!/usr/bin/env python3
"""Command line for checkpoints.py: write one tiny test checkpoint.

Why a separate script: lit and CTest drive it from shell lines, so it must be
runnable by path (`/usr/bin/python3 python/monocard/make_checkpoint.py ...`)
without installing the package.  Prints nothing on success; on bad arguments
prints one line to stderr and exits 2.

    make_checkpoint.py --variant V --dtype {f32,f16,bf16} --out DIR
                       [--seed S] [--shards K] [--broken CASE]
"""

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from monocard import checkpoints  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="make_checkpoint.py",
        description="Write a tiny random Hugging Face checkpoint "
                    "(config.json, safetensors, tokenizer.json).",
        epilog="broken cases: " + "; ".join(
            "%s: %s" % kv for kv in checkpoints.BROKEN.items()))
    p.add_argument("--variant", required=True, choices=list(checkpoints.VARIANTS))
    p.add_argument("--dtype", required=True, choices=list(checkpoints.DTYPES))
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output directory (created; checkpoint files already "
                        "in it are replaced)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shards", type=int, default=1, metavar="K",
                   help="split the weights into K files plus "
                        "model.safetensors.index.json (default 1: one "
                        "model.safetensors)")
    p.add_argument("--broken", choices=list(checkpoints.BROKEN), metavar="CASE",
                   help="write a checkpoint a strict importer must reject: "
                        + ", ".join(checkpoints.BROKEN))
    a = p.parse_args(argv)
    if a.shards < 1:
        p.error("--shards must be >= 1, got %d" % a.shards)
    if a.seed < 0:
        p.error("--seed must be >= 0, got %d" % a.seed)
    try:
        checkpoints.write_checkpoint(a.out, a.variant, a.dtype, a.seed,
                                     a.shards, a.broken)
    except (ValueError, OSError) as e:
        print("make_checkpoint.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
