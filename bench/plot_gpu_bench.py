#!/usr/bin/env python3
"""Table and plot of a gpu_bench.py result: markdown + hand-written SVG.

Why: the benchmark runs on the GPU machine; its JSON comes back here, and
this writes the dated record into docs/benchmarks/ (no matplotlib needed):

    bench/plot_gpu_bench.py FILES_AT/gpu-bench.json
        [--docs docs/benchmarks]
writes docs/benchmarks/gpu-DATE-GPU.md and gpu-DATE-GPU.svg (GPU: the
device name in lower case, non-alphanumerics as '-').  gpu_bench.py also
calls render() itself to leave a copy in $OUT.
"""
import argparse, json, os, re, sys

ENGINES = ("monocard", "monocard-f16-nofuse", "monocard-int8",
           "monocard-int4", "torch-eager", "torch-compile", "torch-int4")
LABEL = {"monocard": "Monocard",
         "monocard-f16-nofuse": "Monocard, no fusion (--no-fuse)",
         "monocard-int8": "Monocard int8 (--quant=int8)",
         "monocard-int4": "Monocard int4 (--quant=int4, g128)",
         "torch-eager": "PyTorch eager",
         "torch-compile": 'torch.compile(mode="reduce-overhead")',
         "torch-int4": "PyTorch int4 (_weight_int4pack_mm g128, CUDA graph)"}
SHORT = {"monocard": "Monocard f16", "monocard-f16-nofuse": "Monocard f16 no-fuse",
         "monocard-int8": "Monocard int8", "monocard-int4": "Monocard int4",
         "torch-eager": "PyTorch eager", "torch-compile": "torch.compile",
         "torch-int4": "PyTorch int4"}
COLOR = {"monocard": "#1b6ac9", "monocard-f16-nofuse": "#8fb6e8",
         "monocard-int8": "#0f8f6a", "monocard-int4": "#0a5c44",
         "torch-eager": "#9aa5b1", "torch-compile": "#e8833a",
         "torch-int4": "#b5542a"}
MONOCARD = ("monocard", "monocard-f16-nofuse", "monocard-int8",
            "monocard-int4")


def speedups(m):
    """[(text, ratio)]: each int4 build's decode speed over its own f16."""
    rows = {r["engine"]: r for r in m["rows"] if "decode_tokens_per_s" in r}
    out = []
    for q, f, what in (("monocard-int4", "monocard", "Monocard int4 vs "
                        "Monocard f16"),
                       ("monocard-int8", "monocard", "Monocard int8 vs "
                        "Monocard f16"),
                       ("torch-int4", "torch-compile", "PyTorch int4 (CUDA "
                        "graph) vs torch.compile f16 (CUDA graphs)"),
                       ("torch-int4", "torch-eager", "PyTorch int4 vs "
                        "PyTorch eager f16"),
                       ("monocard", "monocard-f16-nofuse", "Monocard f16 "
                        "fused vs unfused")):
        if q in rows and f in rows:
            out.append((what, rows[q]["decode_tokens_per_s"] /
                        rows[f]["decode_tokens_per_s"]))
    return out


def gpu_slug(name):
    s = re.sub(r"[^a-z0-9]+", "-", (name or "gpu").lower()).strip("-")
    return s.replace("nvidia-", "")


def _f(v, fmt):
    return "-" if v is None else fmt % v


def table(result):
    head = ["model", "engine", "decode tok/s", "ms/token", "roofline",
            "prefill 512 tok/s", "kernels / decode step",
            "host launch calls / decode step", "GB read / token"]
    L = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in result["models"]:
        rows = {r["engine"]: r for r in m["rows"]}
        for eng in ENGINES:
            r = rows.get(eng)
            if r is None:
                continue
            if "error" in r:
                L.append("| %s | %s | failed: %s | | | | | | |" % (
                    m["model"], LABEL[eng], (r["error"].splitlines() or [""])[0]
                    [:160].replace("|", "\\|")))
                continue
            if eng in MONOCARD:
                kernels = r.get("launches_per_decode_step")
                calls = _f(r.get("host_launch_calls_per_decode_step"), "%.0f")
            else:
                kernels = r.get("kernels_per_decode_step")
                calls = _f(r.get("launch_calls_per_decode_step"), "%.0f")
            L.append("| %s | %s | %.1f | %.2f | %.1f%% | %s | %s | %s | %s |" % (
                m["model"], LABEL[eng], r["decode_tokens_per_s"],
                r["ms_per_token"], 100 * r["roofline_fraction"],
                _f(r.get("prefill512_tokens_per_s"), "%.0f"),
                _f(kernels, "%.0f"), calls,
                "%.2f" % (r.get("roofline_bytes_per_token",
                                m["weight_bytes_per_token"]) / 1e9)))
    return "\n".join(L)


