#!/usr/bin/env python3
"""GPU correctness check: compiled programs against transformers, on the GPU.

Why this exists: the CUDA target must compute what transformers computes,
for every supported family's quirks and every weight dtype, and must not
touch memory it does not own.  The development machine has no GPU and no
torch; the lent GPU machine has torch and transformers but no MLIR and no
network.  So the programs are compiled here (prepare_gpu_check.py writes
them, with each case's config.json, into a carry directory) and this script
runs there.  For each case it

 1. builds the model with transformers from the carried config.json, gives
    it checkpoints.make_weights' random weights (deterministic in
    (variant, seed); scaled so that logits are not degenerate -- or, with
    --init transformers, transformers' own init, seeded), casts it to the
    case's dtype and saves it with save_pretrained (safetensors);
 2. checks that the saved tensor names, shapes and dtypes are exactly what
    hf_model.expected_tensors says (the names the packer resolves);
 3. packs it with `EXE --pack CKPT -o W` and runs
    `EXE --weights W --tokens PROMPT -n N --logits-out ours.npy`
    (1+N rows: row 0 = the prompt's last position, row i = after feeding
    back the i-th generated token);
 4. computes transformers' logits (float32 on the GPU, TF32 off, eager
    attention, from the saved weights) for the same tokens: one forward over
    prompt + our generated tokens (teacher forcing, so rows stay comparable
    after a near-tie), and the reference's own greedy decode (prefill + KV
    cache) from the same prompt;
 5. compares (see TOLERANCE): rel = max |ours - ref| / max |ref| over all
    1+N rows must be <= the dtype's tolerance, no NaN/inf; with f32
    weights the greedy tokens must equal the reference's for all 1+N rows;
    with f16/bf16 they must be equal up to and including the first row
    where the reference's top-2 margin is below tol * max |ref| (that row
    may pick either token; later rows are not compared for tokens);
 6. runs compute-sanitizer (`--sanitizer-tools`, default memcheck; also
    racecheck, synccheck, initcheck) on one small f16 case, or on each of
    `--sanitizer-cases`, and reports each run's summary line.
For context it also reports transformers itself run in the case's dtype
(cast weights, eager) against the same float32 reference.

Writes gpu-check.md (human-readable), gpu-check.json and sanitizer.log to
--out (default $OUT); exits 1 if any check failed, 2 on bad input.

    python3 python/monocard/gpu_check.py [--dir .devbin/gpu-check]
        [--out DIR] [--cases llama-gqa-f16,...] [-n 32] [--no-sanitizer]
        [--sanitizer-cases A,B] [--sanitizer-tools memcheck,racecheck,...]
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from monocard import checkpoints, hf_model  # noqa: E402
from monocard import safetensors_io as st  # noqa: E402

# The four architectures; each in every weight dtype.
VARIANTS = ("llama-gqa", "llama3-rope", "qwen2", "mistral")
DTYPES = ("f32", "f16", "bf16")
SEED = 3
# Fixed prompt: 12 ids valid in every variant's vocabulary (>= 352).
PROMPT = [5, 17, 100, 3, 42, 250, 7, 1, 33, 90, 12, 61]
STEPS = 32

# rel = max|ours - ref| / max|ref| tolerance per weight dtype, and why.
TOLERANCE = {
    "f32": 1e-4,   # as the CPU end-to-end tests; a correct f32 GPU program
                   # (no TF32) differs only by summation order, ~1e-6
    "f16": 1e-2,   # f16 storage of activations, f32 accumulation: the
                   # numpy reference with every intermediate rounded to f16
                   # gives 1.3e-3..2.5e-3 on these cases, transformers in
                   # f16 (H200) 1.8e-3..2.2e-3; 4x headroom
    "bf16": 5e-2,  # same with bf16: emulation 8.8e-3..1.7e-2, transformers
                   # in bf16 1.2e-2..2.0e-2; 2.5x headroom
}
TOLERANCE_WHY = {
    "f32": "same as the CPU end-to-end tests; f32 math on the GPU (TF32 off) "
           "differs from the reference by summation order only (~1e-6)",
    "f16": "f16 activations with f32 accumulation: the numpy reference with "
           "every intermediate rounded to f16 is off by 1.3e-3..2.5e-3 on "
           "these models, transformers run in f16 on an H200 by "
           "1.8e-3..2.2e-3; 4x headroom",
    "bf16": "bf16 activations with f32 accumulation: the same emulation with "
            "bf16 rounding is off by 8.8e-3..1.7e-2, transformers run in "
            "bf16 on an H200 by 1.2e-2..2.0e-2; 2.5x headroom",
}
TORCH_DTYPE_NAMES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
ST_DTYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
SANITIZER_CASE = "llama-gqa-f16"
SANITIZER_STEPS = 4


# Weight-only quantized builds (--quant): the reference is transformers with
# every quantized linear weight replaced by its dequantized value (numpy
# reference of the packer, python/monocard/quantize.py), so the comparison
# isolates the fused-dequant kernels from the quantization error itself.
QUANT_CASES = ("llama-gqa-f16-int8", "llama-gqa-f16-int4",
               "qwen2-bf16-int4", "llama3-rope-f32-int4", "mistral-f16-int4")
QUANT_GROUP = 128

# More cases, each with its own prompt and compile settings: head dim 128
# with a 1500-token prompt in a 16384-position cache (prefill in chunks of
# 256, the last one partial, then decode past position 1500: a context the
# old shared-memory attention kernel refused), and head dim 80.
LONG_PROMPT = 1500
EXTRA_CASES = {
    "llama-long-f32": {"prompt_len": LONG_PROMPT, "steps": 16,
                       "max_seq": 16384, "prefill_chunk": 256},
    "llama-long-f16": {"prompt_len": LONG_PROMPT, "steps": 16,
                       "max_seq": 16384, "prefill_chunk": 256},
    "llama-hd80-bf16": {},
}


def case_name(variant, dtype):
    return "%s-%s" % (variant, dtype)


def all_cases():
    return [case_name(v, d) for v in VARIANTS for d in DTYPES] + \
        list(EXTRA_CASES) + list(QUANT_CASES)


def split_case(name):
    """"llama-gqa-f16-int4" -> ("llama-gqa", "f16", "int4"); quant is None
    for unquantized cases."""
    quant = None
    if name.endswith(("-int8", "-int4")):
        name, quant = name.rsplit("-", 1)
    variant, dtype = name.rsplit("-", 1)
    return variant, dtype, quant


def fake_quantize_linears(model, quant, dtype, group=QUANT_GROUP):
    """Replaces the weight of every nn.Linear but lm_head (what tfm-quantize
    quantizes) by dequant(quant(w)), computed as the packer computes it:
    from f32, with f16 scales for f16/bf16 models and f32 scales for f32.
    Returns the number of weights replaced."""
    torch = _torch()
    from monocard import quantize as qz
    scale_dtype = "f32" if dtype == "f32" else "f16"
    count = 0
    with torch.no_grad():
        for name, mod in model.named_modules():
            if not isinstance(mod, torch.nn.Linear) or name.endswith(
                    "lm_head"):
                continue
            w = mod.weight.detach().float().cpu().numpy()
            if quant == "int8":
                codes, scales = qz.quantize_int8_per_channel(w, scale_dtype)
                deq = qz.dequantize(codes, scales)
            else:
                g = min(group, w.shape[1])
                codes, scales, zeros = qz.quantize_int4_groups(w, g,
                                                               scale_dtype)
                deq = qz.dequantize(codes, scales, zeros, g)
            mod.weight.copy_(torch.from_numpy(deq).to(mod.weight.device))
            count += 1
    return count


def case_prompt(name):
    """The case's prompt: PROMPT, or prompt_len deterministic ids below 352
    (valid in every variant's vocabulary, never BOS/EOS)."""
    n = EXTRA_CASES.get(name, {}).get("prompt_len")
    if not n:
        return list(PROMPT)
    return [int(t) for t in np.random.default_rng(11).integers(0, 352, n)]


# ---------------------------------------------------------------- compare

def top2_margins(logits):
    s = np.sort(logits, axis=-1)
    return s[:, -1] - s[:, -2]


def compare_case(ours, ours_tokens, ref_tf, ref_free, dtype, n):
    """The pass/fail rule.  ours, ref_tf (teacher-forced on our tokens) and
    ref_free (the reference's own greedy decode) are float32 [1+n, vocab];
    ours_tokens are the n ids the program printed.  Returns a dict with
    'ok' and the numbers behind it."""
    tol = TOLERANCE[dtype]
    r = {"tolerance": tol, "rows": int(ref_tf.shape[0])}
    problems = []
    if ours.shape != ref_tf.shape:
        problems.append("logits shape %s, expected %s" % (
            list(ours.shape), list(ref_tf.shape)))
        r.update(ok=False, problems=problems)
        return r
    finite = bool(np.isfinite(ours).all())
    o, t = ours.astype(np.float64), ref_tf.astype(np.float64)
    mx = float(np.abs(t).max())
    err = float(np.abs(o - t).max()) if finite else float("inf")
    rel = err / mx if mx > 0 else float("inf")
    per_row = (np.abs(o - t).max(axis=-1) / mx).tolist() if finite else []
    r.update(max_abs_err=err, max_abs_logit=mx, rel=rel, finite=finite,
             worst_row=int(np.argmax(per_row)) if per_row else None)
    if not finite:
        problems.append("our logits have NaN/inf")
    elif not rel <= tol:
        problems.append("rel %.3g > tolerance %.0e (worst row %d)"
                        % (rel, tol, r["worst_row"]))
    # The program's printed tokens must be the argmax of its own rows.
    own = [int(i) for i in np.argmax(ours[:n], axis=-1)]
    if list(ours_tokens) != own:
        problems.append("printed tokens differ from the argmax of the "
                        "written logits")
    # Greedy tokens: ours (argmax of every row) vs the reference's own.
    ours_ids = [int(i) for i in np.argmax(ours, axis=-1)]
    ref_ids = [int(i) for i in np.argmax(ref_free, axis=-1)]
    rows = len(ref_ids)
    limit, margin_row = rows, None
    thr = 0.0
    if dtype != "f32":
        thr = tol * float(np.abs(ref_free).max())
        close = np.nonzero(top2_margins(ref_free) < thr)[0]
        if len(close):
            margin_row = int(close[0])
            limit = margin_row + 1
    same = [ours_ids[i] == ref_ids[i] for i in range(limit)]
    if margin_row is not None:
        same[margin_row] = True  # a near tie: either token is right
    first_diff = next((i for i, s in enumerate(same) if not s), None)
    r.update(greedy_rows_compared=limit, greedy_rows_identical=sum(same),
             greedy_first_difference=first_diff, margin_threshold=thr,
             first_close_margin_row=margin_row,
             ours_tokens=ours_ids, ref_tokens=ref_ids,
             ref_min_margin=float(top2_margins(ref_free).min()))
    if first_diff is not None:
        problems.append("greedy token differs at row %d (ours %d, "
                        "transformers %d)" % (first_diff, ours_ids[first_diff],
                                              ref_ids[first_diff]))
    r.update(ok=not problems, problems=problems)
    return r


# ----------------------------------------------------- transformers side

def _torch():
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def _from_config(config, torch_dtype):
    from transformers import AutoModelForCausalLM
    try:
        return AutoModelForCausalLM.from_config(
            config, dtype=torch_dtype, attn_implementation="eager")
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        return AutoModelForCausalLM.from_config(
            config, torch_dtype=torch_dtype, attn_implementation="eager")


def _from_pretrained(path, torch_dtype):
    from transformers import AutoModelForCausalLM
    try:
        return AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, attn_implementation="eager")
    except TypeError:
        return AutoModelForCausalLM.from_pretrained(
            path, torch_dtype=torch_dtype, attn_implementation="eager")


