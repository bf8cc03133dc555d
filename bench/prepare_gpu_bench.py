#!/usr/bin/python3
"""Compile the GPU benchmark's programs here, for bench/gpu_bench.py there.

Why this exists: the GPU machine has no MLIR, and the benchmark's
checkpoints (13.5 GB and 2.5 GB of fp16) are generated there, not here.
The compiler reads only config.json and the safetensors *headers*, so each
model is compiled from a stand-in: the real config.json and a SPARSE
model.safetensors (a valid header with the exact tensor names, shapes and
F16 dtype; the data region made with truncate(), so it costs no disk).
To keep the compiler from packing the stand-in's (zero) weights -- it packs
whenever its input is a directory -- the program is compiled in two steps:
`--emit=tfm` to a .mlir file, then that file to the executable.

Models (both LlamaForCausalLM, fp16 weights, batch 1):
  llama2-7b    hidden 4096, 32 layers, 32 heads (MHA), ffn 11008, vocab
               32000, rope_theta 10000, untied lm_head (as Llama-2-7B)
  llama3.2-1b  hidden 2048, 16 layers, 32 heads, 8 kv heads, ffn 8192,
               vocab 128256, head_dim 64, rope_theta 500000, llama3
               rope_scaling (factor 32, low 1, high 4, original 8192) and
               TIED embeddings (as the real Llama-3.2-1B: lm_head is the
               embedding matrix, read in full every token)
  tiny         a 2-layer stand-in for dry runs (GQA, llama3 rope)

Variants (--variants, for the models in --variant-models, default
llama2-7b): the same model compiled again with more compiler flags, each a
program of its own beside `model`:
  int8        model-int8         --quant=int8 (per output channel)
  int4        model-int4         --quant=int4 --group=128
  f16-nofuse  model-f16-nofuse   --no-fuse (the kernel count before fusion)
The flags go to the second step (the .mlir to the program: the packing
recipe is made there); if that fails they are tried on both steps.  A
variant that does not compile (e.g. a compiler without --quant) is recorded
in the manifest with its error and the rest goes on.

For every program the manifest also records what its packed weights hold
(from the model info embedded in it): bytes, elements per dtype and the
weight bytes a decode step reads (every tensor once, an untied embedding
table one row), which gpu_bench.py uses for each row's own roofline.

Writes into --out (default .devbin/gpu-bench, gitignored):
    <model>/model, <model>/model-<variant>, <model>/config.json,
    manifest.json

    bench/prepare_gpu_bench.py --compiler build/bin/monocard-compile
        [--target cuda] [--models llama2-7b,llama3.2-1b] [--max-seq 1024]
        [--dtype-mode weights|f32] [--variants int8,int4,f16-nofuse]
        [--variant-models llama2-7b] [-- EXTRA COMPILER ARGS]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
from monocard import hf_model  # noqa: E402
from monocard.model_info import model_info_of, weights_summary  # noqa: E402,F401

_COMMON = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
           "hidden_act": "silu", "initializer_range": 0.02,
           "attention_bias": False, "attention_dropout": 0.0,
           "mlp_bias": False, "pretraining_tp": 1, "use_cache": True,
           "torch_dtype": "float16"}
MODELS = {
    "llama2-7b": dict(_COMMON, hidden_size=4096, intermediate_size=11008,
                      num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, head_dim=128, vocab_size=32000,
                      max_position_embeddings=4096, rms_norm_eps=1e-5,
                      rope_theta=10000.0, rope_scaling=None,
                      tie_word_embeddings=False, bos_token_id=1,
                      eos_token_id=2),
    "llama3.2-1b": dict(_COMMON, hidden_size=2048, intermediate_size=8192,
                        num_hidden_layers=16, num_attention_heads=32,
                        num_key_value_heads=8, head_dim=64, vocab_size=128256,
                        max_position_embeddings=131072, rms_norm_eps=1e-5,
                        rope_theta=500000.0,
                        rope_scaling={"factor": 32.0, "high_freq_factor": 4.0,
                                      "low_freq_factor": 1.0,
                                      "original_max_position_embeddings": 8192,
                                      "rope_type": "llama3"},
                        tie_word_embeddings=True, bos_token_id=128000,
                        eos_token_id=128001),
    "tiny": dict(_COMMON, hidden_size=256, intermediate_size=688,
                 num_hidden_layers=2, num_attention_heads=8,
                 num_key_value_heads=4, head_dim=32, vocab_size=1024,
                 max_position_embeddings=4096, rms_norm_eps=1e-5,
                 rope_theta=500000.0,
                 rope_scaling={"factor": 8.0, "high_freq_factor": 4.0,
                               "low_freq_factor": 1.0,
                               "original_max_position_embeddings": 256,
                               "rope_type": "llama3"},
                 tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
}
DEFAULT_MODELS = ("llama2-7b", "llama3.2-1b")
MAX_SEQ = 1024
# variant -> compiler flags (docstring)
VARIANTS = {"int8": ["--quant=int8"],
            "int4": ["--quant=int4", "--group=128"],
            "f16-nofuse": ["--no-fuse"]}
DEFAULT_VARIANTS = "int8,int4,f16-nofuse"
DEFAULT_VARIANT_MODELS = "llama2-7b"
def compile_program(compiler, src, mlir, exe, common, extra, max_seq,
                    both=False):
    """The two-step compile; extra flags on the second step (and the first
    when both).  Returns (returncode, stderr, commands)."""
    cmds = [[compiler, src, "--emit=tfm", "--max-seq", str(max_seq),
             "-o", mlir] + common + (extra if both else []),
            [compiler, mlir, "-o", exe] + common + extra]
    err, rc = "", 0
    for cmd in cmds:
        r = subprocess.run(cmd, capture_output=True, text=True)
        err += r.stderr
        rc = r.returncode
        if rc:
            break
    return rc, err, cmds



def tensor_specs(cfg):
    """[(name, shape)] in the order HF's save_pretrained sorts them."""
    return sorted(hf_model.expected_tensors(hf_model.parse_config(cfg)).items())