def quant_table(result):
    """Logit error of the quantized builds vs f16 (gpu_bench.quant_error)."""
    L = []
    for m in result["models"]:
        qe = m.get("quant_error", {}).get("engines", {})
        for eng in ENGINES:
            e = qe.get(eng)
            if not e:
                continue
            for key, vs in (("vs_monocard_f16", "Monocard f16"),
                            ("prompt_row_vs_torch_eager",
                             "PyTorch eager f16 (prompt row)")):
                d = e.get(key)
                if d:
                    L.append("| %s | %s | %s | %d of %d | %.3g | %.3g | %.2e "
                             "| %.3f | %d |" % (
                                 m["model"], SHORT[eng], vs,
                                 d["rows_same_context"], d["rows"],
                                 d["max_abs"], d["max_abs_ref"], d["rel_l2"],
                                 d["top1_agreement"],
                                 d["steps_before_divergence"]))
            g = e.get("greedy_vs_torch_eager")
            if g and g.get("positions"):
                L.append("| %s | %s | PyTorch eager f16 (greedy tokens) | "
                         "- | - | - | - | %.3f | %d |" % (
                             m["model"], SHORT[eng], g["top1_agreement"],
                             g["steps_before_divergence"]))
    if not L:
        return ""
    return "\n".join(["| model | build | vs | rows compared | max abs diff | "
                      "max abs logit | rel L2 | greedy top-1 agreement | "
                      "steps before divergence |", "|" + "---|" * 9] + L)


def svg_plot(result, width=820):
    """Bars: decode tok/s per model and engine, one panel per model (own
    scale), a label per bar; the fp16 roofline as a dashed line, and a red
    tick at a row's own roofline where its weights differ (quantized)."""
    models = result["models"]
    left, bh, gap, top = 190, 26, 8, 40
    panels = []
    for m in models:
        present = [e for e in ENGINES if any(r["engine"] == e
                                             for r in m["rows"])]
        panels.append((m, present, 44 + len(present) * (bh + gap)))
    H = top + sum(ph + 24 for _, _, ph in panels) + 10
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="12">' % (width, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15" font-weight="bold">Decode '
         'tokens/s, batch 1 (%s, %s)</text>' % (
             12, result["environment"].get("gpu", "?"), result["date"])]
    y0 = top
    for m, present, ph in panels:
        rows = {r["engine"]: r for r in m["rows"]}
        ok = {e: r for e, r in rows.items() if "decode_tokens_per_s" in r}
        roof = m["roofline_tokens_per_s"]
        vals = [roof] + [r["decode_tokens_per_s"] for r in ok.values()] + [
            r.get("roofline_tokens_per_s", roof) for r in ok.values()]
        scale = (width - left - 150) / (max(vals) * 1.02)
        o.append('<text x="12" y="%d" font-weight="bold">%s</text>' % (
            y0 + 14, m["model"]))
        o.append('<text x="150" y="%d" fill="#555">fp16: %.2f GB read/token'
                 '</text>' % (y0 + 14, m["weight_bytes_per_token"] / 1e9))
        for j, eng in enumerate(present):
            yb = y0 + 30 + j * (bh + gap)
            o.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (
                left - 6, yb + 17, SHORT[eng]))
            r = ok.get(eng)
            if r is None:
                o.append('<text x="%d" y="%d" fill="#999">failed</text>'
                         % (left + 4, yb + 17))
                continue
            w = r["decode_tokens_per_s"] * scale
            o.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                     % (left, yb, w, bh, COLOR[eng]))
            o.append('<text x="%.1f" y="%d">%.0f tok/s (%.0f%%)</text>' % (
                left + w + 6, yb + 17, r["decode_tokens_per_s"],
                100 * r["roofline_fraction"]))
            own = r.get("roofline_tokens_per_s", roof)
            if abs(own / roof - 1) > 0.05:
                xo = left + own * scale
                o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" '
                         'stroke="#c00" stroke-width="2"/>' % (
                             xo, yb - 2, xo, yb + bh + 2))
        xr = left + roof * scale
        yend = y0 + 30 + len(present) * (bh + gap) - gap
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" '
                 'stroke-dasharray="5,3"/>' % (xr, y0 + 24, xr, yend))
        o.append('<text x="%.1f" y="%d" fill="#c00" text-anchor="end">'
                 'fp16 roofline %.0f tok/s</text>' % (xr - 4, y0 + 26, roof))
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (
            left, y0 + 26, left, yend))
        y0 += ph + 24
    o.append('<text x="12" y="%d" fill="#555">%% = of the row\'s own '
             'roofline (weight bytes its program reads per token / copy '
             'bandwidth); red tick: that roofline where it is not fp16\'s.'
             '</text>' % (H - 6))
    o.append("</svg>")
    return "\n".join(o) + "\n"