def make_hf_checkpoint(case_dir, out_dir, dtype, seed, init, init_range):
    """Build the model with transformers from case_dir/config.json, give it
    random weights, save it in `dtype` with save_pretrained.  Returns notes."""
    torch = _torch()
    from transformers import AutoConfig
    with open(os.path.join(case_dir, "config.json")) as f:
        cfg_dict = json.load(f)
    config = AutoConfig.from_pretrained(case_dir)
    if init == "transformers":
        config.initializer_range = init_range
    torch.manual_seed(seed)
    model = _from_config(config, torch.float32)
    notes = {}
    if init == "checkpoints":
        w = checkpoints.make_weights(cfg_dict, seed)
        sd = {k: torch.from_numpy(v) for k, v in w.items()}
        res = model.load_state_dict(sd, strict=False)
        missing, unexpected = list(res.missing_keys), list(res.unexpected_keys)
        tied = bool(cfg_dict.get("tie_word_embeddings"))
        allowed_missing = ["lm_head.weight"] if tied else []
        if unexpected or sorted(missing) != allowed_missing:
            raise RuntimeError("transformers' state_dict disagrees with "
                               "hf_model.expected_tensors: missing %s, "
                               "unexpected %s" % (missing, unexpected))
        if tied:
            model.tie_weights()
            same = (model.lm_head.weight.data_ptr() ==
                    model.model.embed_tokens.weight.data_ptr())
            notes["lm_head_tied"] = bool(same)
            if not same:
                raise RuntimeError("tie_word_embeddings is true but lm_head "
                                   "is not tied to embed_tokens")
    model = model.to(getattr(torch, TORCH_DTYPE_NAMES[dtype]))
    model.save_pretrained(out_dir, safe_serialization=True)
    for extra in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(case_dir, extra)
        if os.path.exists(src):
            shutil.copy(src, out_dir)
    return notes


