#!/usr/bin/env python3
"""GPU benchmark: Monocard beside PyTorch eager and torch.compile, same run.

Why: a tokens/s figure means little alone.  This puts a compiled Monocard
program next to a plain static-KV-cache Llama written here in PyTorch (fp16,
the same weights, the same prompt and step counts), eager and
torch.compile(mode="reduce-overhead"), in one process on one GPU, and relates
decode speed to the memory-bandwidth roofline measured in the same run.

Runs ON THE GPU MACHINE (torch there; no MLIR, no network).  The programs
come from bench/prepare_gpu_bench.py (carried in .devbin/gpu-bench).  For
each model:
 1. weights: fp16, generated on the GPU with a seeded torch.Generator --
    every matrix normal(0, 1) * 0.02, every RMSNorm weight 1 (HF's init) --
    and written as one model.safetensors with the names transformers uses;
 2. the PyTorch peer (PeerLlama below) runs on those same GPU tensors:
    eager, then torch.compile(mode="reduce-overhead", fullgraph, static
    shapes; compile and CUDA-graph capture are warm-up, not timed);
 3. the peer's memory is freed, then Monocard packs the checkpoint
    (`model --pack CKPT -o W`) and runs
      model --weights W --bench --json --tokens <128 ids> -n 128
      model --weights W --bench --json --tokens <512 ids> -n 1   (prefill)
    and one `--logits-out` run whose first row is compared with the peer's
    (the same-weights check).
Every engine is timed as lib/Runtime/Generate.cpp's benchmark(): one
warm-up prefill + decode step, then a timed prefill of the prompt
(synchronized), then N timed greedy steps, each = one decode step + argmax
on the device + reading the token on the host.  Peers: best of --repeats
runs; Monocard: best of --repeats processes.

Roofline: weight bytes read per decode token (every tensor once, except the
untied embedding table, of which one row) / the device's copy bandwidth
(a device-to-device copy of a 2 GiB buffer, (bytes read + bytes written) /
time, best of 10, measured at the start of this run).  Fraction = that
minimum time per token / the measured time per token.

Launches per decode step: Monocard reports its own
(`launches_per_decode_step`); for the peers torch.profiler counts, over 4
decode steps, the GPU kernels that ran (graph-replayed ones included) and
the host launch calls (cudaLaunchKernel*, cuLaunchKernel*, cudaGraphLaunch).

Writes gpu-bench.json, gpu-bench.md and gpu-bench.svg to --out (default
$OUT).  bench/plot_gpu_bench.py turns the JSON into
docs/benchmarks/gpu-DATE-GPU.{md,svg} here.

    python3 bench/gpu_bench.py [--dir .devbin/gpu-bench] [--out DIR]
        [--models llama2-7b,llama3.2-1b] [--repeats 2] [--no-compile]
"""
import argparse, gc, json, math, os, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.join(REPO, "bench"))
from monocard import hf_model, reference  # noqa: E402

PROMPT_LEN, STEPS, PREFILL_LEN = 128, 128, 512
PROFILE_STEPS = 4


def synthetic_prompt(n, vocab, seed=12345):
    """Monocard's syntheticPrompt() (an LCG), so the default and these agree."""
    x, out = seed, []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append((x >> 33) % vocab)
    return out


# ------------------------------------------------------------- weights

def make_weights(cfg, seed, device):
    """{name: fp16 tensor on the GPU}: matrices normal(0,1)*0.02, norms 1."""
    import torch
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    out = {}
    specs = sorted(hf_model.expected_tensors(hf_model.parse_config(cfg)).items())
    for name, shape in specs:
        if name.endswith("norm.weight"):
            out[name] = torch.ones(shape, dtype=torch.float16, device=device)
        else:
            t = torch.empty(shape, dtype=torch.float16, device=device)
            t.normal_(0.0, 1.0, generator=g).mul_(0.02)
            out[name] = t
    return out


def save_safetensors(weights, path):
    """One safetensors file, tensors in name order, streamed tensor by tensor
    (no second full copy in host memory)."""
    import torch
    names = sorted(weights)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for n in names:
        t = weights[n]
        nb = t.numel() * t.element_size()
        header[n] = {"dtype": {torch.float16: "F16", torch.bfloat16: "BF16",
                               torch.float32: "F32"}[t.dtype],
                     "shape": list(t.shape), "data_offsets": [off, off + nb]}
        off += nb
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h)
        for n in names:
            f.write(weights[n].contiguous().view(torch.uint8).cpu().numpy().data)
    return 8 + len(h) + off


