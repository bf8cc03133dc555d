#!/usr/bin/env python3
"""Kernel-level check and benchmark of the fused decode GEMVs (CUDA).

The end-to-end check (gpu_check.py) needs packed weights; this one tests the
fused GEMV kernels (lib/Target/Cuda/Kernels/FusedGemv.cpp, LinearSpec's
contract) on their own: each case is a tiny decode step around one
tfm.fused_linear / tfm.fused_qkv / tfm.linear, compiled HERE to PTX (and a
sm_90 cubin when ptxas is installed); THERE (the GPU machine, CuPy + numpy)
the case's kernel is launched on random inputs and compared with a float64
numpy reference of LinearSpec's semantics, including quantized planes
(docs/packed-weights-format.md), guard bytes past every output and the KV
cache rows that must stay untouched. Bench cases time 7B-shaped GEMVs in a
CUDA graph, cycling through enough weight copies to defeat the L2.

    python/monocard/gemv_check.py prepare [--compiler build/bin/monocard-compile]
        [--out .devbin/gemv-check]
    python3 python/monocard/gemv_check.py run --dir .devbin/gemv-check --out DIR
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
PTXAS = "/usr/local/cuda/bin/ptxas"


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def case(name, n, k, t="f16", w=None, group=None, scale="f16", bias=False,
         norm=False, swiglu=False, residual=False, qkv=None, plain=False,
         bench=False, tune=""):
    """qkv = (heads, kv_heads, head_dim, capacity); plain: a tfm.linear;
    tune: the compiler's --gemv-tune (bench variants)."""
    return dict(name=name, n=n, k=k, t=t, w=w or t, group=group, scale=scale,
                bias=bias, norm=norm, swiglu=swiglu, residual=residual,
                qkv=qkv, plain=plain, bench=bench, tune=tune)


# Launch-shape variants of the GEMV to time (monocard-compile --gemv-tune);
# "" is the compiled-in default.
TUNES = ["", "u=4,bps=2,persist=1,roll=1", "u=2,bps=2,persist=1,roll=0",
         "u=4,bps=2,persist=1,roll=0"]