def check_saved_tensors(ckpt_dir, case_dir, dtype):
    """Saved names/shapes/dtypes must be exactly hf_model.expected_tensors
    (in the case's dtype).  Returns a list of problems (empty: fine)."""
    c = hf_model.read_config(case_dir)
    want = hf_model.expected_tensors(c)
    got = st.checkpoint_headers(ckpt_dir)
    problems = []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing:
        problems.append("save_pretrained wrote no %s" % missing[:4])
    if extra:
        problems.append("save_pretrained wrote unexpected %s" % extra[:4])
    for n in sorted(set(want) & set(got)):
        gdt, gshape = got[n]
        if tuple(gshape) != tuple(want[n]):
            problems.append("%s: shape %s, expected %s" % (n, list(gshape),
                                                          list(want[n])))
        if gdt != ST_DTYPES[dtype]:
            problems.append("%s: dtype %s, expected %s" % (n, gdt,
                                                          ST_DTYPES[dtype]))
    return problems


def hf_logits(model, prompt, ours_tokens, n, device):
    """(teacher-forced rows on prompt + ours_tokens[:n], the model's own
    greedy rows from prompt): float32 [1+n, vocab] each."""
    torch = _torch()
    P = len(prompt)
    with torch.no_grad():
        seq = torch.tensor([list(prompt) + list(ours_tokens[:n])],
                           device=device)
        tf = model(input_ids=seq, use_cache=False).logits[0, P - 1:]
        tf = tf.float().cpu().numpy()
        rows = []
        out = model(input_ids=torch.tensor([list(prompt)], device=device),
                    use_cache=True)
        rows.append(out.logits[0, -1].float().cpu().numpy())
        for _ in range(n):
            tok = int(np.argmax(rows[-1]))
            out = model(input_ids=torch.tensor([[tok]], device=device),
                        past_key_values=out.past_key_values, use_cache=True)
            rows.append(out.logits[0, -1].float().cpu().numpy())
    return tf, np.stack(rows)


