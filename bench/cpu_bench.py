#!/usr/bin/python3
"""CPU benchmark: Monocard's compiled demo model beside the same model in torch.

Why: a tokens/s figure means little alone.  This script puts Monocard's
decode speed next to a plain-torch peer (Debian's python3-torch, f32, eager,
static KV cache) running the *same* checkpoint on the *same* prompt for the
*same* number of decode steps, in one run, on this machine.  It is reported,
not yet a goal.  It also relates decode speed to the memory-bandwidth
roofline: max tok/s = copy bandwidth / f32 weight bytes read per token.

What it does (run with /usr/bin/python3; needs python3-numpy, python3-torch):
 1. compiles examples/fortune-llama with BUILD/bin/monocard-compile;
 2. checks that the torch peer's 32 greedy tokens match Monocard's
    (`--tokens ... -n 32 --json`), so both run the same model;
 3. for threads = 1 and all cores, runs `MODEL --bench --json --threads T
    --tokens P -n S` and the torch peer (`--torch-worker`, a child process,
    so its peak RSS is its own) `--repeats` times each, interleaved, and
    keeps the run with the median decode tok/s.  Both measure as
    lib/Runtime/Cli/Generate.cpp's benchmark() does: one warm-up prefill and one
    decode step, then a timed prefill of the prompt, then S timed greedy
    decode steps (argmax included); the prompt is Monocard's default
    synthetic one (128 LCG tokens), S = 64;
 4. measures memcpy bandwidth with numpy (256 MB array copied a few times);
 5. prints a table, writes docs/benchmarks/cpu-DATE.md; --json prints all.
The torch peer prefills the whole prompt in one call; Monocard prefills it in
chunks of --prefill-chunk (64).
"""
import argparse, datetime, json, os, platform, resource, shlex
import subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
MODEL = os.path.join(REPO, "examples", "fortune-llama")
CHECK_PROMPT = [0, 317, 1112, 279, 289, 679, 302]  # "The meaning of life is"


def synthetic_prompt(n, vocab):
    """Monocard's syntheticPrompt(): the default --bench prompt."""
    x, out = 12345, []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append((x >> 33) % vocab)
    return out