def cases():
    c = [
        # Float weights: shared-memory x, norm, epilogues, partial blocks.
        case("f32_plain", 40, 64, "f32"),
        case("f16_norm_res", 96, 256, "f16", norm=True, residual=True),
        case("bf16_bias_swiglu", 136, 256, "bf16", bias=True, swiglu=True,
             norm=True),
        case("f16_k100", 37, 100, "f16", bias=True),   # epv 4, odd n
        case("f16_k75_norm", 18, 75, "f16", norm=True),  # epv 1: global x
        case("f16_k4096_multistep", 64, 4096, "f16", norm=True),
        case("f16_k14336_global_norm", 48, 14336, "f16", norm=True,
             residual=True),                           # x past 48 KiB
        # int4: groups, a short last group and chunk (K = 688), one group,
        # several steps, the global-x path.
        case("i4_k256_g128", 64, 256, "f32", "i4", 128, "f32", residual=True),
        case("i4_k688_g128_res", 256, 688, "f16", "i4", 128, "f16",
             residual=True),
        case("i4_k688_g128_norm_swiglu", 80, 688, "bf16", "i4", 128, "f16",
             norm=True, swiglu=True, bias=True),
        case("i4_k48_g48", 34, 48, "f16", "i4", 48, "f16"),
        case("i4_k4096_g64", 48, 4096, "f16", "i4", 64, "f16", norm=True),
        case("i4_k11008_g128", 32, 11008, "f16", "i4", 128, "f16",
             residual=True),
        case("i4_k14336_g128_norm", 32, 14336, "f16", "i4", 128, "f16",
             norm=True),
        case("i4_plain_linear", 50, 512, "f16", "i4", 128, "f16", bias=True,
             plain=True),
        # int8: per channel (group = K).
        case("i8_k688", 64, 688, "f16", "i8", 688, "f16", residual=True),
        case("i8_k100_norm", 21, 100, "f32", "i8", 100, "f32", norm=True),
        case("i8_k4096_swiglu", 64, 4096, "bf16", "i8", 4096, "f16",
             swiglu=True, norm=True),
        # qkv: RoPE, the caches, GQA, bias.
        case("qkv_f16", (4 + 2 * 2) * 32, 256, "f16", norm=True,
             qkv=(4, 2, 32, 64)),
        case("qkv_f32_bias", (2 + 2 * 2) * 16, 64, "f32", bias=True,
             qkv=(2, 2, 16, 16)),
        case("qkv_i4", (8 + 2 * 4) * 32, 256, "f32", "i4", 128, "f32",
             norm=True, qkv=(8, 4, 32, 256)),
        case("qkv_i8_bias", (4 + 2 * 2) * 64, 320, "f16", "i8", 320, "f16",
             bias=True, norm=True, qkv=(4, 2, 64, 32)),
    ]
    # Persistent blocks: warps loop over several row pairs, the next pair's
    # loads in flight; every launch variant.
    c += [
        case("multi_f16_norm", 4401, 2048, "f16", norm=True, bias=True),
        case("multi_i8_swiglu", 4400, 1024, "bf16", "i8", 1024, "f16",
             norm=True, swiglu=True),
    ]
    for ti, tune in enumerate(TUNES):
        c.append(case(f"multi_i4_res_t{ti}", 6000, 4096, "f16", "i4", 128,
                      "f16", residual=True, tune=tune))
        c.append(case(f"multi_qkv_i4_t{ti}", 3 * 2048, 2048, "bf16", "i4",
                      128, "f16", norm=True, qkv=(16, 16, 128, 64),
                      tune=tune))
    # 7B-shaped benchmarks (Llama-2-7B: hidden 4096, MLP 11008, 32 heads).
    for ti, tune in enumerate(TUNES):
        sfx = "" if not tune else "_t%d" % ti
        for w, g in (("f16", None), ("i8", 4096), ("i4", 128)):
            kw = dict(bench=True, tune=tune)
            c.append(case(f"bench_qkv_{w}{sfx}", 3 * 4096, 4096, "f16", w, g,
                          norm=True, qkv=(32, 32, 128, 256), **kw))
            c.append(case(f"bench_o_{w}{sfx}", 4096, 4096, "f16", w, g,
                          residual=True, **kw))
            c.append(case(f"bench_gateup_{w}{sfx}", 2 * 11008, 4096, "f16", w,
                          g, norm=True, swiglu=True, **kw))
            c.append(case(f"bench_down_{w}{sfx}", 4096, 11008, "f16", w,
                          11008 if w == "i8" else g, residual=True, **kw))
    # Llama-3-8B's down projection: x does not fit shared memory.
    c.append(case("bench_down14336_i4", 4096, 14336, "f16", "i4", 128,
                  residual=True, bench=True))
    c.append(case("bench_down14336_old_f16", 4096, 14336, "f16", plain=True,
                  bench=True))
    # Today's unfused f16 GEMV on the same shapes.
    for nm, n, k in (("qkv", 3 * 4096, 4096), ("o", 4096, 4096),
                     ("gateup", 2 * 11008, 4096), ("down", 4096, 11008)):
        c.append(case(f"bench_{nm}_old_f16", n, k, "f16", plain=True,
                      bench=True))
    return c


# --------------------------------------------------------------------------
# Prepare (here): tfm modules -> PTX / cubin + manifest
# --------------------------------------------------------------------------

def width(c):
    if c["qkv"]:
        h, _, d, _ = c["qkv"]
        return h * d
    return c["n"] // 2 if c["swiglu"] else c["n"]


def weight_type(c):
    n, k = c["n"], c["k"]
    if c["w"] in ("i4", "i8"):
        return (f"!tfm.qweight<{n}x{k}x{c['w']}, group = {c['group']}, "
                f"scale = {c['scale']}>")
    return f"tensor<{n}x{k}x{c['w']}>"


