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
Every engine is timed as lib/Runtime/Cli/Generate.cpp's benchmark(): one
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

Quantized and unfused builds (the manifest's `variants`, Llama-2-7B by
default): each Monocard variant program (model-int8, model-int4,
model-f16-nofuse) packs the same checkpoint itself and runs the same
--bench runs (the unfused one: decode only), giving decode speed and its
launches per decode step (the f16-nofuse count is the kernel count before
fusion).  Each row's roofline uses the weight bytes ITS program reads per
token (from the recipe in the manifest).

PyTorch int4 weight-only peer (--int4-models, llama2-7b by default): after
the fp16 peers, every linear layer of the peer (q/k/v/o, gate/up/down and
lm_head) is replaced by torch.ops.aten._weight_int4pack_mm, group size 128,
asymmetric (gpt-fast's scheme: w = (q - 8) * scale + zero, bf16 scales and
zeros [K/128, N, 2]), weights converted with
_convert_weight_to_int4pack(..., inner_k_tiles=8); the packed-weight
argument changed across torch 2.x versions (int32 [N, K] before 2.5,
uint8 [N, K/2] after), so the layout is picked by a self-test against a
dequantized matmul and recorded.  The tinygemm kernel takes bf16
activations: x is cast to bf16 and the result back to fp16.  Decode is one
CUDA graph (torch.cuda.graphs, static token/position inputs), prefill runs
eagerly.  A failure is recorded in the JSON, the rest goes on.

Logit error vs f16 (`quant_error` in the JSON): every program's
`--logits-out` run (the 128-token prompt, then --logit-steps greedy steps)
is compared with the f16 Monocard program's: max |diff|, relative L2
(||q - f16|| / ||f16||) over the rows whose context is still identical
(greedy runs diverge after the first differing argmax), and greedy top-1
agreement (per step, and steps before the first divergence); the prompt
row is also compared with the eager fp16 peer's.  The int4 peer is
compared the same way with the eager fp16 peer.

--device cpu is a dry run of the harness itself on a machine without a
GPU (programs from prepare_gpu_bench.py --target cpu, e.g. --models tiny;
no CUDA graphs, so no compiled or int4 peer: those rows record errors).

Writes gpu-bench.json, gpu-bench.md and gpu-bench.svg to --out (default
$OUT).  bench/plot_gpu_bench.py turns the JSON into
docs/benchmarks/gpu-DATE-GPU.{md,svg} here.

    python3 bench/gpu_bench.py [--dir .devbin/gpu-bench] [--out DIR]
        [--models llama2-7b,llama3.2-1b] [--repeats 2] [--no-compile]
        [--no-variants] [--int4-models llama2-7b] [--logit-steps 32]
        [--device cuda|cpu]