def weight_bytes_per_token(cfg, itemsize=2):
    c = hf_model.parse_config(cfg)
    total = 0
    for name, shape in hf_model.expected_tensors(c).items():
        n = math.prod(shape)
        if name == "model.embed_tokens.weight" and not c.tie_word_embeddings:
            n = shape[1]  # one row looked up; lm_head is its own tensor
        total += n * itemsize
    return total


# ------------------------------------------------------------- the peer

def peer_class():
    import torch
    import torch.nn.functional as F

    class PeerLlama(torch.nn.Module):
        """HF Llama in plain PyTorch, fp16, batch 1, static KV cache
        [layers, kv_heads, max_seq, head_dim]; GQA by grouping the queries
        (no K/V copies); attention over the whole cache with a position
        mask (static shapes, so CUDA graphs can capture it); logits of the
        last position only.  forward(tokens [T], pos [T]) -> logits [vocab]."""

        def __init__(self, cfg, w, max_seq):
            super().__init__()
            c = hf_model.parse_config(cfg)
            self.L, self.nh, self.nkv, self.hd = (c.num_layers, c.num_heads,
                                                  c.num_kv_heads, c.head_dim)
            self.eps = c.rms_norm_eps
            P = lambda t: torch.nn.Parameter(t, requires_grad=False)
            self.embed = P(w["model.embed_tokens.weight"])
            self.lm_head = (self.embed if c.tie_word_embeddings
                            else P(w["lm_head.weight"]))
            self.norm = P(w["model.norm.weight"])
            names = ("input_layernorm", "self_attn.q_proj", "self_attn.k_proj",
                     "self_attn.v_proj", "self_attn.o_proj",
                     "post_attention_layernorm", "mlp.gate_proj",
                     "mlp.up_proj", "mlp.down_proj")
            self.layers = torch.nn.ModuleList()
            for i in range(self.L):
                m = torch.nn.Module()
                for n in names:
                    setattr(m, n.split(".")[-1],
                            P(w["model.layers.%d.%s.weight" % (i, n)]))
                self.layers.append(m)
            dev, dt = self.embed.device, self.embed.dtype
            shape = (self.L, self.nkv, max_seq, self.hd)
            self.register_buffer("kc", torch.zeros(shape, dtype=dt, device=dev))
            self.register_buffer("vc", torch.zeros(shape, dtype=dt, device=dev))
            inv = torch.tensor(reference.rope_inv_freq(c), dtype=torch.float64)
            ang = torch.outer(torch.arange(max_seq, dtype=torch.float64), inv)
            emb = torch.cat([ang, ang], -1)
            self.register_buffer("cos", emb.cos().to(dev, dt))
            self.register_buffer("sin", emb.sin().to(dev, dt))
            self.register_buffer("mask", torch.ones(
                max_seq, max_seq, dtype=torch.bool, device=dev).tril())

        def rms(self, x, g):
            xf = x.float()
            xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
            return g * xf.to(x.dtype)

        def rope(self, x, cos, sin):  # x [heads, T, hd]
            h = self.hd // 2
            return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

        def forward(self, tokens, pos):
            T, nh, nkv, hd = tokens.shape[0], self.nh, self.nkv, self.hd
            g = nh // nkv
            x = F.embedding(tokens, self.embed)            # [T, H]
            cos, sin = self.cos[pos], self.sin[pos]        # [T, hd]
            mask = self.mask[pos]                          # [T, S]
            mask = mask.unsqueeze(0).expand(g, T, -1).reshape(1, g * T, -1)
            for i, l in enumerate(self.layers):
                h = self.rms(x, l.input_layernorm)
                q = F.linear(h, l.q_proj).view(T, nh, hd).transpose(0, 1)
                k = F.linear(h, l.k_proj).view(T, nkv, hd).transpose(0, 1)
                v = F.linear(h, l.v_proj).view(T, nkv, hd).transpose(0, 1)
                q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
                self.kc[i].index_copy_(1, pos, k)
                self.vc[i].index_copy_(1, pos, v)
                # query head j uses kv head j // g: group the g heads' rows
                q = q.reshape(nkv, g * T, hd)
                o = F.scaled_dot_product_attention(
                    q.unsqueeze(0), self.kc[i].unsqueeze(0),
                    self.vc[i].unsqueeze(0), attn_mask=mask.unsqueeze(0))
                o = o.view(nh, T, hd).transpose(0, 1).reshape(T, nh * hd)
                x = x + F.linear(o, l.o_proj)
                h = self.rms(x, l.post_attention_layernorm)
                x = x + F.linear(F.silu(F.linear(h, l.gate_proj)) *
                                 F.linear(h, l.up_proj), l.down_proj)
            return F.linear(self.rms(x[-1:], self.norm), self.lm_head)[0]

    return PeerLlama