# ------------------------------------------------------------ the program

def run(cmd, timeout, cwd=None):
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       cwd=cwd)
    return r, time.time() - t0


def find_sanitizer():
    for cand in [shutil.which("compute-sanitizer")] + sorted(
            __import__("glob").glob("/usr/local/cuda*/bin/compute-sanitizer")
            + __import__("glob").glob(
                "/usr/local/cuda*/compute-sanitizer/compute-sanitizer")
            + __import__("glob").glob("/opt/nvidia/*/compute-sanitizer")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def run_sanitizer(exe, weights, out_dir, work, target, tool="memcheck"):
    """compute-sanitizer --tool TOOL on one run; returns a dict.  The log
    is appended to sanitizer.log.  A CPU-target program (a dry run of this
    script) makes no CUDA call, so the tool has nothing to check: reported
    as not applicable, ok=None."""
    san = find_sanitizer()
    res = {"case": None, "tool": tool, "binary": san}
    if san is None:
        res.update(ok=False, summary="compute-sanitizer not found (PATH, "
                   "/usr/local/cuda*/bin)")
        return res
    cmd = [san, "--tool", tool, "--error-exitcode", "99",
           "--print-limit", "50", exe, "--weights", weights,
           "--tokens", ",".join(map(str, PROMPT)),
           "-n", str(SANITIZER_STEPS), "--logits-out",
           os.path.join(work, "sanitizer.npy")]
    res["command"] = " ".join(cmd)
    try:
        r, secs = run(cmd, timeout=300)
    except subprocess.TimeoutExpired:
        res.update(ok=False, summary="timed out after 300 s")
        return res
    log = r.stdout + r.stderr
    with open(os.path.join(out_dir, "sanitizer.log"), "a") as f:
        f.write("$ %s\n%s\nexit %d\n" % (res["command"], log, r.returncode))
    # racecheck ends with "RACECHECK SUMMARY: N hazards displayed (E errors,
    # W warnings)"; the other tools with "ERROR SUMMARY: E errors".
    m = re.findall(r"ERROR SUMMARY: (\d+) errors?", log)
    race = re.findall(r"RACECHECK SUMMARY: .*\((\d+) errors?, (\d+) warnings?\)",
                      log)
    summary = next((l.strip("= ").strip() for l in log.splitlines()
                    if "ERROR SUMMARY" in l or "RACECHECK SUMMARY" in l),
                   "no ERROR SUMMARY line")
    errors = (int(m[-1]) if m else
              int(race[-1][0]) + int(race[-1][1]) if race else None)
    res.update(exit_code=r.returncode, seconds=round(secs, 1),
               summary=summary, errors=errors,
               ok=(r.returncode == 0 and errors == 0))
    if target == "cpu" and errors is None:
        res.update(ok=None, summary="not applicable: a --target=cpu program "
                   "makes no CUDA call (%s)" % next(
                       (l.strip("= ").strip() for l in log.splitlines()
                        if "Error" in l), "no summary"))
    return res


def run_sanitizers(a, weights_of, work, target):
    """Every --sanitizer-tools tool on every --sanitizer-cases case (default:
    memcheck on --sanitizer-case).  Returns (summary, runs): the summary
    has ok = all runs ok (None if none applied)."""
    tools = [t for t in a.sanitizer_tools.split(",") if t]
    cases = [c for c in (a.sanitizer_cases or a.sanitizer_case).split(",")
             if c]
    open(os.path.join(a.out, "sanitizer.log"), "w").close()
    runs = []
    for sc in cases:
        if weights_of.get(sc) is None:
            runs.append({"ok": False, "case": sc, "tool": "-",
                         "summary": "no packed weights for this case"})
            continue
        for tool in tools:
            s = run_sanitizer(os.path.join(a.dir, sc, "model"),
                              weights_of[sc], a.out, work, target, tool)
            s["case"] = sc
            runs.append(s)
            print("compute-sanitizer %s (%s): %s  %s" % (
                tool, sc, {True: "OK", False: "FAIL", None: "n/a"}[s["ok"]],
                s["summary"]), flush=True)
    oks = [r["ok"] for r in runs if r["ok"] is not None]
    ok = None if not oks else all(oks)
    summary = {"ok": ok, "case": ",".join(cases), "tool": ",".join(tools),
               "summary": "%d of %d runs clean" % (
                   sum(r["ok"] is True for r in runs), len(runs))}
    if len(runs) == 1:
        summary = dict(runs[0])
    return summary, runs


def check_case(name, args, out_dir, work, device, manifest_case):
    torch = _torch()
    variant, dtype = manifest_case["variant"], manifest_case["dtype"]
    seed = manifest_case.get("seed", SEED)
    case_dir = os.path.join(args.dir, name)
    exe = os.path.join(case_dir, "model")
    ckpt = os.path.join(work, name, "hf")
    os.makedirs(ckpt, exist_ok=True)
    weights = os.path.join(work, name, "model.weights")
    res = {"case": name, "variant": variant, "dtype": dtype, "seed": seed,
           "architecture": manifest_case.get("architecture")}
    t0 = time.time()
    res["hf_notes"] = make_hf_checkpoint(case_dir, ckpt, dtype, seed,
                                         args.init, args.init_range)
    res["tensor_problems"] = check_saved_tensors(ckpt, case_dir, dtype)
    res["saved_files"] = sorted(os.listdir(ckpt))
    r, secs = run([exe, "--pack", ckpt, "-o", weights], timeout=120)
    res["pack"] = (r.stdout + r.stderr).strip()
    if r.returncode:
        res.update(ok=False, problems=["--pack failed (exit %d): %s" % (
            r.returncode, res["pack"])])
        return res, None
    ours_npy = os.path.join(work, name, "ours.npy")
    prompt = manifest_case.get("prompt", PROMPT)
    n = manifest_case.get("steps", args.n)
    res["prompt_tokens"], res["steps"] = len(prompt), n
    cmd = [exe, "--weights", weights, "--tokens", ",".join(map(str, prompt)),
           "-n", str(n), "--logits-out", ours_npy]
    r, secs = run(cmd, timeout=120)
    res["run_seconds"] = round(secs, 3)
    res["run_stderr"] = r.stderr.strip()[-2000:]
    if r.returncode:
        res.update(ok=False, problems=["run failed (exit %d): %s" % (
            r.returncode, r.stderr.strip()[-500:])])
        return res, weights
    try:
        ours_tokens = [int(t) for t in r.stdout.strip().split(",") if t]
        ours = np.load(ours_npy)
    except (ValueError, OSError) as e:
        res.update(ok=False, problems=["cannot read the program's output: %s"
                                       % e])
        return res, weights
    ref_model = _from_pretrained(ckpt, torch.float32).to(device).eval()
    quant = manifest_case.get("quant")
    if quant:
        res["quantized_linears"] = fake_quantize_linears(ref_model, quant,
                                                         dtype)
    ref_tf, ref_free = hf_logits(ref_model, prompt, ours_tokens, n, device)
    del ref_model
    cmp = compare_case(ours, ours_tokens, ref_tf, ref_free, dtype, n)
    # Context: transformers itself in the case's dtype, same tokens.
    if dtype != "f32" and not quant:
        low = _from_pretrained(
            ckpt, getattr(torch, TORCH_DTYPE_NAMES[dtype])).to(device).eval()
        with torch.no_grad():
            seq = torch.tensor([list(prompt) + ours_tokens[:n]],
                               device=device)
            low_tf = low(input_ids=seq, use_cache=False).logits[
                0, len(prompt) - 1:].float().cpu().numpy()
        del low
        cmp["transformers_in_dtype_rel"] = float(
            np.abs(low_tf.astype(np.float64) - ref_tf).max() /
            np.abs(ref_tf).max())
    torch.cuda.empty_cache() if device.startswith("cuda") else None
    problems = list(res["tensor_problems"]) + cmp.pop("problems")
    res.update(cmp)
    res["problems"] = problems
    res["ok"] = not problems
    res["seconds"] = round(time.time() - t0, 2)
    return res, weights


# ---------------------------------------------------------------- report

def fmt_report(result):
    L = ["# GPU correctness check", ""]
    env = result["environment"]
    L += ["- Date: %s" % result["date"],
          "- Device: %s (driver %s); torch %s, transformers %s, CUDA (torch) %s"
          % (env.get("gpu"), env.get("driver"), env.get("torch"),
             env.get("transformers"), env.get("cuda")),
          "- Programs: `%s`, target `%s`, compiled from commit %s"
          % (result["manifest"].get("compiler"),
             result["manifest"].get("target"),
             result["manifest"].get("git_commit")),
          "- Prompt: %s; %d greedy steps (1+%d logits rows)"
          % (",".join(map(str, result["prompt"])), result["steps"],
             result["steps"]),
          "- Weights: %s" % result["init"],
          "- Reference: transformers, float32 weights and math on %s (TF32 "
          "off, eager attention), loaded from the saved checkpoint" %
          result["reference_device"], "",
          "## Tolerances", "",
          "rel = max |ours - transformers| / max |transformers| over all "
          "rows (transformers teacher-forced on our tokens).", "",
          "| weights | tolerance | why |", "|---|---|---|"]
    for d in DTYPES:
        L.append("| %s | %.0e | %s |" % (d, TOLERANCE[d], TOLERANCE_WHY[d]))
    L += ["", "Greedy tokens: f32 must match transformers' own greedy "
          "decode on every row; f16/bf16 up to and including the first row "
          "whose transformers top-2 margin is below tolerance x max |logit| "
          "(that row may differ; later rows are not compared).", "",
          "## Results", "",
          "| case | prompt+steps | rel err | tol | transformers in dtype "
          "| greedy identical | first close margin | run s | result |",
          "|---|---|---|---|---|---|---|---|---|"]
    for c in result["cases"]:
        rel = "%.2e" % c["rel"] if "rel" in c else "-"
        low = ("%.2e" % c["transformers_in_dtype_rel"]
               if "transformers_in_dtype_rel" in c else "-")
        greedy = ("%d/%d" % (c["greedy_rows_identical"],
                             c["greedy_rows_compared"])
                  if "greedy_rows_compared" in c else "-")
        close = ("row %d" % c["first_close_margin_row"]
                 if c.get("first_close_margin_row") is not None else "none")
        L.append("| %s | %s | %s | %.0e | %s | %s | %s | %s | %s |" % (
            c["case"], "%s+%s" % (c.get("prompt_tokens", "-"),
                                  c.get("steps", "-")),
            rel, TOLERANCE[c["dtype"]], low, greedy, close,
            c.get("run_seconds", "-"),
            "OK" if c["ok"] else "FAIL: " + "; ".join(c["problems"])))
    s = result.get("sanitizer")
    L += ["", "## compute-sanitizer", ""]
    if s is None:
        L.append("Not run (--no-sanitizer).")
    elif len(result.get("sanitizer_runs") or []) > 1:
        L += ["Each case: the 12-token prompt (two prefill chunks) and %d "
              "decode steps." % SANITIZER_STEPS, "",
              "| case | tool | result | errors | seconds |",
              "|---|---|---|---|---|"]
        for r in result["sanitizer_runs"]:
            L.append("| %s | %s | %s | %s | %s |" % (
                r["case"], r["tool"],
                {True: "OK", False: "FAIL", None: "n/a"}[r["ok"]],
                r.get("errors", "-"), r.get("seconds", "-")))
        L += ["", "Command pattern: `%s`" % (
            result["sanitizer_runs"][0].get("command", "-"))]
    else:
        L += ["- Case: %s, %d decode steps" % (s.get("case"), SANITIZER_STEPS),
              "- Command: `%s`" % s.get("command", "-"),
              "- Result: **%s** (exit %s): `%s`" % (
                  {True: "OK", False: "FAIL", None: "n/a"}[s["ok"]],
                  s.get("exit_code", "-"), s.get("summary"))]
    L += ["", "## Saved tensor names", "",
          "Every case's save_pretrained output holds exactly the names, shapes "
          "and dtype of `hf_model.expected_tensors` (tied embeddings: no "
          "`lm_head.weight`)" if all(not c.get("tensor_problems")
                                      for c in result["cases"])
          else "Mismatches: see the FAIL rows above.", "",
          "**%d of %d cases passed%s.**" % (
              sum(c["ok"] for c in result["cases"]), len(result["cases"]),
              "" if s is None else ", sanitizer %s" % (
                  {True: "clean", False: "FAILED", None: "not applicable"}[
                      s["ok"]])), ""]
    return "\n".join(L)


def environment():
    env = {"python": platform.python_version(), "host": platform.node()}
    try:
        torch = _torch()
        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        import transformers
        env["transformers"] = transformers.__version__
    except ImportError:
        pass
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                            "--format=csv,noheader"], capture_output=True,
                           text=True, timeout=30)
        env["driver"] = r.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        env["driver"] = None
    return env