"""
import argparse, gc, json, math, os, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.join(REPO, "bench"))
from monocard import hf_model, reference  # noqa: E402

PROMPT_LEN, STEPS, PREFILL_LEN = 128, 128, 512
PROFILE_STEPS = 4
LOGIT_STEPS = 32
INT4_GROUP, INT4_INNER_K_TILES = 128, 8
# engine name -> manifest variant
VARIANT_ENGINES = {"int8": "monocard-int8", "int4": "monocard-int4",
                   "f16-nofuse": "monocard-f16-nofuse"}
QUANT_ENGINES = ("monocard-int8", "monocard-int4", "torch-int4")

DEVICE = {"type": "cuda"}  # --device


def sync():
    import torch
    if DEVICE["type"] == "cuda":
        torch.cuda.synchronize()


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
            self.int4 = False  # to_int4() replaces the linear weights
            self.register_buffer("mask", torch.ones(
                max_seq, max_seq, dtype=torch.bool, device=dev).tril())

        def lin(self, x, owner, name):
            """x @ W^T for the weight `name` of `owner` (a layer, or the
            model for lm_head); Int4 peers replace it (to_int4)."""
            if not self.int4:
                return F.linear(x, getattr(owner, name))
            wq, sz, n = getattr(owner, name + "_int4")
            shp = x.shape
            y = torch.ops.aten._weight_int4pack_mm(
                x.reshape(-1, shp[-1]).to(torch.bfloat16).contiguous(), wq,
                INT4_GROUP, sz)
            return y.to(x.dtype).reshape(*shp[:-1], n)

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
                q = self.lin(h, l, "q_proj").view(T, nh, hd).transpose(0, 1)
                k = self.lin(h, l, "k_proj").view(T, nkv, hd).transpose(0, 1)
                v = self.lin(h, l, "v_proj").view(T, nkv, hd).transpose(0, 1)
                q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
                self.kc[i].index_copy_(1, pos, k)
                self.vc[i].index_copy_(1, pos, v)
                # query head j uses kv head j // g: group the g heads' rows
                q = q.reshape(nkv, g * T, hd)
                o = F.scaled_dot_product_attention(
                    q.unsqueeze(0), self.kc[i].unsqueeze(0),
                    self.vc[i].unsqueeze(0), attn_mask=mask.unsqueeze(0))
                o = o.view(nh, T, hd).transpose(0, 1).reshape(T, nh * hd)
                x = x + self.lin(o, l, "o_proj")
                h = self.rms(x, l.post_attention_layernorm)
                x = x + self.lin(F.silu(self.lin(h, l, "gate_proj")) *
                                 self.lin(h, l, "up_proj"), l, "down_proj")
            return self.lin(self.rms(x[-1:], self.norm), self, "lm_head")[0]

    return PeerLlama


LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
           "down_proj")


def int4_quantize(w, group=INT4_GROUP):
    """w [N, K] -> (codes int32 [N, K] in 0..15, scales_and_zeros bf16
    [K/group, N, 2], dequantized float32 [N, K]).  gpt-fast's
    group_quantize_tensor: scale = (max - min) / 15, zero = min + 8 * scale
    (both rounded to bf16 first), q = round((w - (zero - 8 * scale)) /
    scale), dequantized as (q - 8) * scale + zero."""
    import torch
    N, K = w.shape
    wf = w.float().reshape(N, K // group, group)
    mx, mn = wf.amax(-1, keepdim=True), wf.amin(-1, keepdim=True)
    scale = ((mx - mn).clamp(min=1e-6) / 15).to(torch.bfloat16).float()
    zero = (mn + 8 * scale).to(torch.bfloat16).float()
    q = ((wf - (zero - 8 * scale)) / scale).round().clamp(0, 15)
    deq = ((q - 8) * scale + zero).reshape(N, K)
    sz = torch.cat([scale, zero], -1).transpose(0, 1).contiguous().to(
        torch.bfloat16)
    return q.to(torch.int32).reshape(N, K), sz, deq


def int4_layouts(q):
    """Candidate packed inputs of _convert_weight_to_int4pack, newest first:
    torch >= 2.5 takes uint8 [N, K/2] (two codes a byte), older int32
    [N, K]."""
    import torch
    return [("uint8 [N, K/2], even k in the high nibble",
             (q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8)),
            ("uint8 [N, K/2], even k in the low nibble",
             (q[:, 1::2] << 4 | q[:, ::2]).to(torch.uint8)),
            ("int32 [N, K]", q.contiguous())]


def int4_pick_layout(device, log):
    """Finds the packed-input layout this torch accepts AND computes right
    with: the mm of a random [512, 1024] weight against its dequantized
    matmul.  Returns (index into int4_layouts, description); raises
    RuntimeError with every attempt's error if none works."""
    import torch
    ops = torch.ops.aten
    for op in ("_convert_weight_to_int4pack", "_weight_int4pack_mm"):
        if not hasattr(ops, op):
            raise RuntimeError("torch %s has no aten.%s" % (torch.__version__,
                                                             op))
    g = torch.Generator(device=device)
    g.manual_seed(7)
    w = torch.randn(512, 1024, device=device, generator=g).half() * 0.02
    x = torch.randn(4, 1024, device=device, generator=g).to(torch.bfloat16)
    q, sz, deq = int4_quantize(w)
    ref = x.float() @ deq.t()
    errors = []
    for i, (desc, packed_in) in enumerate(int4_layouts(q)):
        try:
            wq = ops._convert_weight_to_int4pack(packed_in, INT4_INNER_K_TILES)
            y = ops._weight_int4pack_mm(x, wq, INT4_GROUP, sz).float()
            rel = float((y - ref).norm() / ref.norm())
        except Exception as e:  # wrong dtype/shape for this version
            errors.append("%s: %s" % (desc, str(e).splitlines()[0][:200]))
            continue
        if rel < 2e-2:
            log("  torch-int4: packed layout %s (self-test rel %.1e)" % (
                desc, rel))
            return i, desc
        errors.append("%s: wrong result (rel L2 %.3g)" % (desc, rel))
    raise RuntimeError("no _convert_weight_to_int4pack layout works on torch "
                       "%s: %s" % (torch.__version__, "; ".join(errors)))