class Engine:
    """Runs a model as benchmark() does.  decode_fn/prefill_fn(tokens [T],
    positions [T]) -> logits [vocab]; the compiled peer prefills its
    128-token prompt with the eager module (same weights and KV buffers), so
    only the decode step and the 512-token prefill are compiled."""

    def __init__(self, decode_fn, prefill_fn, max_seq, device, graphs=False):
        import torch
        self.t, self.graphs = torch, graphs
        self.decode_fn, self.prefill_fn = decode_fn, prefill_fn
        self.positions = torch.arange(max_seq, device=device)

    def _call(self, fn, toks, p0):
        if self.graphs:
            self.t.compiler.cudagraph_mark_step_begin()
        return fn(toks, self.positions[p0:p0 + toks.shape[0]])

    def prefill(self, prompt_t, fn=None):
        return self._call(self.prefill_fn if fn is None else fn, prompt_t, 0)

    def decode(self, tok, pos):
        return self._call(self.decode_fn, tok, pos)

    def run(self, prompt_t, steps, warm_steps=3):
        """(prefill seconds, decode seconds, tokens)."""
        t = self.t
        P = prompt_t.shape[0]
        nxt = self.prefill(prompt_t).argmax().view(1)   # warm-up
        for i in range(min(steps, warm_steps)):         # (compile, capture)
            nxt = self.decode(nxt, P + i).argmax().view(1)
        int(nxt.item())
        t.cuda.synchronize()
        t0 = time.perf_counter()
        logits = self.prefill(prompt_t)
        t.cuda.synchronize()
        t1 = time.perf_counter()
        nxt = logits.argmax().view(1)
        toks = [int(nxt.item())]
        t2 = time.perf_counter()
        for i in range(steps):
            nxt = self.decode(nxt, P + i).argmax().view(1)
            toks.append(int(nxt.item()))
        t.cuda.synchronize()
        t3 = time.perf_counter()
        return t1 - t0, t3 - t2, toks

    def launches(self, prompt_t):
        """(GPU kernels, host launch calls) per decode step, by profiler."""
        t = self.t
        from torch.profiler import profile, ProfilerActivity
        P = prompt_t.shape[0]
        nxt = self.prefill(prompt_t).argmax().view(1)
        for i in range(2):  # warm (graph already captured by now)
            nxt = self.decode(nxt, P + i).argmax().view(1)
        t.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU,
                                 ProfilerActivity.CUDA]) as prof:
            for i in range(PROFILE_STEPS):
                nxt = self.decode(nxt, P + 2 + i).argmax().view(1)
                int(nxt.item())
            t.cuda.synchronize()
        kernels = api = 0
        for e in prof.events():
            dev = str(getattr(e, "device_type", "")).rsplit(".", 1)[-1]
            if dev == "CUDA":
                if not e.name.startswith(("Memcpy", "Memset", "[memory]")):
                    kernels += 1
            elif e.name.startswith(("cudaLaunchKernel", "cuLaunchKernel",
                                    "cudaGraphLaunch", "cuGraphLaunch")):
                api += 1
        return kernels / PROFILE_STEPS, api / PROFILE_STEPS


