#!/usr/bin/env python3
"""The CUDA attention kernels alone, against a float64 reference, on the GPU.

Why this exists: the end-to-end check (gpu_check.py) runs small models
whose shapes exercise few of the attention kernels' paths.  This one builds
`tfm.attention` ops of many shapes -- head dims 4..256, GQA and MHA, f32,
f16 and bf16, causal and not, prefill chunks with padding rows, contexts
past the old 11k cap -- lowers each with monocard-opt to PTX here, and
launches the attention kernel by itself on the GPU machine (ctypes on
libcuda, buffers from torch), at several positions and valid-row counts.

Cache positions the op must not read are NaN, and so are the query rows
past n_valid: a kernel that reads past its keys, or lets a padding row
leak into another, fails.  rel = max |ours - ref| / max |ref| must be
within the storage type's rounding (TOLERANCE).  Cases marked `time` also
report the kernel's time (CUDA events, mean over repeated launches).

    attention_check.py prepare [--opt build/bin/monocard-opt]
        [--out .devbin/attention-check]           # here
    attention_check.py run [--dir .devbin/attention-check] [--out DIR]
                                                  # on the GPU machine
"""

import argparse
import ctypes
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

# (rows, heads, kv_heads, head_dim, capacity, dtype, causal,
#  [(pos, n_valid), ...], time)
CASES = [
    # Prefill chunks.
    (16, 4, 2, 16, 64, "f16", True, [(0, 16), (20, 5), (48, 16)], False),
    (64, 8, 2, 128, 1024, "bf16", True, [(0, 64), (300, 37), (960, 64)],
     False),
    (100, 4, 4, 80, 512, "f16", True, [(0, 100), (7, 65), (412, 100)],
     False),
    (48, 6, 2, 96, 256, "f32", True, [(0, 48), (100, 1), (208, 48)], False),
    (32, 4, 1, 64, 16384, "f16", True, [(0, 32), (12000, 32), (16352, 20)],
     False),
    (17, 2, 1, 256, 128, "f32", True, [(0, 17), (111, 9)], False),
    (8, 8, 2, 8, 128, "f32", True, [(0, 8), (4, 3), (120, 8)], False),
    (24, 4, 2, 64, 128, "f16", False, [(0, 24), (30, 11), (104, 24)], False),
    (40, 2, 2, 4, 96, "bf16", True, [(0, 40), (56, 33)], False),
    (1, 4, 2, 64, 64, "f16", True, [(0, 1), (10, 1), (10, 0)], False),
    (512, 32, 8, 128, 4096, "f16", True, [(0, 512), (1000, 300), (3584, 512)],
     True),
    # Decode.
    (1, 4, 2, 16, 64, "f16", True, [(0, None), (17, None), (63, None)],
     True),
    (1, 32, 8, 128, 8192, "f16", True,
     [(0, None), (5, None), (100, None), (4095, None), (8191, None)], True),
    (1, 14, 2, 64, 32768, "bf16", True,
     [(0, None), (31, None), (20000, None), (32767, None)], True),
    (1, 8, 8, 80, 2048, "f32", True, [(0, None), (777, None), (2047, None)],
     False),
    (1, 12, 4, 96, 300, "f16", True, [(0, None), (150, None), (299, None)],
     False),
    (1, 4, 1, 256, 512, "f32", True, [(0, None), (300, None)], False),
    (1, 4, 1, 256, 1024, "f16", True, [(3, None), (1000, None)], False),
    (1, 8, 2, 8, 128, "bf16", True, [(0, None), (64, None), (127, None)],
     False),
    (1, 2, 2, 4, 4096, "f32", False, [(1, None), (4000, None)], False),
    # Timing at common shapes (Llama-3-8B's and Qwen2-0.5B's heads).
    (1, 32, 8, 128, 2048, "bf16", True,
     [(31, None), (255, None), (2047, None)], True),
    (1, 14, 2, 64, 4096, "bf16", True, [(63, None), (511, None),
                                        (4095, None)], True),
    (64, 32, 8, 128, 2048, "bf16", True, [(0, 64), (1984, 64)], True),
]