def to_int4(model, layout, log):
    """Replaces every linear weight of a PeerLlama (and lm_head) by its
    int4 packing, in place; frees the fp16 copies.  Returns the bytes a
    decode step reads (int4 codes + scales/zeros + norms + one embedding
    row)."""
    import torch
    ops = torch.ops.aten
    owners = [(l, n) for l in model.layers for n in LINEARS]
    owners.append((model, "lm_head"))
    read = 0
    for owner, name in owners:
        w = getattr(owner, name).data
        N, K = w.shape
        q, sz, _ = int4_quantize(w)
        wq = ops._convert_weight_to_int4pack(int4_layouts(q)[layout][1],
                                             INT4_INNER_K_TILES)
        setattr(owner, name + "_int4", (wq, sz, N))
        delattr(owner, name)  # a tied lm_head: only this name goes
        read += wq.numel() * wq.element_size() + sz.numel() * 2
        del q, w
    norms = sum(p.numel() * p.element_size() for n, p in
                model.named_parameters() if n.endswith("layernorm") or
                n == "norm")
    read += norms + model.embed.shape[1] * model.embed.element_size()
    model.int4 = True
    torch.cuda.empty_cache()
    return read


class GraphDecode:
    """One decode step of an eager module captured as a CUDA graph
    (torch.cuda.graphs): static token/position inputs, copied in before
    each replay; the logits tensor is the graph's own output."""

    def __init__(self, module, device):
        import torch
        self.t = torch
        self.tok = torch.zeros(1, dtype=torch.long, device=device)
        self.pos = torch.zeros(1, dtype=torch.long, device=device)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):  # warm-up (workspaces) off the capture
                module(self.tok, self.pos)
        torch.cuda.current_stream().wait_stream(s)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = module(self.tok, self.pos)

    def __call__(self, tokens, positions):
        self.tok.copy_(tokens.view(1))
        self.pos.copy_(positions.view(1))
        self.graph.replay()
        return self.out


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
        sync()
        t0 = time.perf_counter()
        logits = self.prefill(prompt_t)
        sync()
        t1 = time.perf_counter()
        nxt = logits.argmax().view(1)
        toks = [int(nxt.item())]
        t2 = time.perf_counter()
        for i in range(steps):
            nxt = self.decode(nxt, P + i).argmax().view(1)
            toks.append(int(nxt.item()))
        sync()
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
        sync()
        acts = [ProfilerActivity.CPU] + (
            [ProfilerActivity.CUDA] if DEVICE["type"] == "cuda" else [])
        with profile(activities=acts) as prof:
            for i in range(PROFILE_STEPS):
                nxt = self.decode(nxt, P + 2 + i).argmax().view(1)
                int(nxt.item())
            sync()
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
            # The compiled module serves every shape; a CUDA-graph decode
            # serves one, so such an engine names its prefill module.
            fn = getattr(eng, "big_prefill_fn", None) or eng.decode_fn
            for _ in range(3 if eng.graphs else 1):  # compile, record
                eng.prefill(PP, fn)
            sync()
            times = []
            for _ in range(max(3, args.repeats)):
                a = time.perf_counter()
                eng.prefill(PP, fn)
                sync()
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
            "tokens_head": toks[:8], "tokens": toks,
            "seconds": round(time.time() - t0, 1)}, check


# ------------------------------------------------------------- Monocard