def main(argv=None):
    p = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.split(
        "\n")[0])
    p.add_argument("--dir", default=".devbin/gpu-check",
                   help="what prepare_gpu_check.py wrote (manifest.json)")
    p.add_argument("--out", default=os.environ.get("OUT") or "gpu-check-out")
    p.add_argument("--work", default=None, help="scratch (default: a temp "
                   "dir)")
    p.add_argument("--cases", default=None, help="comma-separated subset")
    p.add_argument("-n", type=int, default=STEPS)
    p.add_argument("--device", default=None, help="reference device "
                   "(default cuda if available, else cpu)")
    p.add_argument("--init", choices=("checkpoints", "transformers"),
                   default="checkpoints")
    p.add_argument("--init-range", type=float, default=0.1,
                   help="initializer_range with --init transformers")
    p.add_argument("--no-sanitizer", action="store_true")
    p.add_argument("--sanitizer-case", default=SANITIZER_CASE)
    p.add_argument("--sanitizer-cases", default=None,
                   help="comma-separated cases for compute-sanitizer "
                   "(default: --sanitizer-case)")
    p.add_argument("--sanitizer-tools", default="memcheck",
                   help="comma-separated tools: memcheck, racecheck, "
                   "synccheck, initcheck")
    a = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import transformers
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except ImportError:
        pass
    try:
        with open(os.path.join(a.dir, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        print("gpu_check.py: error: cannot read %s/manifest.json (run "
              "prepare_gpu_check.py first): %s" % (a.dir, e), file=sys.stderr)
        return 2
    cases = manifest["cases"]
    if a.cases:
        want = a.cases.split(",")
        unknown = [c for c in want if c not in cases]
        if unknown:
            print("gpu_check.py: error: unknown case(s) %s (have: %s)" % (
                unknown, ", ".join(cases)), file=sys.stderr)
            return 2
        cases = {c: cases[c] for c in want}
    os.makedirs(a.out, exist_ok=True)
    work = a.work or tempfile.mkdtemp(prefix="gpu-check.")
    torch = _torch()
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    result = {"date": time.strftime("%Y-%m-%d"), "environment": environment(),
              "manifest": {k: v for k, v in manifest.items() if k != "cases"},
              "prompt": PROMPT, "steps": a.n, "reference_device": device,
              "tolerance": TOLERANCE,
              "init": ("checkpoints.make_weights(config, seed) (scaled "
                       "random normal), cast with torch .to(dtype)"
                       if a.init == "checkpoints" else
                       "transformers' init, torch.manual_seed(seed), "
                       "initializer_range %g" % a.init_range),
              "cases": []}
    print("device: %s %s" % (device, result["environment"].get("gpu", "")))
    weights_of = {}
    for name, mc in cases.items():
        try:
            res, w = check_case(name, a, a.out, work, device, mc)
        except Exception as e:  # report and go on with the next case
            res, w = {"case": name, "dtype": mc["dtype"], "ok": False,
                      "problems": ["%s: %s" % (type(e).__name__, e)]}, None
        weights_of[name] = w
        result["cases"].append(res)
        print("%-18s %s%s" % (name, "OK  " if res["ok"] else "FAIL",
                              "  rel %.2e (tol %.0e)  greedy %s/%s" % (
                                  res["rel"], TOLERANCE[res["dtype"]],
                                  res.get("greedy_rows_identical"),
                                  res.get("greedy_rows_compared"))
                              if "rel" in res else
                              "  " + "; ".join(res["problems"])), flush=True)
        if not res["ok"] and res.get("problems"):
            for pr in res["problems"]:
                print("    " + pr)
    if not a.no_sanitizer:
        result["sanitizer"], result["sanitizer_runs"] = run_sanitizers(
            a, weights_of, work, manifest.get("target"))
    with open(os.path.join(a.out, "gpu-check.json"), "w") as f:
        json.dump(result, f, indent=1)
    md = fmt_report(result)
    with open(os.path.join(a.out, "gpu-check.md"), "w") as f:
        f.write(md)
    failed = sum(not c["ok"] for c in result["cases"]) + (
        0 if a.no_sanitizer else int(result["sanitizer"]["ok"] is False))
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