def bench_peer(name, eng, args, prompt, prefill_prompt, device, log):
    """Benchmark one peer engine; returns (row, logits of the prompt's last
    position from its prefill function)."""
    import torch
    tp = lambda ids: torch.tensor(ids, dtype=torch.long, device=device)
    P, PP = tp(prompt), tp(prefill_prompt)
    t0 = time.time()
    with torch.no_grad():
        check = eng.prefill(P).float().cpu().numpy()
        best = None
        for r in range(args.repeats):
            ps, ds, toks = eng.run(P, args.steps)
            if best is None or ds < best[1]:
                best = (ps, ds, toks)
        log("  %s: decode %.1f tok/s (%.1f s with warm-up/compile)" % (
            name, args.steps / best[1], time.time() - t0))
        pre = None
        if not args.no_prefill:
            t2 = time.time()
            fn = eng.decode_fn  # the compiled module serves every shape
            for _ in range(3 if eng.graphs else 1):  # compile, record
                eng.prefill(PP, fn)
            torch.cuda.synchronize()
            times = []
            for _ in range(max(3, args.repeats)):
                a = time.perf_counter()
                eng.prefill(PP, fn)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - a)
            pre = min(times)
            log("  %s: prefill %d: %.0f tok/s (%.1f s)" % (
                name, len(prefill_prompt), len(prefill_prompt) / pre,
                time.time() - t2))
        kernels, api = eng.launches(P)
    ps, ds, toks = best
    return {"engine": name, "prompt_tokens": len(prompt),
            "decode_steps": args.steps,
            "prefill_tokens_per_s": (None if eng.graphs
                                     else len(prompt) / ps),
            "decode_tokens_per_s": args.steps / ds,
            "ms_per_token": 1000 * ds / args.steps,
            "prefill512_tokens_per_s": (len(prefill_prompt) / pre
                                        if pre else None),
            "kernels_per_decode_step": kernels,
            "launch_calls_per_decode_step": api,
            "tokens_head": toks[:8],
            "seconds": round(time.time() - t0, 1)}, check


# ------------------------------------------------------------- Monocard