def run_json(cmd, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise RuntimeError("exit %d: %s\n%s" % (r.returncode, " ".join(
            cmd[:4]) + " ...", (r.stderr or r.stdout).strip()[-1500:]))
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def bench_monocard(exe, ckpt, work, args, prompt, prefill_prompt, log,
                   engine="monocard", prefill=True):
    """Pack, --bench (best of --repeats), the 512-token prefill (unless
    prefill=False) and one --logits-out run (the prompt, then
    --logit-steps greedy steps).  Returns (row, logits [1+steps, vocab] or
    None).  The packed weights are removed afterwards."""
    import numpy as np
    weights = os.path.join(work, engine + ".weights")
    t0 = time.time()
    try:
        r = subprocess.run([exe, "--pack", ckpt, "-o", weights],
                           capture_output=True, text=True, timeout=900)
        if r.returncode:
            raise RuntimeError("--pack failed: " + (r.stderr or r.stdout)[-800:])
        pack_s = time.time() - t0
        log("  %s: packed in %.1f s: %s" % (engine, pack_s, r.stdout.strip()))
        base = [exe, "--weights", weights]
        runs = []
        for _ in range(args.repeats):
            j, _ = run_json(base + ["--bench", "--json", "--tokens",
                                    ",".join(map(str, prompt)), "-n",
                                    str(args.steps)])
            runs.append(j)
            log("  %s: decode %.1f tok/s, %s launches/step" % (
                engine, j["decode_tokens_per_s"],
                j.get("launches_per_decode_step", "?")))
        best = max(runs, key=lambda j: j["decode_tokens_per_s"])
        row = {"engine": engine, "pack_seconds": round(pack_s, 1),
               "weights_file_bytes": os.path.getsize(weights),
               "decode_all_runs": [j["decode_tokens_per_s"] for j in runs]}
        row.update(best)
        if prefill and not args.no_prefill:
            try:
                j, _ = run_json(base + ["--bench", "--json", "--tokens",
                                        ",".join(map(str, prefill_prompt)),
                                        "-n", "1"])
                row["prefill512_tokens_per_s"] = j["prefill_tokens_per_s"]
                row["prefill512_run"] = j
                log("  %s: prefill %d: %.0f tok/s" % (
                    engine, len(prefill_prompt), j["prefill_tokens_per_s"]))
            except (RuntimeError, ValueError, subprocess.SubprocessError) as e:
                row["prefill512_error"] = str(e)[-500:]
        npy = os.path.join(work, engine + ".logits.npy")
        logits = None
        try:
            r = subprocess.run(base + ["--tokens", ",".join(map(str, prompt)),
                                       "-n", str(args.logit_steps),
                                       "--logits-out", npy],
                               capture_output=True, text=True, timeout=600)
            if r.returncode:
                row["check_error"] = r.stderr.strip()[-500:]
            else:
                logits = np.load(npy)
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            row["check_error"] = str(e)[-500:]
        row["seconds"] = round(time.time() - t0, 1)
        return row, logits
    finally:
        for f in (weights, os.path.join(work, engine + ".logits.npy")):
            if os.path.exists(f):
                os.remove(f)


def logit_error(q, ref):
    """Logits of a quantized run `q` against `ref` (float arrays [rows,
    vocab], both from greedy runs on the same prompt: row 0 is the prompt's
    last position, row i follows the i-th generated token).  Row i's
    context is identical in both runs only while the argmaxes of rows
    0..i-1 agree, so the errors are taken over rows 0..d, d the first row
    whose argmax differs (all rows if none)."""
    import numpy as np
    q = np.atleast_2d(np.asarray(q, np.float64))
    ref = np.atleast_2d(np.asarray(ref, np.float64))
    n = min(len(q), len(ref))
    if n == 0 or q.shape[1] != ref.shape[1]:
        raise ValueError("shapes %s and %s" % (q.shape, ref.shape))
    aq, ar = q[:n].argmax(-1), ref[:n].argmax(-1)
    diff = np.nonzero(aq != ar)[0]
    first = int(diff[0]) if len(diff) else n
    same = min(first + 1, n)
    e, r = q[:same] - ref[:same], ref[:same]
    return {"rows": n, "rows_same_context": same,
            "max_abs": float(np.abs(e).max()),
            "max_abs_ref": float(np.abs(r).max()),
            "rel_l2": float(np.linalg.norm(e) / max(np.linalg.norm(r), 1e-30)),
            "row0_max_abs": float(np.abs(e[0]).max()),
            "row0_rel_l2": float(np.linalg.norm(e[0]) /
                                 max(np.linalg.norm(r[0]), 1e-30)),
            "top1_agreement": float((aq == ar).mean()),
            "steps_before_divergence": first}


def token_agreement(a, b):
    """Greedy token lists of two runs on one prompt: per-position
    agreement and the length of the common prefix."""
    n = min(len(a), len(b))
    if n == 0:
        return {"positions": 0}
    first = next((i for i in range(n) if a[i] != b[i]), n)
    return {"positions": n,
            "top1_agreement": sum(int(a[i] == b[i]) for i in range(n)) / n,
            "steps_before_divergence": first}


# ------------------------------------------------------------- the run

def copy_bandwidth(device, gib=2, reps=10):
    import torch
    if DEVICE["type"] != "cuda":  # dry run: a host memcpy
        n = 256 << 20
        a = torch.ones(n, dtype=torch.uint8)
        b = torch.empty_like(a)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            b.copy_(a)
            best = min(best, time.perf_counter() - t0)
        return {"method": "host copy_ of a 256 MiB buffer (--device cpu dry "
                "run)", "buffer_bytes": n, "seconds": best,
                "bytes_per_s": 2 * n / best}
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
    if DEVICE["type"] != "cuda":
        return 0
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    return total - free


def bench_int4_peer(model, args, prompt, pprompt, device, max_seq, log):
    """Converts the fp16 peer to int4 in place (to_int4) and benchmarks it
    with a CUDA-graph decode.  Returns (row, prompt-row logits)."""
    import torch
    if DEVICE["type"] != "cuda":
        raise RuntimeError("the int4 peer needs CUDA (tinygemm kernels, CUDA "
                           "graphs)")
    t0 = time.time()
    layout, desc = int4_pick_layout(device, log)
    read = to_int4(model, layout, log)
    convert_s = time.time() - t0
    log("  torch-int4: converted in %.1f s" % convert_s)
    with torch.no_grad():
        graph = GraphDecode(model, device)
    eng = Engine(graph, model, max_seq, device)
    eng.big_prefill_fn = model
    row, check = bench_peer("torch-int4", eng, args, prompt, pprompt, device,
                            log)
    row.update({"torch_version": torch.__version__, "int4_layout": desc,
                "group_size": INT4_GROUP, "inner_k_tiles": INT4_INNER_K_TILES,
                "lm_head_quantized": True, "convert_seconds": round(convert_s, 1),
                "activations": "fp16, cast to bf16 around each int4 mm",
                "decode": "torch.cuda.graphs (one graph per decode step)",
                "roofline_bytes_per_token": read})
    return row, check


def bench_model(name, mdir, args, bw, device, log, manifest=None):
    import numpy as np
    import torch
    with open(os.path.join(mdir, "config.json")) as f:
        cfg = json.load(f)
    c = hf_model.parse_config(cfg)
    mentry = (manifest or {}).get("models", {}).get(name, {})
    work = tempfile.mkdtemp(prefix="gpu-bench-%s." % name, dir=args.work)
    ckpt = os.path.join(work, "ckpt")
    os.makedirs(ckpt)
    shutil.copy(os.path.join(mdir, "config.json"), ckpt)
    phases, res = {}, {"model": name, "config": cfg}
    t0 = time.time()
    w = make_weights(cfg, args.seed, device)
    sync()
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
    rows, checks, logits_runs = [], {}, {}
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
    if name in args.int4_models:
        free_gpu()  # drop torch.compile's graphs before converting
        t0 = time.time()
        try:
            row, checks["torch-int4"] = bench_int4_peer(
                model, args, prompt, pprompt, device, max_seq, log)
            rows.append(row)
        except Exception as e:
            rows.append({"engine": "torch-int4", "error": "%s: %s" % (
                type(e).__name__, str(e)[:1500])})
            log("  torch-int4 FAILED: %s" % str(e)[:1500])
        phases["torch-int4"] = round(time.time() - t0, 1)
    del model
    res["gpu_bytes_in_use_after_peer_freed"] = free_gpu()
    # Monocard: the f16 program, then the manifest's variants.
    programs = [("monocard", "model", True, mentry.get("weights"))]
    if not args.no_variants:
        for v, ve in sorted(mentry.get("variants", {}).items()):
            eng_name = VARIANT_ENGINES.get(v, "monocard-" + v)
            if "error" in ve:
                rows.append({"engine": eng_name, "error": ve["error"],
                             "variant_args": ve.get("args")})
                log("  %s: not compiled: %s" % (eng_name, ve["error"]))
                continue
            programs.append((eng_name, ve["exe"], v != "f16-nofuse",
                             ve.get("weights")))
    if args.skip_monocard:
        programs = []
    for eng_name, exe, with_prefill, wsum in programs:
        t0 = time.time()
        try:
            row, lg = bench_monocard(
                os.path.join(mdir, exe), ckpt, work, args, prompt, pprompt,
                log, engine=eng_name, prefill=with_prefill)
            if wsum and wsum.get("bytes_read_per_token"):
                row["roofline_bytes_per_token"] = wsum["bytes_read_per_token"]
                row["elements_by_dtype"] = wsum.get("elements_by_dtype")
            if lg is not None:
                checks[eng_name] = lg[0]
                logits_runs[eng_name] = lg
            rows.append(row)
        except Exception as e:
            rows.append({"engine": eng_name, "error": "%s: %s" % (
                type(e).__name__, e)})
            log("  %s FAILED: %s" % (eng_name, e))
        phases[eng_name] = round(time.time() - t0, 1)
    for r in rows:
        if "decode_tokens_per_s" in r:
            own = r.get("roofline_bytes_per_token")
            if own is None and r["engine"] in QUANT_ENGINES:
                # no recipe in the manifest: all packed bytes, an upper
                # bound of what a step reads (so the fraction is a floor)
                own = r.get("weights_bytes")
            own = own or wbt
            r["roofline_bytes_per_token"] = own
            r["roofline_tokens_per_s"] = bw["bytes_per_s"] / own
            r["roofline_fraction"] = (1000 * own / bw["bytes_per_s"] /
                                      r["ms_per_token"])
    # Same weights: first logits row of every fp16 engine vs the eager
    # peer's (quantized engines are measured in quant_error below).
    ref = checks.get("torch-eager")
    same = {}
    for eng, row0 in checks.items():
        if ref is None or row0 is None or eng == "torch-eager" or \
                eng in QUANT_ENGINES:
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
    res["quant_error"] = quant_error(rows, checks, logits_runs, len(prompt),
                                     args.logit_steps)
    res["rows"], res["phase_seconds"] = rows, phases
    shutil.rmtree(work, ignore_errors=True)
    return res


def quant_error(rows, checks, logits_runs, prompt_len, steps):
    """Logit error of the quantized engines against fp16 (logit_error)."""
    out = {"what": "logits of the %d-token prompt's last position, then "
                   "after each of %d greedy steps (--logits-out), vs the "
                   "f16 Monocard program's; errors over the rows whose "
                   "context is still identical; rel_l2 = ||q - f16|| / "
                   "||f16||" % (prompt_len, steps), "engines": {}}
    by = {r["engine"]: r for r in rows}
    for eng in QUANT_ENGINES + ("monocard-f16-nofuse",):
        e = {}
        try:
            if eng in logits_runs and "monocard" in logits_runs:
                e["vs_monocard_f16"] = logit_error(logits_runs[eng],
                                                   logits_runs["monocard"])
            if checks.get(eng) is not None and \
                    checks.get("torch-eager") is not None:
                e["prompt_row_vs_torch_eager"] = logit_error(
                    checks[eng], checks["torch-eager"])
            if eng == "torch-int4" and "tokens" in by.get(eng, {}) and \
                    "tokens" in by.get("torch-eager", {}):
                e["greedy_vs_torch_eager"] = token_agreement(
                    by[eng]["tokens"], by["torch-eager"]["tokens"])
        except (ValueError, KeyError) as ex:
            e["error"] = str(ex)
        if e:
            out["engines"][eng] = e
    return out


def environment(device):
    import torch
    env = {"torch": torch.__version__, "cuda": torch.version.cuda}
    if DEVICE["type"] != "cuda":
        import platform
        env.update(gpu="none (--device cpu dry run, %s)" % platform.machine(),
                   gpu_memory_bytes=0, sm_count=0, compute_capability="-")
        return env
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
    ap.add_argument("--no-variants", action="store_true",
                    help="skip the manifest's variant programs")
    ap.add_argument("--int4-models", default="llama2-7b",
                    help="models that get the PyTorch int4 peer ('' none)")
    ap.add_argument("--logit-steps", type=int, default=LOGIT_STEPS,
                    help="greedy steps of the --logits-out runs")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: a dry run of the harness without a GPU")
    a = ap.parse_args(argv)
    a.int4_models = [m for m in a.int4_models.split(",") if m]
    DEVICE["type"] = a.device
    import torch
    T0 = time.time()
    log = lambda m: print("[%5.1fs] %s" % (time.time() - T0, m), flush=True)
    with open(os.path.join(a.dir, "manifest.json")) as f:
        manifest = json.load(f)
    names = a.models.split(",") if a.models else list(manifest["models"])
    device = a.device
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
        res = bench_model(name, os.path.join(a.dir, name), a, bw, device, log,
                          manifest)
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