class TorchLlama:
    """HF Llama in plain torch f32: GQA, rotate-half RoPE, RMSNorm, SwiGLU,
    static KV cache [layers][kv_heads][max_seq][head_dim]."""

    def __init__(self, model_dir, max_seq):
        import torch
        from monocard import safetensors_io as st
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        w = {k: torch.from_numpy(v.copy()) for k, v in
             st.load_checkpoint(model_dir, upcast=True).items()}
        self.t, self.w, self.eps = torch, w, c["rms_norm_eps"]
        self.L, self.nh = c["num_hidden_layers"], c["num_attention_heads"]
        self.nkv = c.get("num_key_value_heads", self.nh)
        self.hd = c.get("head_dim") or c["hidden_size"] // self.nh
        self.lm_head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
        shape = (self.L, self.nkv, max_seq, self.hd)
        self.k, self.v = torch.zeros(shape), torch.zeros(shape)
        inv = 1.0 / (c.get("rope_theta", 10000.0) **
                     (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        f = torch.outer(torch.arange(max_seq, dtype=torch.float64), inv)
        emb = torch.cat([f, f], dim=-1)
        self.cos, self.sin = emb.cos().float(), emb.sin().float()

    def rms(self, x, g):
        return x * self.t.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * g

    def rope(self, x, cos, sin):  # x [heads, n, hd]
        h = self.hd // 2
        return x * cos + self.t.cat([-x[..., h:], x[..., :h]], -1) * sin

    def step(self, tokens, pos):
        """Run tokens at cache positions pos..; return last-row logits."""
        t, F, w = self.t, self.t.nn.functional, self.w
        n, g, hd = len(tokens), self.nh // self.nkv, self.hd
        x = w["model.embed_tokens.weight"][t.tensor(tokens)]
        cos, sin = self.cos[pos:pos + n], self.sin[pos:pos + n]
        T = pos + n
        mask = None
        if n > 1:  # query pos+i sees keys 0..pos+i
            mask = t.ones(n, T, dtype=t.bool).tril(diagonal=pos).logical_not()
        for l in range(self.L):
            p = "model.layers.%d." % l
            h = self.rms(x, w[p + "input_layernorm.weight"])
            q = F.linear(h, w[p + "self_attn.q_proj.weight"]).view(n, self.nh, hd).transpose(0, 1)
            k = F.linear(h, w[p + "self_attn.k_proj.weight"]).view(n, self.nkv, hd).transpose(0, 1)
            v = F.linear(h, w[p + "self_attn.v_proj.weight"]).view(n, self.nkv, hd).transpose(0, 1)
            self.k[l, :, pos:T] = self.rope(k, cos, sin)
            self.v[l, :, pos:T] = v
            q = self.rope(q, cos, sin).reshape(self.nkv, g * n, hd)
            s = t.matmul(q, self.k[l, :, :T].transpose(1, 2)) * hd ** -0.5
            if mask is not None:
                s = s.view(self.nkv, g, n, T).masked_fill(mask, float("-inf"))
                s = s.view(self.nkv, g * n, T)
            o = t.matmul(t.softmax(s, -1), self.v[l, :, :T])
            o = o.view(self.nh, n, hd).transpose(0, 1).reshape(n, self.nh * hd)
            x = x + F.linear(o, w[p + "self_attn.o_proj.weight"])
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            a = F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"]))
            x = x + F.linear(a * F.linear(h, w[p + "mlp.up_proj.weight"]),
                             w[p + "mlp.down_proj.weight"])
        return F.linear(self.rms(x[-1:], w["model.norm.weight"]), self.lm_head)[0]


def torch_worker(a):
    """Child process: greedy tokens (--greedy) or one benchmark, as JSON."""
    import torch
    torch.set_num_threads(a.threads)
    prompt = [int(s) for s in a.tokens.split(",")]
    with torch.inference_mode():
        m = TorchLlama(MODEL, a.max_seq)
        P = len(prompt)
        if a.greedy:
            nxt, out = int(m.step(prompt, 0).argmax()), []
            for i in range(a.n):
                out.append(nxt)
                nxt = int(m.step([nxt], P + i).argmax())
            print(json.dumps({"tokens": out}))
            return
        nxt = int(m.step(prompt, 0).argmax())  # warm-up, as benchmark() does
        m.step([nxt], P)
        t0 = time.perf_counter()
        nxt = int(m.step(prompt, 0).argmax())
        t1 = time.perf_counter()
        for i in range(a.n):
            nxt = int(m.step([nxt], P + i).argmax())
        t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"threads": torch.get_num_threads(), "prompt_tokens": P,
                      "decode_steps": a.n, "prefill_tokens_per_s": P / (t1 - t0),
                      "decode_tokens_per_s": a.n / (t2 - t1),
                      "ms_per_token": 1000 * (t2 - t1) / a.n,
                      "peak_rss_bytes": rss}))


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if r.returncode:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, shlex.join(cmd), r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])


