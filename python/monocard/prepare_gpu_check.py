#!/usr/bin/env python3
"""Compile the GPU correctness check's programs here, for gpu_check.py there.

Why this exists: the GPU machine has no MLIR, so the programs gpu_check.py
tests are compiled on this machine.  The compiler reads only config.json and
the safetensors *headers*; the program's `--pack` later resolves tensors by
name.  So each case is compiled from a stand-in checkpoint written by
checkpoints.py (the same names, shapes and dtype that transformers'
save_pretrained writes -- gpu_check.py verifies that on the device), and the
device packs the checkpoint transformers wrote there.

For each case (VARIANTS x DTYPES of gpu_check.py: Llama GQA, Llama-3 rope
scaling, Qwen2 with qkv bias and tied embeddings, Mistral; f32, f16, bf16;
plus its EXTRA_CASES, which bring their own prompt length, --max-seq and
--prefill-chunk) it writes into the carry directory (default .devbin/gpu-check, gitignored):

    <case>/model              the compiled program (no weights: packed there)
    <case>/config.json        the config it was compiled from
    <case>/tokenizer.json     + tokenizer_config.json, packed with the weights
    manifest.json             cases, target, compiler, commit, commands

    python/monocard/prepare_gpu_check.py --compiler build/bin/monocard-compile
        [--target cuda] [--out .devbin/gpu-check] [--cases a,b]
        [--dtype-mode weights|f32] [-- EXTRA COMPILER ARGS]

--dtype-mode: what --dtype the compiler gets.  `weights` (default for
--target=cuda) compiles each case in its checkpoint's dtype; `f32` (default
for --target=cpu, the only one the CPU target computes in) always f32.
Prints one line per case and the total size; exits 1 on a compile failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from monocard import checkpoints  # noqa: E402
from monocard import gpu_check  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
MAX_SEQ = 128        # prompt (12) + 32 steps fit with room to spare
PREFILL_CHUNK = 8    # 12-token prompt: two prefill chunks, one partial
CARRY_LIMIT = 40 << 20


def git_commit():
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"],
                           capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True, timeout=30).stdout.strip()
        return r.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(path) for f in files)


def main(argv=None):
    p = argparse.ArgumentParser(prog="prepare_gpu_check.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("--compiler", default=os.path.join(
        REPO, "build", "bin", "monocard-compile"))
    p.add_argument("--target", default="cuda")
    p.add_argument("--out", default=os.path.join(REPO, ".devbin", "gpu-check"))
    p.add_argument("--cases", default=None,
                   help="comma-separated subset of: " +
                   ", ".join(gpu_check.all_cases()))
    p.add_argument("--dtype-mode", choices=("weights", "f32"), default=None)
    p.add_argument("--max-seq", type=int, default=MAX_SEQ)
    p.add_argument("--prefill-chunk", type=int, default=PREFILL_CHUNK)
    p.add_argument("--commit", default=None, help="source commit to record "
                   "(default: this checkout's HEAD, -dirty if modified)")
    p.add_argument("extra", nargs="*", help="more compiler arguments "
                   "(after --), e.g. --cpu x86-64-v3 for a CPU dry run")
    a = p.parse_args(argv)
    mode = a.dtype_mode or ("f32" if a.target == "cpu" else "weights")
    names = a.cases.split(",") if a.cases else gpu_check.all_cases()
    bad = [n for n in names if n not in gpu_check.all_cases()]
    if bad:
        p.error("unknown case(s) %s" % bad)
    if not os.access(a.compiler, os.X_OK):
        p.error("no compiler at %s (build it, or pass --compiler)"
                % a.compiler)
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    manifest = {"compiler": os.path.relpath(os.path.abspath(a.compiler),
                                            REPO),
                "target": a.target, "dtype_mode": mode,
                "git_commit": a.commit or git_commit(),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "max_seq": a.max_seq, "prefill_chunk": a.prefill_chunk,
                "prompt": gpu_check.PROMPT, "cases": {}}
    failed = 0
    with tempfile.TemporaryDirectory(prefix="gpu-check-standin.") as tmp:
        for name in names:
            variant, dtype, quant = gpu_check.split_case(name)
            src = os.path.join(tmp, name)
            checkpoints.write_checkpoint(src, variant, dtype,
                                         seed=gpu_check.SEED)
            dst = os.path.join(a.out, name)
            os.makedirs(dst)
            exe = os.path.join(dst, "model")
            cdtype = dtype if mode == "weights" else "f32"
            extra = gpu_check.EXTRA_CASES.get(name, {})
            max_seq = extra.get("max_seq", a.max_seq)
            chunk = extra.get("prefill_chunk", a.prefill_chunk)
            cmd = [a.compiler, src, "--target=" + a.target,
                   "--max-seq", str(max_seq),
                   "--prefill-chunk", str(chunk),
                   "--dtype", cdtype, "-o", exe] + a.extra
            if quant:
                cmd += ["--quant=" + quant,
                        "--group=%d" % gpu_check.QUANT_GROUP]
            t0 = time.time()
            r = subprocess.run(cmd, capture_output=True, text=True)
            secs = time.time() - t0
            if r.returncode:
                failed += 1
                print("%-18s FAIL (exit %d): %s" % (
                    name, r.returncode, r.stderr.strip()[-800:]))
                continue
            # The stand-in's packed weights are not wanted: the device
            # packs the checkpoint transformers writes.
            for f in os.listdir(dst):
                if f != "model":
                    os.remove(os.path.join(dst, f))
            for f in ("config.json", "tokenizer.json",
                      "tokenizer_config.json"):
                shutil.copy(os.path.join(src, f), dst)
            with open(os.path.join(src, "config.json")) as f:
                arch = json.load(f)["architectures"][0]
            manifest["cases"][name] = {
                "variant": variant, "dtype": dtype, "seed": gpu_check.SEED,
                "quant": quant,
                "architecture": arch, "compute_dtype": cdtype,
                "exe_bytes": os.path.getsize(exe),
                "compile_seconds": round(secs, 2),
                "command": " ".join(os.path.relpath(c, REPO)
                                    if c in (a.compiler,) else c
                                    for c in cmd),
                "compiler_stderr": r.stderr.strip()[-1000:]}
            if extra:
                manifest["cases"][name].update(
                    prompt=gpu_check.case_prompt(name),
                    steps=extra.get("steps", gpu_check.STEPS),
                    max_seq=max_seq, prefill_chunk=chunk)
            print("%-18s ok  %.1f s, %d KiB" % (name, secs,
                                                os.path.getsize(exe) >> 10))
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = dir_bytes(a.out)
    print("wrote %s: %d cases, %.1f MiB%s" % (
        os.path.relpath(a.out, REPO), len(manifest["cases"]), total / 2**20,
        "" if total <= CARRY_LIMIT else
        " -- over the %d MiB budget for carried files" % (CARRY_LIMIT >> 20)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