TOLERANCE = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}
PIPELINE = ("builtin.module(nvvm-attach-target{module=monocard_kernels "
            "chip=sm_80 features=+ptx80 O=3},gpu.module(convert-scf-to-cf,"
            "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1},"
            "gpu-extern-dynamic-shared,canonicalize,cse,reconcile-unrealized-casts),"
            "gpu-module-to-binary{format=isa})")


def case_key(c):
    T, H, KV, D, S, dt, causal = c[:7]
    return "r%d_h%d_kv%d_d%d_s%d_%s%s" % (T, H, KV, D, S, dt,
                                          "" if causal else "_nc")


def module_text(T, H, KV, D, S, dt, causal, decode=False):
    """A step function around one tfm.attention (the lowering wants a
    whole step: tokens -> logits): `prefill` with n_valid, or `decode`."""
    HD = H * D
    qt = "tensor<%dx%dx%dx%s>" % (T, H, D, dt)
    ct = "tensor<%dx%dx%dx%s>" % (KV, S, D, dt)
    L = ['module attributes {tfm.model = {architecture = "LlamaForCausalLM", '
         'prefill_chunk = %d : i64}} {' % T,
         '  func.func @%s(%%t: tensor<%dxi32>, %%p: index%s) -> '
         'tensor<1x8x%s> {' % ("decode" if decode else "prefill", T,
                               "" if decode else ", %n: index", dt),
         '    %%w = tfm.param @w : tensor<16x%dx%s>' % (HD, dt),
         '    %%x = tfm.embedding %%w[%%t] : tensor<16x%dx%s>, tensor<%dxi32> '
         '-> tensor<%dx%dx%s>' % (HD, dt, T, T, HD, dt),
         '    %%q = tensor.expand_shape %%x [[0], [1, 2]] output_shape '
         '[%d, %d, %d] : tensor<%dx%dx%s> into %s' % (T, H, D, T, HD, dt, qt),
         '    %%kc = tfm.kv_cache key[0] : %s' % ct,
         '    %%vc = tfm.kv_cache value[0] : %s' % ct,
         '    %%a = tfm.attention %%q, %%kc, %%vc[%%p] {scale = %r : f64, '
         'causal = %s} : %s, %s, %s -> %s' % (
             float(D ** -0.5), "true" if causal else "false", qt, ct, ct, qt),
         '    %%af = tensor.collapse_shape %%a [[0], [1, 2]] : %s into '
         'tensor<%dx%dx%s>' % (qt, T, HD, dt)]
    if decode:
        row = "0"
    else:
        L += ['    %c1 = arith.constant 1 : index',
              '    %r = arith.subi %n, %c1 : index']
        row = "%r"
    L += ['    %%s = tensor.extract_slice %%af[%s, 0] [1, %d] [1, 1] : '
          'tensor<%dx%dx%s> to tensor<1x%dx%s>' % (row, HD, T, HD, dt, HD, dt),
          '    %%wo = tfm.param @wo : tensor<8x%dx%s>' % (HD, dt),
          '    %%l = tfm.linear %%s, %%wo : tensor<1x%dx%s>, tensor<8x%dx%s> -> '
          'tensor<1x8x%s>' % (HD, dt, HD, dt, dt),
          '    return %%l : tensor<1x8x%s>' % dt,
          '  }', '}', '']
    return "\n".join(L)


def decode_mlir_string(s):
    return re.sub(r"\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)),
                  s)


def lower(opt, mlir, env=None, quiet=False):
    """((kernel, grid, block, smem), lowered text) of the attention launch
    in `mlir` after tfm-lower-to-gpu, or None."""
    r = subprocess.run([opt, mlir, "--tfm-layout-weights",
                        "--tfm-lower-to-gpu", "--canonicalize", "--cse"],
                       capture_output=True, text=True, env=env)
    if r.returncode:
        if not quiet:
            print("%s: lowering failed:\n%s" % (mlir, r.stderr[-2000:]))
        return None
    text = r.stdout
    consts = dict(re.findall(
        r"(%c\w*) = arith.constant (\d+) : (?:index|i32)", text))
    m = re.search(r"gpu.launch_func\s+@monocard_kernels::@(attention_\w+) "
                  r"blocks in \((%\w+), (%\w+), (%\w+)\) threads in "
                  r"\((%\w+), (%\w+), (%\w+)\)\s+"
                  r"(?:dynamic_shared_memory_size (%\w+) )?", text)
    grid = [int(consts[m.group(i)]) for i in (2, 3, 4)]
    block = [int(consts[m.group(i)]) for i in (5, 6, 7)]
    smem = int(consts[m.group(8)]) if m.group(8) else 0
    return (m.group(1), grid, block, smem), text