def memcpy_bandwidth(mb=256, reps=5):
    """Best-of-reps bytes copied per second (numpy, one thread).  Traffic is
    at least 2x this (read + write), so it under-states the read bandwidth."""
    import numpy as np
    src = np.ones(mb << 20, dtype=np.uint8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(reps + 1):  # the first copy faults dst's pages in
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return src.nbytes / best


def weight_bytes_per_token():
    """f32 bytes of the weights one decode step reads: every tensor, but only
    one row of the (untied) embedding table.  Both engines hold f32."""
    from monocard import safetensors_io as st
    hdr = st.checkpoint_headers(MODEL)
    import numpy as np
    untied = "lm_head.weight" in hdr
    return sum(4 * (shape[1] if untied and name == "model.embed_tokens.weight"
                    else int(np.prod(shape))) for name, (_, shape) in hdr.items())


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def fmt_table(rows):
    head = ["engine", "threads", "prefill tok/s", "decode tok/s", "ms/token",
            "peak RSS MiB", "roofline"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        rss = "%.1f" % (r["peak_rss_bytes"] / 2**20) if r.get("peak_rss_bytes") else "-"
        lines.append("| %s | %d | %.1f | %.1f | %.2f | %s | %.2f%% |" % (
            r["engine"], r["threads"], r["prefill_tokens_per_s"],
            r["decode_tokens_per_s"], r["ms_per_token"], rss, 100 * r["roofline_fraction"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build", help="build dir (default build/)")
    ap.add_argument("--max-seq", type=int, default=256)
    ap.add_argument("-n", type=int, default=64, help="decode steps (default 64)")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="runs per engine and thread count")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--out", help="markdown path (default docs/benchmarks/cpu-DATE.md)")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--greedy", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--tokens", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        return torch_worker(a)

    say = (lambda *m: print(*m, file=sys.stderr)) if a.json else print
    build = os.path.abspath(a.build)
    ncores = len(os.sched_getaffinity(0))
    load0 = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="cpu_bench.")
    exe = os.path.join(tmp, "fortune")
    compile_cmd = [os.path.join(build, "bin", "monocard-compile"),
                   os.path.relpath(MODEL, REPO), "--max-seq", str(a.max_seq), "-o", exe]
    say("compiling:", shlex.join(compile_cmd))
    r = subprocess.run(compile_cmd, capture_output=True, text=True, cwd=REPO)
    if r.returncode:
        sys.exit("monocard-compile failed:\n" + r.stderr)

    me = [sys.executable, os.path.relpath(os.path.abspath(__file__), REPO)]
    def torch_cmd(threads, toks, n, greedy=False):
        return me + ["--torch-worker", "--threads", str(threads), "--max-seq",
                     str(a.max_seq), "--tokens", ",".join(map(str, toks)),
                     "-n", str(n)] + (["--greedy"] if greedy else [])

    # 1. Same model: greedy tokens must match.
    ctoks = ",".join(map(str, CHECK_PROMPT))
    check_cmds = [[exe, "--tokens", ctoks, "-n", "32", "--json", "--threads", "1"],
                  torch_cmd(1, CHECK_PROMPT, 32, greedy=True)]
    mono_toks = run_json(check_cmds[0])["tokens"]
    torch_toks = run_json(check_cmds[1])["tokens"]
    if mono_toks != torch_toks:
        sys.exit("greedy tokens differ:\n monocard %s\n torch    %s" % (mono_toks, torch_toks))
    say("greedy check: 32 tokens identical")

    # 2. Benchmarks, interleaved, median by decode tok/s.
    with open(os.path.join(MODEL, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    prompt = synthetic_prompt(a.prompt_len, vocab)
    ptoks = ",".join(map(str, prompt))
    wbt = weight_bytes_per_token()
    runs, cmds = {}, []
    for threads in sorted({1, ncores}):
        mcmd = [exe, "--bench", "--json", "--threads", str(threads),
                "--tokens", ptoks, "-n", str(a.n)]
        tcmd = torch_cmd(threads, prompt, a.n)
        cmds += [mcmd, tcmd]
        for i in range(a.repeats):
            for eng, cmd in (("monocard", mcmd), ("torch-1.13-f32", tcmd)):
                res = run_json(cmd)
                assert res["threads"] == threads and res["decode_steps"] == a.n
                runs.setdefault((eng, threads), []).append(res)
                say("  %-15s threads=%d run %d: decode %.1f tok/s" %
                    (eng, threads, i + 1, res["decode_tokens_per_s"]))

    # 3. Memory bandwidth, after the runs (its 512 MB are in this process).
    bw = memcpy_bandwidth()
    load1 = os.getloadavg()
    rows = []
    for (eng, threads), rs in runs.items():
        rs = sorted(rs, key=lambda r: r["decode_tokens_per_s"])
        med = dict(rs[len(rs) // 2])
        med.update(engine=eng, threads=threads,
                   decode_all_runs=[round(r["decode_tokens_per_s"], 2) for r in rs],
                   roofline_fraction=med["decode_tokens_per_s"] / (bw / wbt))
        rows.append(med)
    table = fmt_table(rows)
    say(table)
    result = {
        "date": a.date, "cpu": cpu_model(), "cores": ncores,
        "loadavg_before": load0, "loadavg_after": load1,
        "torch": __import__("torch").__version__, "prompt_tokens": len(prompt),
        "prompt": prompt,
        "decode_steps": a.n, "max_seq": a.max_seq, "repeats": a.repeats,
        "memcpy_bytes_per_s": bw, "weight_bytes_per_token": wbt,
        "roofline_tokens_per_s": bw / wbt, "greedy_check_tokens": mono_toks,
        "rows": rows, "commands": [shlex.join(c) for c in [compile_cmd] + check_cmds + cmds]}
    if a.json:
        print(json.dumps(result))
    if not a.no_doc:
        out = a.out or os.path.join(REPO, "docs", "benchmarks", "cpu-%s.md" % a.date)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(render_doc(result, table))
        say("wrote", os.path.relpath(out, REPO))


def render_doc(r, table):
    prompt = ",".join(map(str, r["prompt"]))
    short = lambda c: c.replace(prompt, "$PROMPT")  # long; printed once
    argv = " ".join(sys.argv[1:])
    return "\n".join([
        "# CPU benchmark, %s" % r["date"], "",
        "Generated by `bench/cpu_bench.py` (`/usr/bin/python3 bench/cpu_bench.py%s`)."
        % (" " + argv if argv else ""),
        "Demo model `examples/fortune-llama` (3.95 M parameters, 4 layers), compiled "
        "with `--max-seq %d`, beside the same checkpoint in plain torch %s (f32, eager, "
        "static KV cache, `torch.inference_mode()`). Reported, not yet a goal."
        % (r["max_seq"], r["torch"]), "",
        "- CPU: %s, %d cores (`os.sched_getaffinity`)" % (r["cpu"], r["cores"]),
        "- Load average before / after: %s / %s. The machine is shared with other "
        "jobs, so figures can move by tens of percent between runs; each row is the "
        "run with the median decode tok/s of %d (all runs in the last column)."
        % ("%.2f %.2f %.2f" % tuple(r["loadavg_before"]),
           "%.2f %.2f %.2f" % tuple(r["loadavg_after"]), r["repeats"]),
        "- Workload (both engines): prompt of %d tokens (Monocard's default synthetic "
        "`--bench` prompt), then %d greedy decode steps with the KV cache; one warm-up "
        "prefill + one decode step first, as `benchmark()` in lib/Runtime/Cli/Generate.cpp. "
        "Monocard prefills in chunks of 64, torch in one call." % (r["prompt_tokens"], r["decode_steps"]),
        "- Same model: both engines' 32 greedy tokens after `The meaning of life is` "
        "are identical: %s." % ",".join(map(str, r["greedy_check_tokens"])),
        "- Peak RSS: `getrusage` max RSS of each process (torch's includes the Python "
        "interpreter and libtorch).", "",
        _table_with_runs(table, r["rows"]), "",
        "## Memory-bandwidth roofline (decode)", "",
        "- Weight bytes read per decode token: %s (f32; every tensor but one row of "
        "the embedding table)." % format(r["weight_bytes_per_token"], ","),
        "- memcpy bandwidth: %.2f GB/s (numpy `copyto` of a 256 MiB array, one thread, "
        "best of 5; bytes copied per second, so read+write traffic is twice that)."
        % (r["memcpy_bytes_per_s"] / 1e9),
        "- Roofline: %.0f tok/s = bandwidth / bytes per token; the `roofline` column "
        "is decode tok/s / that." % r["roofline_tokens_per_s"],
        "- Caveat: %.1f MB of weights fit in this CPU's L3 (see `lscpu`), so decode "
        "is not DRAM-bound here; the fraction says how far both engines are from even "
        "the DRAM limit, not how close to a cache limit." % (r["weight_bytes_per_token"] / 1e6), "",
        "## Commands", "", "`$PROMPT` is the %d-token prompt:" % r["prompt_tokens"], "",
        "```", prompt, "```", "",
        "```sh"] + [short(c) for c in r["commands"]] + ["```", ""])


def _table_with_runs(table, rows):
    lines = table.split("\n")
    lines[0] += " decode tok/s, all runs |"
    lines[1] += "---|"
    for i, r in enumerate(rows):
        lines[i + 2] += " %s |" % ", ".join("%.1f" % x for x in r["decode_all_runs"])
    return "\n".join(lines)


if __name__ == "__main__":
    main()