def render(result, svg_name):
    env, wl, bw = result["environment"], result["workload"], result["bandwidth"]
    man = result.get("manifest", {})
    L = ["# GPU benchmark, %s, %s" % (result["date"], env.get("gpu")), "",
         "Generated by `bench/gpu_bench.py` on the lent GPU machine (run with "
         "`scripts/gpu/bench.sh`, see docs/benchmarks/README.md), "
         "rendered by `bench/plot_gpu_bench.py`.", "",
         "- GPU: %s, %d SMs, %.0f GiB, compute capability %s; driver / max SM "
         "clock / max memory clock: %s" % (
             env.get("gpu"), env.get("sm_count", 0),
             env.get("gpu_memory_bytes", 0) / 2**30,
             env.get("compute_capability"), env.get("driver")),
         "- PyTorch %s (CUDA %s)" % (env.get("torch"), env.get("cuda")),
         "- Monocard programs: `--target=%s`, `--dtype %s`, `--max-seq %s`, "
         "compiled from commit %s" % (man.get("target"), man.get("compute_dtype"),
                                      man.get("max_seq"), man.get("git_commit")),
         "- Workload: batch %d, a %d-token prompt, then %d greedy decode "
         "steps; prefill measured separately on a %d-token prompt. Timing as "
         "`benchmark()` in lib/Runtime/Cli/Generate.cpp: warm-up prefill and "
         "decode first (torch.compile's compilation and CUDA-graph capture "
         "included there, never timed), then a timed prefill, then timed "
         "steps of decode + argmax on the GPU + token read on the host. "
         "Best of %d runs per engine." % (
             wl["batch"], wl["prompt_tokens"], wl["decode_steps"],
             wl["prefill_tokens"], wl["repeats"]),
         "- Weights: %s; the same tensors for every engine (PyTorch "
         "uses them in place, Monocard packs the safetensors file written "
         "from them)." % wl["weights"],
         "- PyTorch peer: a plain static-KV-cache Llama written in the "
         "harness (fp16, F.linear / SDPA with a position mask over the whole "
         "cache, GQA by grouping queries, logits of the last position only); "
         "eager, and `torch.compile(mode=\"reduce-overhead\", fullgraph=True, "
         "dynamic=False)`. The compiled peer prefills the 128-token prompt "
         "with the eager module (one compile fewer), so its 128-token prefill "
         "is not reported; its 512-token prefill is compiled.",
         "- Roofline: weight bytes read per decode token (every tensor once, "
         "the untied embedding table one row) / copy bandwidth. Copy "
         "bandwidth %.0f GB/s: %s. `roofline` = (bytes/token / bandwidth) / "
         "measured time per token." % (bw["bytes_per_s"] / 1e9, bw["method"]),
         "- Kernels per decode step: Monocard's own count "
         "(`launches_per_decode_step` in its `--bench --json`); the peers', "
         "GPU kernels seen by torch.profiler over 4 steps (argmax included; "
         "kernels replayed from a CUDA graph count one each). Host launch "
         "calls: cudaLaunchKernel*/cuLaunchKernel*/cudaGraphLaunch per step.",
         "- Quantized rows (where present): Monocard programs compiled "
         "with `--quant=int8` (per output channel) or `--quant=int4 "
         "--group=128`, packed by the program itself from the same "
         "checkpoint; `--no-fuse` is the f16 program without the fusion "
         "pass (its kernel count is the count before fusion). PyTorch int4: "
         "every linear layer (lm_head included) as "
         "`torch.ops.aten._weight_int4pack_mm`, group 128, inner_k_tiles 8, "
         "bf16 activations around it, decode captured in one CUDA graph. "
         "`roofline` for these rows uses the bytes THEIR weights take per "
         "token (`GB read / token`).",
         "", table(result), "", "![decode tokens/s](%s)" % svg_name, ""]
    sp = [(m["model"], t, x) for m in result["models"] for t, x in speedups(m)]
    if sp:
        L += ["Speedups (decode tok/s ratios, same run):", ""]
        L += ["- %s: %s %.2fx" % (mn, t, x) for mn, t, x in sp]
        L.append("")
    qt = quant_table(result)
    if qt:
        L += ["Logit error of the quantized builds (`--logits-out`: the "
              "prompt's last position, then greedy steps; errors over the "
              "rows whose context is still identical in both runs, i.e. up "
              "to the first differing argmax; rel L2 = ||q - f16|| / "
              "||f16||):", "", qt, ""]
    L += ["## Per model", ""]
    for m in result["models"]:
        c = m["config"]
        L += ["### %s" % m["model"], "",
              "hidden %d, %d layers, %d heads, %d kv heads, ffn %d, vocab %d, "
              "rope_theta %g%s, tie_word_embeddings %s. Weight bytes read per "
              "token %s; roofline %.1f tok/s (%.3f ms/token); checkpoint %.2f GB."
              % (c["hidden_size"], c["num_hidden_layers"],
                 c["num_attention_heads"], c["num_key_value_heads"],
                 c["intermediate_size"], c["vocab_size"], c["rope_theta"],
                 ", rope_scaling llama3 factor %g" % c["rope_scaling"]["factor"]
                 if c.get("rope_scaling") else "",
                 str(c["tie_word_embeddings"]).lower(),
                 format(m["weight_bytes_per_token"], ","),
                 m["roofline_tokens_per_s"], m["roofline_ms_per_token"],
                 m["checkpoint_bytes"] / 1e9), ""]
        for r in m["rows"]:
            if r["engine"] in MONOCARD and "error" not in r:
                L.append("- %s: module %s, peak device memory %s bytes "
                         "(plan %s), weights %s + KV %s + arena %s bytes, "
                         "prefill 128 %s tok/s, decode runs %s tok/s, pack "
                         "%.1f s." % (
                             LABEL[r["engine"]], r.get("module_source", "?"),
                             format(r["peak_device_bytes"], ",")
                             if "peak_device_bytes" in r else "?",
                             format(r["plan_device_bytes"], ",")
                             if "plan_device_bytes" in r else "?",
                             format(r.get("weights_bytes", 0), ","),
                             format(r.get("kv_bytes", 0), ","),
                             format(r.get("arena_bytes", 0), ","),
                             _f(r.get("prefill_tokens_per_s"), "%.0f"),
                             ", ".join("%.1f" % x for x in r["decode_all_runs"]),
                             r.get("pack_seconds", 0)))
            elif "error" not in r:
                L.append("- %s: prefill 128 %s tok/s; first tokens %s%s." % (
                    LABEL[r["engine"]], _f(r.get("prefill_tokens_per_s"), "%.0f"),
                    r.get("tokens_head"),
                    "; torch %s, packed layout %s, converted in %.1f s" % (
                        r.get("torch_version"), r.get("int4_layout"),
                        r.get("convert_seconds", 0))
                    if r["engine"] == "torch-int4" else ""))
            else:
                L.append("- %s: failed: %s" % (LABEL.get(r["engine"],
                                                         r["engine"]),
                                                r["error"][:600]))
        sw = m.get("same_weights_check", {}).get("engines", {})
        for eng, s in sw.items():
            L.append("- Same weights: %s vs eager, %s: rel %.2e, argmax %s "
                     "-> %s." % (LABEL[eng], m["same_weights_check"]["what"]
                                 .split(";")[0], s["rel_vs_eager"],
                                 "equal" if s["argmax_equal"] else "differs",
                                 "OK" if s["ok"] else "MISMATCH"))
        L.append("- Phase seconds: %s." % ", ".join(
            "%s %.0f" % kv for kv in m["phase_seconds"].items()))
        L.append("")
    L += ["Total run: %.0f s." % result.get("total_seconds", 0), ""]
    return "\n".join(L), svg_plot(result)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("--docs", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
        "benchmarks"))
    a = ap.parse_args(argv)
    with open(a.json) as f:
        result = json.load(f)
    stem = "gpu-%s-%s" % (result["date"], gpu_slug(result["environment"].get("gpu")))
    md, svg = render(result, stem + ".svg")
    os.makedirs(a.docs, exist_ok=True)
    for ext, text in (("md", md), ("svg", svg)):
        with open(os.path.join(a.docs, stem + "." + ext), "w") as f:
            f.write(text)
        print("wrote", os.path.join(a.docs, stem + "." + ext))
    return 0


if __name__ == "__main__":
    sys.exit(main())