def run_json(cmd, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise RuntimeError("exit %d: %s\n%s" % (r.returncode, " ".join(
            cmd[:4]) + " ...", (r.stderr or r.stdout).strip()[-1500:]))
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def bench_monocard(exe, ckpt, work, args, prompt, prefill_prompt, log):
    import numpy as np
    weights = os.path.join(work, "model.weights")
    t0 = time.time()
    r = subprocess.run([exe, "--pack", ckpt, "-o", weights],
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise RuntimeError("--pack failed: " + (r.stderr or r.stdout)[-800:])
    pack_s = time.time() - t0
    log("  monocard: packed in %.1f s: %s" % (pack_s, r.stdout.strip()))
    base = [exe, "--weights", weights]
    runs = []
    for _ in range(args.repeats):
        j, _ = run_json(base + ["--bench", "--json", "--tokens",
                                ",".join(map(str, prompt)), "-n", str(args.steps)])
        runs.append(j)
        log("  monocard: decode %.1f tok/s" % j["decode_tokens_per_s"])
    best = max(runs, key=lambda j: j["decode_tokens_per_s"])
    row = {"engine": "monocard", "pack_seconds": round(pack_s, 1),
           "decode_all_runs": [j["decode_tokens_per_s"] for j in runs]}
    row.update(best)
    if not args.no_prefill:
        j, _ = run_json(base + ["--bench", "--json", "--tokens",
                                ",".join(map(str, prefill_prompt)), "-n", "1"])
        row["prefill512_tokens_per_s"] = j["prefill_tokens_per_s"]
        row["prefill512_run"] = j
        log("  monocard: prefill %d: %.0f tok/s" % (len(prefill_prompt),
                                                    j["prefill_tokens_per_s"]))
    npy = os.path.join(work, "check.npy")
    r = subprocess.run(base + ["--tokens", ",".join(map(str, prompt)),
                               "-n", "1", "--logits-out", npy],
                       capture_output=True, text=True, timeout=300)
    check = np.load(npy)[0] if r.returncode == 0 else None
    if r.returncode:
        row["check_error"] = r.stderr.strip()[-500:]
    row["seconds"] = round(time.time() - t0, 1)
    return row, check


# ------------------------------------------------------------- the run

def copy_bandwidth(device, gib=2, reps=10):
    import torch
    n = gib << 30
    a = torch.empty(n, dtype=torch.uint8, device=device)
    a.fill_(1)
    b = torch.empty_like(a)
    b.copy_(a)
    torch.cuda.synchronize()
    best = float("inf")
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(reps):
        s.record()
        b.copy_(a)
        e.record()
        e.synchronize()
        best = min(best, s.elapsed_time(e) / 1000)
    del a, b
    torch.cuda.empty_cache()
    return {"method": "torch device-to-device copy_ of a %d GiB uint8 buffer, "
                      "best of %d (CUDA events); bandwidth = (bytes read + "
                      "bytes written) / time" % (gib, reps),
            "buffer_bytes": n, "seconds": best,
            "bytes_per_s": 2 * n / best}


def free_gpu():
    import torch
    try:
        torch._dynamo.reset()
    except Exception:
        pass
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    return total - free


def bench_model(name, mdir, args, bw, device, log):
    import numpy as np
    import torch
    with open(os.path.join(mdir, "config.json")) as f:
        cfg = json.load(f)
    c = hf_model.parse_config(cfg)
    work = tempfile.mkdtemp(prefix="gpu-bench-%s." % name, dir=args.work)
    ckpt = os.path.join(work, "ckpt")
    os.makedirs(ckpt)
    shutil.copy(os.path.join(mdir, "config.json"), ckpt)
    phases, res = {}, {"model": name, "config": cfg}
    t0 = time.time()
    w = make_weights(cfg, args.seed, device)
    torch.cuda.synchronize()
    res["checkpoint_bytes"] = save_safetensors(w, os.path.join(
        ckpt, "model.safetensors"))
    phases["weights"] = round(time.time() - t0, 1)
    log("%s: %.2f GB fp16 checkpoint written in %.1f s" % (
        name, res["checkpoint_bytes"] / 1e9, phases["weights"]))
    wbt = weight_bytes_per_token(cfg)
    res.update(weight_bytes_per_token=wbt,
               roofline_tokens_per_s=bw["bytes_per_s"] / wbt,
               roofline_ms_per_token=1000 * wbt / bw["bytes_per_s"])
    prompt = synthetic_prompt(args.prompt_len, c.vocab_size)
    pprompt = synthetic_prompt(args.prefill_len, c.vocab_size, seed=777)
    max_seq = max(args.prompt_len + args.steps, args.prefill_len) + 8
    max_seq = (max_seq + 127) // 128 * 128
    res["peer_cache_positions"] = max_seq
    rows, checks = [], {}
    model = peer_class()(cfg, w, max_seq).eval()
    del w
    t0 = time.time()
    try:
        eng = Engine(model, model, max_seq, device)
        row, checks["torch-eager"] = bench_peer(
            "torch-eager", eng, args, prompt, pprompt, device, log)
        rows.append(row)
    except Exception as e:
        rows.append({"engine": "torch-eager", "error": "%s: %s" % (
            type(e).__name__, e)})
        log("  torch-eager FAILED: %s" % e)
    eng = None
    phases["torch-eager"] = round(time.time() - t0, 1)
    if not args.no_compile:
        t0 = time.time()
        try:
            for buf in (model.kc, model.vc):
                torch._dynamo.mark_static_address(buf)
            cm = torch.compile(model, mode="reduce-overhead", fullgraph=True,
                               dynamic=False)
            eng = Engine(cm, model, max_seq, device, graphs=True)
            row, _ = bench_peer("torch-compile", eng, args, prompt, pprompt,
                                device, log)
            rows.append(row)
        except Exception as e:
            rows.append({"engine": "torch-compile", "error": "%s: %s" % (
                type(e).__name__, str(e)[:1500])})
            log("  torch-compile FAILED: %s" % str(e)[:1500])
        cm = eng = None
        phases["torch-compile"] = round(time.time() - t0, 1)
    del model
    res["gpu_bytes_in_use_after_peer_freed"] = free_gpu()
    if not args.skip_monocard:
        t0 = time.time()
        try:
            row, checks["monocard"] = bench_monocard(
                os.path.join(mdir, "model"), ckpt, work, args, prompt,
                pprompt, log)
            rows.append(row)
        except Exception as e:
            rows.append({"engine": "monocard", "error": "%s: %s" % (
                type(e).__name__, e)})
            log("  monocard FAILED: %s" % e)
        phases["monocard"] = round(time.time() - t0, 1)
    for r in rows:
        if "decode_tokens_per_s" in r:
            r["roofline_fraction"] = (res["roofline_ms_per_token"] /
                                      r["ms_per_token"])
    # Same weights: first logits row of every engine vs the eager peer's.
    ref = checks.get("torch-eager")
    same = {}
    for eng, row0 in checks.items():
        if ref is None or row0 is None or eng == "torch-eager":
            continue
        row0 = np.asarray(row0, np.float64)
        rel = float(np.abs(row0 - ref).max() / max(np.abs(ref).max(), 1e-30))
        same[eng] = {"rel_vs_eager": rel,
                     "argmax_equal": int(np.argmax(row0)) == int(np.argmax(ref)),
                     "ok": rel < 5e-2}
    res["same_weights_check"] = {
        "what": "logits at the last position of the %d-token prompt, vs "
                "the eager peer's; rel = max|diff| / max|eager|; ok below "
                "5e-2 (fp16 math, random weights)" % len(prompt), "engines": same}
    res["rows"], res["phase_seconds"] = rows, phases
    shutil.rmtree(work, ignore_errors=True)
    return res


def environment(device):
    import torch
    env = {"torch": torch.__version__, "cuda": torch.version.cuda}
    p = torch.cuda.get_device_properties(0)
    env.update(gpu=p.name, gpu_memory_bytes=p.total_memory,
               sm_count=p.multi_processor_count,
               compute_capability="%d.%d" % (p.major, p.minor))
    try:
        env["driver"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,"
             "clocks.max.mem", "--format=csv,noheader"], capture_output=True,
            text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=".devbin/gpu-bench")
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu-bench-out")
    ap.add_argument("--work", default=None, help="scratch for checkpoints "
                    "(default: the temp dir; needs 2x the largest checkpoint)")
    ap.add_argument("--models", default=None, help="subset, comma-separated")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=PROMPT_LEN)
    ap.add_argument("--prefill-len", type=int, default=PREFILL_LEN)
    ap.add_argument("-n", "--steps", type=int, default=STEPS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-prefill", action="store_true")
    ap.add_argument("--skip-monocard", action="store_true")
    a = ap.parse_args(argv)
    import torch
    T0 = time.time()
    log = lambda m: print("[%5.1fs] %s" % (time.time() - T0, m), flush=True)
    with open(os.path.join(a.dir, "manifest.json")) as f:
        manifest = json.load(f)
    names = a.models.split(",") if a.models else list(manifest["models"])
    device = "cuda"
    os.makedirs(a.out, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%d"), "environment": environment(device),
              "manifest": {k: v for k, v in manifest.items() if k != "models"},
              "workload": {"batch": 1, "prompt_tokens": a.prompt_len,
                           "decode_steps": a.steps,
                           "prefill_tokens": a.prefill_len,
                           "repeats": a.repeats, "weights": "fp16, normal(0,1)*"
                           "0.02 matrices, RMSNorm weights 1, torch.Generator "
                           "seed %d on the GPU" % a.seed},
              "models": []}
    log("GPU: %s" % result["environment"]["gpu"])
    bw = copy_bandwidth(device)
    result["bandwidth"] = bw
    log("copy bandwidth: %.0f GB/s (read + write)" % (bw["bytes_per_s"] / 1e9))
    for name in names:
        res = bench_model(name, os.path.join(a.dir, name), a, bw, device, log)
        result["models"].append(res)
        free_gpu()
        with open(os.path.join(a.out, "gpu-bench.json"), "w") as f:
            json.dump(result, f, indent=1)
    result["total_seconds"] = round(time.time() - T0, 1)
    with open(os.path.join(a.out, "gpu-bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    import plot_gpu_bench
    md, svg = plot_gpu_bench.render(result, svg_name="gpu-bench.svg")
    with open(os.path.join(a.out, "gpu-bench.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "gpu-bench.svg"), "w") as f:
        f.write(svg)
    print(md)
    errors = [r for m in result["models"] for r in m["rows"] if "error" in r]
    log("done in %.0f s%s" % (result["total_seconds"],
                              ", %d engine(s) failed" % len(errors) if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