def write_sparse_safetensors(path, specs, st_dtype="F16", itemsize=2):
    """A valid safetensors file whose data region is a hole (truncate)."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in specs:
        n = itemsize
        for d in shape:
            n *= d
        header[name] = {"dtype": st_dtype, "shape": list(shape),
                        "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h)
        f.truncate(8 + len(h) + off)
    return off


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compiler", default=os.path.join(REPO, "build", "bin",
                                                       "monocard-compile"))
    ap.add_argument("--target", default="cuda")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--out", default=os.path.join(REPO, ".devbin", "gpu-bench"))
    ap.add_argument("--max-seq", type=int, default=MAX_SEQ)
    ap.add_argument("--prefill-chunk", type=int, default=None,
                    help="passed to the compiler if given")
    ap.add_argument("--dtype-mode", choices=("weights", "f32"), default=None,
                    help="compiler --dtype: f16 (weights; default for cuda) "
                    "or f32 (default for --target=cpu)")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS,
                    help="comma-separated, '' for none: " + ", ".join(VARIANTS))
    ap.add_argument("--variant-models", default=DEFAULT_VARIANT_MODELS,
                    help="models that get the variants (default llama2-7b)")
    ap.add_argument("extra", nargs="*", help="more compiler arguments (after --)")
    a = ap.parse_args(argv)
    names = a.models.split(",")
    bad = [m for m in names if m not in MODELS]
    if bad:
        ap.error("unknown model(s) %s" % bad)
    variants = [v for v in a.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        ap.error("unknown variant(s) %s" % bad)
    vmodels = set(m for m in a.variant_models.split(",") if m)
    if not os.access(a.compiler, os.X_OK):
        ap.error("no compiler at %s (build it, or pass --compiler)" % a.compiler)
    mode = a.dtype_mode or ("f32" if a.target == "cpu" else "weights")
    cdtype = "f16" if mode == "weights" else "f32"
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    rel = lambda p: os.path.relpath(p, REPO)
    manifest = {"target": a.target, "compute_dtype": cdtype,
                "max_seq": a.max_seq, "compiler": rel(os.path.abspath(a.compiler)),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"), "models": {}}
    try:
        manifest["git_commit"] = subprocess.run(
            ["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
            text=True).stdout.strip()
    except OSError:
        pass
    failed = 0
    with tempfile.TemporaryDirectory(prefix="gpu-bench-standin.") as tmp:
        for name in names:
            cfg = MODELS[name]
            src = os.path.join(tmp, name)
            os.makedirs(src)
            with open(os.path.join(src, "config.json"), "w") as f:
                json.dump(cfg, f, indent=2)
            data = write_sparse_safetensors(
                os.path.join(src, "model.safetensors"), tensor_specs(cfg))
            dst = os.path.join(a.out, name)
            os.makedirs(dst)
            mlir, exe = os.path.join(tmp, name + ".tfm.mlir"), os.path.join(dst, "model")
            common = ["--target=" + a.target, "--dtype", cdtype] + (
                ["--prefill-chunk", str(a.prefill_chunk)] if a.prefill_chunk else [])
            show = lambda cmds: [" ".join(rel(c) if c == a.compiler else c
                                          for c in cmd) for cmd in cmds]
            t0 = time.time()
            rc, err, cmds = compile_program(a.compiler, src, mlir, exe, common,
                                            a.extra, a.max_seq)
            secs = time.time() - t0
            if rc:
                failed += 1
                print("%-12s FAIL (exit %d): %s" % (name, rc, err.strip()[-800:]))
                continue
            entry = manifest["models"][name] = {
                "config": cfg, "checkpoint_bytes": data,
                "exe_bytes": os.path.getsize(exe),
                "compile_seconds": round(secs, 1),
                "commands": show(cmds),
                "compiler_stderr": err.strip()[-1000:],
                "weights": weights_summary(model_info_of(exe))}
            print("%-12s ok  %.1f s, %d KiB (checkpoint %.2f GB fp16)" % (
                name, secs, os.path.getsize(exe) >> 10, data / 1e9))
            keep = {"model"}
            for v in (variants if name in vmodels else []):
                vexe = os.path.join(dst, "model-" + v)
                vmlir = os.path.join(tmp, "%s-%s.tfm.mlir" % (name, v))
                t0 = time.time()
                rc, verr, vcmds = compile_program(
                    a.compiler, src, mlir, vexe, common,
                    a.extra + VARIANTS[v], a.max_seq)
                if rc:  # perhaps the flags belong to the first step too
                    rc2, verr2, vcmds2 = compile_program(
                        a.compiler, src, vmlir, vexe, common,
                        a.extra + VARIANTS[v], a.max_seq, both=True)
                    if rc2 == 0:
                        rc, verr, vcmds = rc2, verr2, vcmds2
                    else:
                        verr = verr.strip()[-600:] + "\n(with the flags on "\
                            "both steps: " + verr2.strip()[-600:] + ")"
                vsecs = time.time() - t0
                if rc:
                    msg = verr.strip().splitlines()
                    entry.setdefault("variants", {})[v] = {
                        "args": VARIANTS[v], "error": "compile failed (exit "
                        "%d): %s" % (rc, (msg[0] if msg else "")[:300]),
                        "compiler_stderr": verr.strip()[-1500:]}
                    print("%-12s variant %s FAIL (exit %d): %s" % (
                        name, v, rc, verr.strip()[-400:]))
                    continue
                keep.add("model-" + v)
                entry.setdefault("variants", {})[v] = {
                    "exe": "model-" + v, "args": VARIANTS[v],
                    "exe_bytes": os.path.getsize(vexe),
                    "compile_seconds": round(vsecs, 1),
                    "commands": show(vcmds),
                    "compiler_stderr": verr.strip()[-1000:],
                    "weights": weights_summary(model_info_of(vexe))}
                print("%-12s variant %s ok  %.1f s" % (name, v, vsecs))
            for f in os.listdir(dst):  # keep only the programs
                if f not in keep:
                    os.remove(os.path.join(dst, f))
            shutil.copy(os.path.join(src, "config.json"), dst)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