def parse_alts(a):
    """--old-opt and --alt as (label, opt, env, timed only, causal only)."""
    alts = []
    if a.old_opt:
        # The earlier kernel ignored `causal`: compare causal ops only.
        alts.append(("old", a.old_opt, None, False, True))
    for spec in a.alt:
        label, rest = spec.split("=", 1)
        parts = rest.split(",")
        env = dict(os.environ)
        env.update(p.split("=", 1) for p in parts[1:])
        alts.append((label, parts[0], env, True, False))
    return alts


def prepare(a):
    os.makedirs(a.out, exist_ok=True)
    alts = parse_alts(a)
    manifest = []
    for c in CASES:
        key = case_key(c)
        T, H, KV, D, S, dt, causal, points, timed = c
        # A decode-shaped case (T = 1, no n_valid) is a decode step.
        src = module_text(T, H, KV, D, S, dt, causal,
                          decode=T == 1 and points[0][1] is None)
        mlir = os.path.join(a.out, key + ".mlir")
        with open(mlir, "w") as f:
            f.write(src)
        low = lower(a.opt, mlir)
        if low is None:
            return 1
        (name, grid, block, smem), text = low
        ptx = subprocess.run([a.opt, "--pass-pipeline=" + PIPELINE],
                             input=text, capture_output=True, text=True)
        if ptx.returncode:
            print("%s: PTX failed:\n%s" % (key, ptx.stderr))
            return 1
        obj = re.search(r'assembly = "((?:[^"\\]|\\.)*)"', ptx.stdout)
        with open(os.path.join(a.out, key + ".ptx"), "w") as f:
            f.write(decode_mlir_string(obj.group(1)))
        entry = {"key": key, "kernel": name, "grid": grid, "block": block,
                 "smem": smem, "ptx": key + ".ptx", "rows": T, "heads": H,
                 "kv_heads": KV, "dim": D, "capacity": S, "dtype": dt,
                 "causal": causal, "points": points, "time": timed,
                 "has_n_valid": points[0][1] is not None}
        entry["alts"] = []
        for label, opt, env, timed_only, causal_only in alts:
            # Another build of the kernel for the same op (an earlier
            # compiler's, or other tile settings), timed on the same inputs.
            if (timed_only and not timed) or (causal_only and not causal):
                continue
            alt = lower(opt, mlir, env, quiet=True)
            if alt is None:
                continue
            (oname, ogrid, oblock, osmem), otext = alt
            pipeline = PIPELINE
            if "gpu-extern-dynamic-shared" not in subprocess.run(
                    [opt, "--help"], capture_output=True, text=True).stdout:
                pipeline = PIPELINE.replace("gpu-extern-dynamic-shared,", "")
            optx = subprocess.run([opt, "--pass-pipeline=" + pipeline],
                                  input=otext, capture_output=True, text=True,
                                  env=env)
            oobj = re.search(r'assembly = "((?:[^"\\]|\\.)*)"', optx.stdout)
            if optx.returncode or not oobj:
                continue
            fname = "%s.%s.ptx" % (key, label)
            with open(os.path.join(a.out, fname), "w") as f:
                f.write(decode_mlir_string(oobj.group(1)))
            entry["alts"].append({"label": label, "kernel": oname,
                                  "grid": ogrid, "block": oblock,
                                  "smem": osmem, "ptx": fname})
        os.remove(mlir)
        manifest.append(entry)
        print("%-28s %s grid %s block %s smem %d" % (key, name, grid, block,
                                                     smem))
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


# ------------------------------------------------------------ GPU side

