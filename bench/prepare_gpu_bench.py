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

Writes into --out (default .devbin/gpu-bench, gitignored):
    <model>/model, <model>/config.json, manifest.json

    bench/prepare_gpu_bench.py --compiler build/bin/monocard-compile
        [--target cuda] [--models llama2-7b,llama3.2-1b] [--max-seq 1024]
        [--dtype-mode weights|f32] [-- EXTRA COMPILER ARGS]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
from monocard import hf_model  # noqa: E402

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
    ap.add_argument("extra", nargs="*", help="more compiler arguments (after --)")
    a = ap.parse_args(argv)
    names = a.models.split(",")
    bad = [m for m in names if m not in MODELS]
    if bad:
        ap.error("unknown model(s) %s" % bad)
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
            cmds = [[a.compiler, src, "--emit=tfm", "--max-seq", str(a.max_seq),
                     "-o", mlir] + common,
                    [a.compiler, mlir, "-o", exe] + common + a.extra]
            t0, err = time.time(), ""
            for cmd in cmds:
                r = subprocess.run(cmd, capture_output=True, text=True)
                err += r.stderr
                if r.returncode:
                    break
            secs = time.time() - t0
            if r.returncode:
                failed += 1
                print("%-12s FAIL (exit %d): %s" % (name, r.returncode, err.strip()[-800:]))
                continue
            for f in os.listdir(dst):  # keep only the program
                if f != "model":
                    os.remove(os.path.join(dst, f))
            shutil.copy(os.path.join(src, "config.json"), dst)
            manifest["models"][name] = {
                "config": cfg, "checkpoint_bytes": data,
                "exe_bytes": os.path.getsize(exe),
                "compile_seconds": round(secs, 1),
                "commands": [" ".join(rel(c) if c == a.compiler else c for c in cmd)
                             for cmd in cmds],
                "compiler_stderr": err.strip()[-1000:]}
            print("%-12s ok  %.1f s, %d KiB (checkpoint %.2f GB fp16)" % (
                name, secs, os.path.getsize(exe) >> 10, data / 1e9))
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