def module_text(c):
    t, n, k, wd = c["t"], c["n"], c["k"], width(c)
    wt = weight_type(c)
    lines = [
        "module attributes {tfm.model = {architecture = \"LlamaForCausalLM\","
        " prefill_chunk = 1 : i64}} {",
        f"  func.func @decode(%tokens: tensor<1xi32>, %pos: index) -> "
        f"tensor<1x16x{t}> {{",
        f"    %emb = tfm.param @emb : tensor<16x{k}x{t}>",
        f"    %x = tfm.embedding %emb[%tokens] : tensor<16x{k}x{t}>, "
        f"tensor<1xi32> -> tensor<1x{k}x{t}>",
        f"    %w = tfm.param @w : {wt}",
    ]
    extra = ""
    if c["bias"]:
        lines.append(f"    %b = tfm.param @b : tensor<{n}x{t}>")
        extra += f" bias(%b : tensor<{n}x{t}>)"
    if c["plain"]:
        bias = f", %b" if c["bias"] else ""
        btype = f", tensor<{n}x{t}>" if c["bias"] else ""
        lines.append(f"    %y = tfm.linear %x, %w{bias} : tensor<1x{k}x{t}>, "
                     f"{wt}{btype} -> tensor<1x{n}x{t}>")
    else:
        attrs = []
        if c["norm"]:
            lines.append(f"    %g = tfm.param @g : tensor<{k}x{t}>")
            extra += f" norm(%g : tensor<{k}x{t}>)"
            attrs.append("eps = 1.0e-05 : f64")
        if c["qkv"]:
            h, hkv, d, s = c["qkv"]
            ct = f"tensor<{hkv}x{s}x{d}x{t}>"
            attrs.append("theta = 10000.0 : f64")
            lines += [
                f"    %kc = tfm.kv_cache key[0] : {ct}",
                f"    %vc = tfm.kv_cache value[0] : {ct}",
                f"    %q, %kc2, %vc2 = tfm.fused_qkv %x, %w{extra} into %kc, "
                f"%vc[%pos] {{{', '.join(attrs)}}} : tensor<1x{k}x{t}>, {wt}, "
                f"{ct} -> tensor<1x{h}x{d}x{t}>",
                f"    %y = tensor.collapse_shape %q [[0], [1, 2]] : "
                f"tensor<1x{h}x{d}x{t}> into tensor<1x{wd}x{t}>",
            ]
        else:
            if c["residual"]:
                lines += [
                    f"    %remb = tfm.param @remb : tensor<16x{wd}x{t}>",
                    f"    %r = tfm.embedding %remb[%tokens] : "
                    f"tensor<16x{wd}x{t}>, tensor<1xi32> -> "
                    f"tensor<1x{wd}x{t}>",
                ]
                extra += f" residual(%r : tensor<1x{wd}x{t}>)"
            if c["swiglu"]:
                attrs.append("swiglu")
            a = f" {{{', '.join(attrs)}}}" if attrs else ""
            lines.append(f"    %y = tfm.fused_linear %x, %w{extra}{a} : "
                         f"tensor<1x{k}x{t}>, {wt} -> tensor<1x{wd}x{t}>")
    lines += [
        f"    %wo = tfm.param @wo : tensor<16x{wd}x{t}>",
        f"    %logits = tfm.linear %y, %wo : tensor<1x{wd}x{t}>, "
        f"tensor<16x{wd}x{t}> -> tensor<1x16x{t}>",
        f"    return %logits : tensor<1x16x{t}>",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def prepare(args):
    out = os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    manifest = []
    for c in cases():
        src = os.path.join(out, c["name"] + ".mlir")
        with open(src, "w") as f:
            f.write(module_text(c))
        env = dict(os.environ)
        tune = ["--gemv-tune=" + c["tune"]] if c["tune"] else []
        listing = subprocess.run(
            [args.compiler, src, "--target=cuda", "--emit=kernels"] + tune,
            capture_output=True, text=True, env=env)
        if listing.returncode:
            sys.exit(f"{c['name']}: {listing.stderr}")
        kernel = None
        for line in listing.stdout.splitlines():
            parts = line.split()
            if not parts:
                continue
            name = parts[0]
            want = "gemv_n%d_k%d_" % (c["n"], c["k"]) if c["plain"] and \
                c["w"] not in ("i4", "i8") else "fgemv_"
            if name.startswith(want):
                grid = [int(v) for v in line.split("grid (")[1].split(")")[0]
                        .split(",")]
                block = [int(v) for v in
                         line.split("block (")[1].split(")")[0].split(",")]
                kernel = dict(kernel=name, grid=grid, block=block)
                # "persistent B/SM LO..HI": the launcher sizes grid[0]
                # from the GPU's SM count (docs/runtime-abi.md).
                if " persistent " in line:
                    p = line.split(" persistent ")[1].split()
                    lo, hi = p[1].split("..")
                    kernel["persistent"] = [int(p[0].split("/")[0]),
                                            int(lo), int(hi)]
                break
        if not kernel:
            sys.exit(f"{c['name']}: no GEMV in\n{listing.stdout}")
        ptx = os.path.join(out, c["name"] + ".ptx")
        r = subprocess.run([args.compiler, src, "--target=cuda", "--emit=ptx",
                            "-o", ptx] + tune, capture_output=True, text=True,
                           env=env)
        if r.returncode:
            sys.exit(f"{c['name']}: {r.stderr}")
        module = c["name"] + ".ptx"
        if os.path.exists(PTXAS):
            cubin = os.path.join(out, c["name"] + ".cubin")
            r = subprocess.run([PTXAS, "-arch=sm_90", "-v", ptx, "-o", cubin],
                               capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"{c['name']}: ptxas: {r.stderr}")
            info = r.stderr.split("entry function '%s'" % kernel["kernel"])
            info = info[-1].split("Compiling entry")[0].splitlines()
            kernel["ptxas"] = "; ".join(
                l.split(":", 1)[-1].strip() if "Used" in l else l.strip()
                for l in info if "Used" in l or "spill" in l)
            module = c["name"] + ".cubin"
            os.remove(ptx)
        os.remove(src)
        c.update(kernel, module=module)
        manifest.append(c)
        print(f"{c['name']:32s} {kernel['kernel']}  {kernel.get('ptxas', '')}")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# --------------------------------------------------------------------------
# Run (there): CuPy launches against a numpy reference
# --------------------------------------------------------------------------

def copy_bandwidth(cp):
    """Achievable bandwidth: a large device-to-device copy (read + write)."""
    a = cp.empty(1 << 30, cp.uint8)
    b2 = cp.empty_like(a)
    cp.copyto(b2, a)
    cp.cuda.Device().synchronize()
    s, e = cp.cuda.Event(), cp.cuda.Event()
    s.record()
    for _ in range(10):
        cp.copyto(b2, a)
    e.record()
    e.synchronize()
    copy_bw = 2 * 10 * (1 << 30) / (cp.cuda.get_elapsed_time(s, e) / 1e3)
    print(f"copy bandwidth (read+write): {copy_bw / 1e12:.2f} TB/s",
          flush=True)
    return copy_bw


def run(args):
    import numpy as np
    import cupy as cp

    with open(os.path.join(args.dir, "manifest.json")) as f:
        manifest = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(1234)
    report = []
    # Persistent grids as the launcher sizes them on this GPU.
    sms = cp.cuda.Device().attributes["MultiProcessorCount"]
    for c in manifest:
        if c.get("persistent"):
            bps, lo, hi = c["persistent"]
            c["grid"][0] = min(max(bps * sms, lo), hi)

    def bf16_bits(a):
        a = np.asarray(a, np.float32)
        u = a.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return u.astype(np.uint16)

    def from_bf16(bits):
        return (bits.astype(np.uint32) << 16).view(np.float32)

    def store(a, t):
        """(host storage array, its float64 value)"""
        if t == "f32":
            s = np.asarray(a, np.float32)
            return s, s.astype(np.float64)
        if t == "f16":
            s = np.asarray(a, np.float16)
            return s, s.astype(np.float64)
        s = bf16_bits(a)
        return s, from_bf16(s).astype(np.float64)

    def value(s, t):
        return from_bf16(s).astype(np.float64) if t == "bf16" else \
            s.astype(np.float64)

    GUARD = 64

    def device(host):
        """Device copy with GUARD elements of a sentinel after it."""
        g = np.concatenate([host.ravel(), np.full(GUARD, 0x5A5A if
                                                  host.dtype == np.uint16 else
                                                  77, host.dtype)])
        return cp.asarray(g)

    def quantized(c):
        n, k, bits, group = c["n"], c["k"], int(c["w"][1]), c["group"]
        row_bytes = ((k * bits + 7) // 8 + 15) // 16 * 16
        groups = (k + group - 1) // group
        codes = np.zeros((n, row_bytes), np.uint8)
        if bits == 4:
            q = rng.integers(0, 16, (n, k))
            zero = rng.integers(0, 16, (n, groups)).astype(np.float64)
            qp = np.zeros((n, (k + 1) // 2 * 2), np.int64)
            qp[:, :k] = q
            codes[:, :(k + 1) // 2] = (qp[:, 0::2] | (qp[:, 1::2] << 4))
        else:
            q = rng.integers(-127, 128, (n, k))
            zero = np.zeros((n, groups))
            codes[:, :k] = (q & 0xFF).astype(np.uint8)
        scale_s, scale = store(rng.uniform(0.005, 0.03, (n, groups)),
                               c["scale"])
        zs, zero = store(zero, c["scale"])
        plane = np.stack([scale_s, zs], axis=-1)
        gi = np.arange(k) // group
        dense = (q - zero[:, gi]) * scale[:, gi]
        return [codes, plane], dense

    def check_case(c):
        n, k, t, wd = c["n"], c["k"], c["t"], width(c)
        x_s, x = store(rng.standard_normal(k) * 1.5, t)
        if c["w"] in ("i4", "i8"):
            wargs, W = quantized(c)
        else:
            w_s, W = store(rng.standard_normal((n, k)) / np.sqrt(k), c["w"])
            wargs = [w_s]
        args = [x_s] + wargs
        if c["bias"]:
            b_s, bias = store(rng.standard_normal(n) * 0.1, t)
            args.append(b_s)
        if c["norm"]:
            g_s, g = store(1 + rng.standard_normal(k) * 0.2, t)
            args.append(g_s)
        if c["residual"] and not c["plain"]:
            r_s, res = store(rng.standard_normal(wd), t)
            args.append(r_s)
        y_s = store(np.zeros(wd), t)[0]
        args.append(y_s)
        pos = 0
        if c["qkv"]:
            h, hkv, d, cap = c["qkv"]
            kc_s = store(np.full((hkv, cap, d), 3.0), t)[0]
            vc_s = store(np.full((hkv, cap, d), -3.0), t)[0]
            pos = int(rng.integers(0, cap))
            sc = np.zeros(8, np.int32)
            sc[0] = pos
            args += [kc_s, vc_s, sc]
        dev = [device(a) for a in args]
        xs = x
        if c["norm"]:
            xs = x / np.sqrt(np.mean(x * x) + 1e-5) * g
        z = W @ xs
        if c["bias"]:
            z = z + bias
        outputs = {}
        if c["qkv"]:
            h, hkv, d, cap = c["qkv"]
            half = d // 2
            inv = (np.float32(1) / np.power(
                np.float32(10000.0),
                np.arange(0, half, dtype=np.float32) * 2 / np.float32(d))
                   ).astype(np.float32)
            ang = (np.float32(pos) * inv).astype(np.float32).astype(np.float64)
            cos, sin = np.cos(ang), np.sin(ang)

            def rope(part, heads):
                p = part.reshape(heads, half, 2)
                lo = p[..., 0] * cos - p[..., 1] * sin
                hi = p[..., 1] * cos + p[..., 0] * sin
                return np.concatenate([lo, hi], axis=-1)

            q = rope(z[:h * d], h)
            kk = rope(z[h * d:(h + hkv) * d], hkv)
            vv = z[(h + hkv) * d:].reshape(hkv, d)
            kref = np.full((hkv, cap, d), 3.0)
            vref = np.full((hkv, cap, d), -3.0)
            kref[:, pos, :] = kk
            vref[:, pos, :] = vv
            outputs = {"query": (len(args) - 4, q.ravel()),
                       "key_cache": (len(args) - 3, kref.ravel()),
                       "value_cache": (len(args) - 2, vref.ravel())}
        else:
            y = z
            if c["swiglu"]:
                gz, uz = z[0::2], z[1::2]
                y = gz / (1 + np.exp(-gz)) * uz
            if c["residual"] and not c["plain"]:
                y = y + res
            outputs = {"y": (len(args) - 1, y)}
        mod = cp.RawModule(path=os.path.join(args_dir, c["module"]))
        fn = mod.get_function(c["kernel"])
        fn(tuple(c["grid"]), tuple(c["block"]), tuple(dev))
        cp.cuda.Device().synchronize()
        tol = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.2e-2}[t]
        worst, ok, notes = 0.0, True, []
        for key, (i, ref) in outputs.items():
            got_all = cp.asnumpy(dev[i])
            got = value(got_all[:ref.size], t)
            guard = got_all[ref.size:]
            if not np.all(guard == guard[0]) or (
                    guard.dtype != np.uint16 and guard[0] != 77) or (
                    guard.dtype == np.uint16 and guard[0] != 0x5A5A):
                ok = False
                notes.append(f"{key}: guard overwritten")
            scale_ref = max(1e-6, np.max(np.abs(ref)))
            err = float(np.max(np.abs(got - ref)) / scale_ref)
            if not np.all(np.isfinite(got)):
                err = float("inf")
            worst = max(worst, err)
            if err > tol:
                ok = False
                bad = int(np.argmax(np.abs(got - ref)))
                notes.append(f"{key}: rel err {err:.2e} at {bad}: got "
                             f"{got[bad]:.6g} want {ref[bad]:.6g}")
        if c["qkv"]:
            # A position past the cache: q is still written, caches are not.
            h, hkv, d, cap = c["qkv"]
            sc = dev[-1]
            sc[0] = cap
            before = [cp.asnumpy(dev[i]) for i in (len(args) - 3,
                                                    len(args) - 2)]
            fn(tuple(c["grid"]), tuple(c["block"]), tuple(dev))
            cp.cuda.Device().synchronize()
            after = [cp.asnumpy(dev[i]) for i in (len(args) - 3,
                                                   len(args) - 2)]
            if any(not np.array_equal(a, b) for a, b in zip(before, after)):
                ok = False
                notes.append("pos == capacity wrote the cache")
        return ok, worst, tol, notes

    def bench_case(c):
        n, k, t, wd = c["n"], c["k"], c["t"], width(c)
        if c["w"] in ("i4", "i8"):
            bits = int(c["w"][1])
            row_bytes = ((k * bits + 7) // 8 + 15) // 16 * 16
            groups = (k + c["group"] - 1) // c["group"]
            wbytes = n * row_bytes + n * groups * 2 * 2
        else:
            wbytes = n * k * 2
        copies = max(2, -(-(512 << 20) // wbytes))
        pool = []
        for _ in range(copies):
            if c["w"] in ("i4", "i8"):
                codes = cp.random.randint(0, 256, n * row_bytes,
                                          dtype=cp.int32).astype(cp.uint8)
                plane = (cp.random.random(n * groups * 2, dtype=cp.float32)
                         * 0.01).astype(cp.float16)
                pool.append([codes, plane])
            else:
                pool.append([(cp.random.standard_normal(n * k,
                                                        dtype=cp.float32) *
                              0.02).astype(cp.float16)])
        x = (cp.random.standard_normal(k, dtype=cp.float32)).astype(
            cp.float16)
        rest = []
        if c["norm"]:
            rest.append(cp.ones(k, cp.float16))
        if c["residual"] and not c["plain"]:
            rest.append(cp.zeros(wd, cp.float16))
        rest.append(cp.zeros(wd, cp.float16))
        if c["qkv"]:
            h, hkv, d, cap = c["qkv"]
            rest += [cp.zeros(hkv * cap * d, cp.float16),
                     cp.zeros(hkv * cap * d, cp.float16),
                     cp.zeros(8, cp.int32)]
        mod = cp.RawModule(path=os.path.join(args_dir, c["module"]))
        fn = mod.get_function(c["kernel"])
        grid, block = tuple(c["grid"]), tuple(c["block"])
        stream = cp.cuda.Stream(non_blocking=True)
        reps = 200
        with stream:
            for i in range(copies):  # warm-up
                fn(grid, block, tuple([x] + pool[i] + rest))
            stream.synchronize()
            stream.begin_capture()
            for i in range(reps):
                fn(grid, block, tuple([x] + pool[i % copies] + rest))
            graph = stream.end_capture()
            graph.launch(stream)
            stream.synchronize()
            start, end = cp.cuda.Event(), cp.cuda.Event()
            start.record(stream)
            for _ in range(3):
                graph.launch(stream)
            end.record(stream)
            end.synchronize()
        us = cp.cuda.get_elapsed_time(start, end) * 1000 / (3 * reps)
        return us, wbytes

    args_dir = args.dir
    props = cp.cuda.runtime.getDeviceProperties(0)
    print("device:", props["name"].decode(), flush=True)
    if args.skip_bench:
        manifest = [c for c in manifest if not c["bench"]]
    copy_bw = 1.0
    if any(c["bench"] for c in manifest):
        copy_bw = copy_bandwidth(cp)
    failures = 0
    for c in manifest:
        try:
            if c["bench"]:
                us, wbytes = bench_case(c)
                bw = wbytes / (us * 1e-6)
                line = (f"BENCH {c['name']:28s} {us:8.2f} us  "
                        f"{wbytes / 1e6:8.2f} MB  {bw / 1e12:5.2f} TB/s  "
                        f"({100 * bw / copy_bw:5.1f}% of copy)  "
                        f"[{c.get('ptxas', '')}]")
                report.append(dict(name=c["name"], us=us, bytes=wbytes,
                                   tbps=bw / 1e12))
            else:
                ok, worst, tol, notes = check_case(c)
                failures += 0 if ok else 1
                line = (f"{'PASS' if ok else 'FAIL'}  {c['name']:28s} "
                        f"rel err {worst:.2e} (tol {tol:.0e}) "
                        + "; ".join(notes))
                report.append(dict(name=c["name"], ok=ok, err=worst,
                                   notes=notes))
        except Exception as ex:  # keep going: one report for every case
            failures += 1
            line = f"ERROR {c['name']}: {type(ex).__name__}: {ex}"
            report.append(dict(name=c["name"], ok=False, error=str(ex)))
        print(line, flush=True)
    # A Llama-2-7B layer's four GEMVs, per weight type and launch variant,
    # against today's unfused f16 GEMV.
    times = {r["name"]: r["us"] for r in report if "us" in r}
    old = sum(times.get("bench_%s_old_f16" % p, 0)
              for p in ("qkv", "o", "gateup", "down"))
    for ti, tune in enumerate(TUNES):
        sfx = "" if not tune else "_t%d" % ti
        for w in ("f16", "i8", "i4"):
            parts = [times.get("bench_%s_%s%s" % (p, w, sfx))
                     for p in ("qkv", "o", "gateup", "down")]
            if None in parts or not old:
                continue
            tot = sum(parts)
            print(f"LAYER {w:4s} {tune or 'default':22s} {tot:8.2f} us  "
                  f"x{old / tot:4.2f} vs old f16 ({old:.2f} us)")
    with open(os.path.join(args.out, "gemv-check.json"), "w") as f:
        json.dump(dict(copy_tbps=copy_bw / 1e12, cases=report), f, indent=1)
    print(f"{failures} failures")
    return 1 if failures else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--compiler", default=os.path.join(
        REPO, "build", "bin", "monocard-compile"))
    pp.add_argument("--out", default=os.path.join(REPO, ".devbin",
                                                  "gemv-check"))
    pr = sub.add_parser("run")
    pr.add_argument("--dir", default=os.path.join(REPO, ".devbin",
                                                  "gemv-check"))
    pr.add_argument("--out", default=os.environ.get("OUT", "gemv-check-out"))
    pr.add_argument("--skip-bench", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "prepare":
        return prepare(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