class Cuda:
    def __init__(self):
        self.lib = ctypes.CDLL("libcuda.so.1")

    def check(self, r, what):
        if r != 0:
            raise RuntimeError("%s failed: CUDA error %d" % (what, r))

    def load(self, ptx):
        mod = ctypes.c_void_p()
        self.check(self.lib.cuModuleLoadData(ctypes.byref(mod),
                                             ctypes.c_char_p(ptx.encode())),
                   "cuModuleLoadData")
        return mod

    def function(self, mod, name, smem):
        fn = ctypes.c_void_p()
        self.check(self.lib.cuModuleGetFunction(ctypes.byref(fn), mod,
                                                name.encode()),
                   "cuModuleGetFunction " + name)
        if smem > 48 * 1024:
            # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            self.check(self.lib.cuFuncSetAttribute(fn, 8, smem),
                       "cuFuncSetAttribute")
        return fn

    def launch(self, fn, grid, block, smem, ptrs):
        vals = [ctypes.c_uint64(p) for p in ptrs]
        arr = (ctypes.c_void_p * len(vals))(
            *[ctypes.cast(ctypes.byref(v), ctypes.c_void_p) for v in vals])
        self.check(self.lib.cuLaunchKernel(
            fn, grid[0], grid[1], grid[2], block[0], block[1], block[2],
            smem, None, arr, None), "cuLaunchKernel")


def reference(torch, q, k, v, pos, T, causal, scale, n_valid):
    """float64 attention of q [T, H, D] over k, v [KV, S, D]."""
    H, KV, S = q.shape[1], k.shape[0], k.shape[1]
    group = H // KV
    qd = q.double().permute(1, 0, 2)                      # H T D
    kd = k.double().repeat_interleave(group, 0)           # H S D
    vd = v.double().repeat_interleave(group, 0)
    s = torch.einsum("htd,hsd->hts", qd, kd) * scale
    keys = torch.arange(S, device=q.device)
    rows = torch.arange(T, device=q.device)
    limit = (pos + rows if causal else
             torch.full_like(rows, pos + T - 1))
    mask = keys[None, :] <= limit[:, None]               # T S
    p = torch.softmax(s.masked_fill(~mask[None], float("-inf")), -1)
    out = torch.einsum("hts,hsd->htd", p, vd).permute(1, 0, 2)
    if n_valid is not None:
        out[n_valid:] = 0
    return out


def time_launches(torch, cuda, fn, launch, ptrs, reps=50):
    for _ in range(3):
        cuda.launch(fn, launch["grid"], launch["block"], launch["smem"], ptrs)
    t0 = torch.cuda.Event(enable_timing=True)
    t1 = torch.cuda.Event(enable_timing=True)
    t0.record()
    for _ in range(reps):
        cuda.launch(fn, launch["grid"], launch["block"], launch["smem"], ptrs)
    t1.record()
    torch.cuda.synchronize()
    return t0.elapsed_time(t1) * 1000.0 / reps


def run_case(torch, cuda, mc, kernels, device, gen):
    """kernels: [(label, function, launch dict)]: the kernel, then other
    builds of it (an earlier compiler's, other settings), all on the same
    inputs."""
    dt = {"f32": torch.float32, "f16": torch.float16,
          "bf16": torch.bfloat16}[mc["dtype"]]
    T, H, KV, D, S = (mc["rows"], mc["heads"], mc["kv_heads"], mc["dim"],
                      mc["capacity"])
    causal = mc["causal"]
    results = []
    for pos, n_valid in mc["points"]:
        nv = T if n_valid is None else n_valid
        q = (torch.randn(T, H, D, generator=gen, device=device) * 2.5).to(dt)
        k = torch.randn(KV, S, D, generator=gen, device=device).to(dt)
        v = torch.randn(KV, S, D, generator=gen, device=device).to(dt)
        # What the op may read: keys < min(pos + (live rows or T), S).
        live = nv if causal else T
        end = min(pos + live, S)
        k[:, end:] = float("nan")
        v[:, end:] = float("nan")
        ref_q = q.clone()
        if n_valid is not None:
            q[n_valid:] = float("nan")
        scalars = torch.zeros(8, dtype=torch.int32, device=device)
        scalars[0] = pos
        scalars[1] = nv
        ref = reference(torch, ref_q, k[:, :end].float(), v[:, :end].float(),
                        pos, T, causal, D ** -0.5, n_valid)
        mx = float(ref.abs().max())
        r = {"pos": pos, "n_valid": n_valid}
        for label, fn, launch in kernels:
            out = torch.full((T, H, D), float("nan"), dtype=dt, device=device)
            ptrs = [q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(),
                    scalars.data_ptr()]
            cuda.launch(fn, launch["grid"], launch["block"], launch["smem"],
                        ptrs)
            torch.cuda.synchronize()
            o = out.double()
            finite = bool(torch.isfinite(o).all())
            err = float((o - ref).abs().max()) if finite else float("inf")
            rel = err / mx if mx > 0 else err
            sfx = "" if label == "new" else "_" + label
            r["rel" + sfx] = rel
            r["ok" + sfx] = finite and rel <= TOLERANCE[mc["dtype"]]
            if mc["time"]:
                us = time_launches(torch, cuda, fn, launch, ptrs)
                r["us" + sfx] = round(us, 2)
                esz = torch.tensor([], dtype=dt).element_size()
                if T == 1:
                    r["GBps" + sfx] = round(2 * KV * end * D * esz / us / 1e3,
                                            1)
                else:
                    keys = sum(min(pos + i + 1, S) for i in range(nv)) \
                        if causal else nv * end
                    r["TFLOPs" + sfx] = round(4.0 * H * D * keys / us / 1e6,
                                              3)
        results.append(r)
    return results


def fmt_point(r):
    if "error" in r:
        return r["error"]
    t = "pos %s nv %s rel %.2e" % (r["pos"], r["n_valid"], r["rel"])
    if "us" in r:
        t += " %.1f us" % r["us"]
        t += (" %.0f GB/s" % r["GBps"]) if "GBps" in r else \
            (" %.2f TFLOP/s" % r["TFLOPs"])
    for k in sorted(r):
        if k.startswith("rel_"):
            lb = k[4:]
            t += " [%s: rel %.2e%s%s]" % (
                lb, r[k], "" if r["ok_" + lb] else " FAIL",
                (" %.1f us" % r["us_" + lb]) if "us_" + lb in r else "")
    return t


def run(a):
    import torch
    with open(os.path.join(a.dir, "manifest.json")) as f:
        manifest = json.load(f)
    cuda = Cuda()
    device = "cuda"
    torch.zeros(1, device=device)  # the primary context, current here
    gen = torch.Generator(device=device)
    gen.manual_seed(7)
    report = {"gpu": torch.cuda.get_device_name(0), "cases": []}
    failed = 0
    for mc in manifest:
        try:
            kernels = []
            for label, launch in [("new", mc)] + [
                    (alt["label"], alt) for alt in mc.get("alts", [])]:
                with open(os.path.join(a.dir, launch["ptx"])) as f:
                    mod = cuda.load(f.read())
                kernels.append((label, cuda.function(mod, launch["kernel"],
                                                     launch["smem"]), launch))
            res = run_case(torch, cuda, mc, kernels, device, gen)
        except Exception as e:  # report, go on
            res = [{"ok": False, "error": "%s: %s" % (type(e).__name__, e)}]
        # The case passes on the new kernel; other builds are reported.
        ok = all(r["ok"] for r in res)
        failed += not ok
        report["cases"].append({"key": mc["key"], "kernel": mc["kernel"],
                                "grid": mc["grid"], "block": mc["block"],
                                "smem": mc["smem"], "ok": ok,
                                "points": res})
        print("%-28s %s  %s" % (mc["key"], "OK  " if ok else "FAIL",
                                "\n      ".join(fmt_point(r) for r in res)),
              flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "attention-check.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("attention kernels: %d of %d cases failed" % (failed,
                                                        len(manifest)))
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="attention_check.py",
                                description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--opt", default=os.path.join(REPO, "build", "bin",
                                                  "monocard-opt"))
    pp.add_argument("--out", default=os.path.join(REPO, ".devbin",
                                                  "attention-check"))
    pp.add_argument("--old-opt", default=None,
                    help="a monocard-opt of an earlier commit: its attention "
                    "kernels run beside the new ones where it builds them "
                    "(label old)")
    pp.add_argument("--alt", action="append", default=[],
                    help="LABEL=OPT[,VAR=VALUE...]: another monocard-opt (or "
                    "the same one in another environment) whose kernels run "
                    "beside the timed cases' kernels")
    pr = sub.add_parser("run")
    pr.add_argument("--dir", default=".devbin/attention-check")
    pr.add_argument("--out", default=os.environ.get("OUT") or
                    "attention-check-out")
    a = p.parse_args(argv)
    return prepare(a) if a.cmd == "prepare" else run(a)


if __name__ == "__main__":
    sys.exit(main())
