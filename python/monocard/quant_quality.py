#!/usr/bin/python3
"""What weight quantization costs the demo model: a table and a CI gate.

Why this exists: `monocard-compile --quant=int8|int4` trades bits for
quality, and only a measurement says how much.  This compiles the demo model
(examples/fortune-llama) for the CPU once per quantization, packs its
weights with the program's own `--pack`, scores the held-out fortunes
(examples/fortune-llama/heldout.txt) with `<exe> --perplexity FILE --json`,
and reports per build:

  bits/weight      packed weights bytes * 8 / packed elements (all tensors:
                   embeddings, norms and lm_head included, padding too)
  perplexity       teacher-forced, per document ([bos] + fortune, cut to
                   max_seq), python/monocard/perplexity.py's rules
  vs none          relative perplexity change against the unquantized build
  top-1 agreement  fraction of scored positions whose argmax equals the
                   unquantized build's

Rows (--rows, comma-separated): none, int8 (per output channel), int4
(group 128), int4-g64, int4-g32.  The unquantized row is always run: every
other row is compared with it.

  quant_quality.py [--compiler build/bin/monocard-compile] [--rows ...]
      [--max-docs N] [--max-seq 256] [--threads T] [--jobs 2] [--work DIR]
      [--markdown docs/quantization-quality.md] [--json FILE] [--check]

--check exits 1 unless int8's perplexity is within 1% (relative) of the
unquantized build's and int4 (group 128)'s within 10% (--int8-tol,
--int4-tol), and every requested row ran.  test/e2e/quant-quality.test runs
it once the compiler has --quant (lit feature monocard-quant).
"""
import argparse, datetime, hashlib, json, os, platform, shutil, subprocess
import sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.join(REPO, "python"))
from monocard import model_info  # noqa: E402
from monocard import perplexity as px  # noqa: E402

MODEL = os.path.join(REPO, "examples", "fortune-llama")
TEXT = os.path.join(MODEL, "heldout.txt")

# name -> (label, compiler arguments)
ROWS = {
    "none": ("none (f32)", []),
    "int8": ("int8, per channel", ["--quant=int8"]),
    "int4": ("int4, group 128", ["--quant=int4", "--group=128"]),
    "int4-g64": ("int4, group 64", ["--quant=int4", "--group=64"]),
    "int4-g32": ("int4, group 32", ["--quant=int4", "--group=32"]),
}
DEFAULT_ROWS = "none,int8,int4,int4-g64,int4-g32"


def run(cmd, timeout=900):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        # The first line naming an error says most (LLVM's option parser
        # follows it with a "Did you mean" guess); else the last line.
        err = [m for m in msg
               if "error" in m.lower() or "unknown" in m.lower()]
        raise RuntimeError("%s exited %d: %s" % (
            os.path.basename(cmd[0]), r.returncode,
            (err or msg or ["(no output)"])[0 if err else -1].strip()))
    return r


def shorten(text, max_docs):
    """(text of the first max_docs documents, in the same format, their
    number, whether any were left out)."""
    docs = px.split_documents(text)
    if max_docs is None or max_docs >= len(docs):
        return text, len(docs), False
    return "\n%\n".join(docs[:max_docs]) + "\n", max_docs, True


def build(name, args, a, log):
    """Compile and pack one row; returns its dict (with 'error' on
    failure) and the program's path."""
    label, qargs = ROWS[name]
    row = {"row": name, "label": label, "compiler_args": qargs}
    d = os.path.join(a.work, name)
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, "model")
    t0 = time.time()
    try:
        run([a.compiler, a.model, "--target=cpu", "--max-seq", str(a.max_seq),
             "-o", exe] + qargs + args)
        row["compile_seconds"] = round(time.time() - t0, 1)
        t1 = time.time()
        # The program packs its own weights, as where it runs (the
        # compiler packed them too; this is the path users take).
        run([exe, "--pack", a.model, "-o", exe + ".weights"])
        row["pack_seconds"] = round(time.time() - t1, 1)
        row["weights_file_bytes"] = os.path.getsize(exe + ".weights")
        info = model_info.model_info_of(exe)
        if info:
            row["quantized_bits_per_weight"] = model_info.quantized_bits(info)
            row["recipe_dtypes"] = model_info.weights_summary(info)[
                "recipe_dtypes"]
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        row["error"] = str(e)
        log("%-9s FAILED: %s" % (name, e))
    return row, exe


def score(row, exe, a, text_path, log):
    """--perplexity on one built row; fills row in (or sets 'error')."""
    if "error" in row:
        return row
    t0 = time.time()
    cmd = [exe, "--weights", exe + ".weights", "--perplexity", text_path,
           "--json"]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    try:
        r = run(cmd)
        j = json.loads(r.stdout.strip().splitlines()[-1])
    except (RuntimeError, OSError, ValueError,
            subprocess.SubprocessError) as e:
        row["error"] = str(e)
        log("%-9s FAILED: %s" % (row["row"], e))
        return row
    row.update({k: j[k] for k in ("tokens", "documents", "nll", "ppl",
                                  "argmax_sha256", "weights_bytes",
                                  "packed_elements", "elements_by_dtype",
                                  "truncated_documents", "tokens_per_s")
                if k in j})
    row["argmax"] = j["argmax"]
    row["bits_per_weight"] = 8.0 * j["weights_bytes"] / j["packed_elements"]
    row["score_seconds"] = round(time.time() - t0, 1)
    log("%-9s ppl %.4f  %.2f bits/weight  %d tokens  (%.1f s)" % (
        row["row"], row["ppl"], row["bits_per_weight"], row["tokens"],
        row["score_seconds"]))
    return row


def compare(rows):
    base = next((r for r in rows if r["row"] == "none" and "error" not in r),
                None)
    for r in rows:
        if base is None or "error" in r:
            continue
        r["ppl_rel_change"] = r["ppl"] / base["ppl"] - 1
        r["top1_agreement"] = px.agreement(r["argmax"], base["argmax"])
    return base


def check(rows, a):
    """(ok, lines): the CI gate."""
    by = {r["row"]: r for r in rows}
    lines, ok = [], True
    for r in rows:
        if "error" in r:
            ok = False
            lines.append("FAIL %s: %s" % (r["row"], r["error"]))
    for name, tol in (("int8", a.int8_tol), ("int4", a.int4_tol)):
        r = by.get(name)
        if r is None or "error" in r or "ppl_rel_change" not in r:
            continue
        good = abs(r["ppl_rel_change"]) <= tol
        ok &= good
        lines.append("%s %s: perplexity %.4f vs %.4f unquantized, %+.2f%% "
                     "(limit %.0f%%), top-1 agreement %.4f" % (
                         "ok  " if good else "FAIL", name, r["ppl"],
                         by["none"]["ppl"], 100 * r["ppl_rel_change"],
                         100 * tol, r["top1_agreement"]))
    return ok, lines


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, %s %s" % (cpu, os.cpu_count() or 0,
                                    platform.system(), platform.release())


def git_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def markdown(result):
    rows, meta = result["rows"], result["meta"]
    L = ["# Quantization quality of the demo model", "",
         "Generated by `python/monocard/quant_quality.py` on %s." % meta["date"],
         "",
         "- Machine: %s" % meta["machine"],
         "- Model: `examples/fortune-llama` (%s), compiled with "
         "`--target=cpu --max-seq %d` at commit %s" % (
             meta["model_note"], meta["max_seq"], meta["commit"]),
         "- Text: `%s`%s, %d documents, %d scored tokens (sha256 of the "
         "text scored %s...)" % (
             meta["text_name"], " (its first %d documents)" % meta["max_docs"]
             if meta.get("max_docs") else "", meta["documents"],
             meta["tokens"], meta["text_sha256"][:16]),
         "- Perplexity: `<exe> --perplexity FILE --json`, teacher-forced, "
         "each document `[bos] + tokens` cut to max_seq, one decode step per "
         "scored position, NLL in double (python/monocard/perplexity.py). "
         "Top-1 agreement: the fraction of scored positions whose argmax "
         "equals the unquantized build's.",
         "- Bits/weight: packed weights bytes × 8 / packed elements, over "
         "every tensor (embeddings, norms and lm_head included; row padding "
         "and scales counted). The unquantized CPU build stores f32.",
         "- Bits/weight (quantized): the same over the tensors stored as "
         "i8/i4 only (from the recipe in the program's model info).",
         "", "| build | compiler flags | bits/weight | bits/weight "
         "(quantized) | weights MiB | perplexity | vs none | top-1 agreement |",
         "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        flags = " ".join(r["compiler_args"]) or "-"
        if "error" in r:
            L.append("| %s | `%s` | failed: %s | | | | | |" % (
                r["label"], flags, r["error"][:160].replace("|", "\\|")))
            continue
        qb = r.get("quantized_bits_per_weight")
        L.append("| %s | `%s` | %.2f | %s | %.2f | %.3f | %s | %s |" % (
            r["label"], flags, r["bits_per_weight"],
            "-" if qb is None else "%.2f" % qb,
            r["weights_bytes"] / 2**20, r["ppl"],
            "-" if r["row"] == "none" else "%+.2f%%" % (
                100 * r["ppl_rel_change"]),
            "-" if r["row"] == "none" else "%.4f" % r["top1_agreement"]))
    missing = [n for n in ROWS if n not in {r["row"] for r in rows}]
    L += ["", "Gate (`--check`, test/e2e/quant-quality.test): int8 within "
          "%.0f%% and int4 (group 128) within %.0f%% of the unquantized "
          "perplexity, on the first 12 documents cut to 128 tokens."
          % (100 * meta["int8_tol"], 100 * meta["int4_tol"]), ""]
    if missing:
        L += ["Not measured in this run: %s." % ", ".join(missing), ""]
    L += ["These are per-document perplexities, not the 46.08 of "
          "`examples/fortune-llama/train_metrics.json`, which scores all 745 "
          "held-out fortunes as one token stream in windows of 256, with the "
          "`<|endoftext|>` separators included. examples/fortune-llama/"
          "README.md (\"Held-out text\") explains the difference and checks "
          "both against the numpy reference.", "",
          "Regenerate (about %.0f minutes here; each row scores every "
          "position with one decode step):" % max(1, meta["seconds"] / 60),
          "", "```sh", "/usr/bin/python3 python/monocard/quant_quality.py "
          "--markdown docs/quantization-quality.md", "```", ""]
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compiler", default=os.path.join(
        REPO, "build", "bin", "monocard-compile"))
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--text", default=TEXT)
    ap.add_argument("--rows", default=DEFAULT_ROWS,
                    help="comma-separated: " + ", ".join(ROWS))
    ap.add_argument("--max-docs", type=int, default=None,
                    help="score only the first N documents (CI: shorter)")
    ap.add_argument("--max-seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=2,
                    help="compilers run at once (default 2)")
    ap.add_argument("--work", default=None, help="build directory (default: "
                    "a temporary one, removed)")
    ap.add_argument("--markdown", metavar="FILE")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--int8-tol", type=float, default=0.01)
    ap.add_argument("--int4-tol", type=float, default=0.10)
    ap.add_argument("extra", nargs="*", help="more compiler arguments "
                    "(after --), for every row")
    a = ap.parse_args(argv)
    names = [n for n in a.rows.split(",") if n]
    bad = [n for n in names if n not in ROWS]
    if bad:
        ap.error("unknown row(s) %s (known: %s)" % (bad, ", ".join(ROWS)))
    if "none" not in names:
        names.insert(0, "none")
    comp = shutil.which(a.compiler) or a.compiler
    if not os.access(comp, os.X_OK):
        ap.error("no compiler at %s (build it, or pass --compiler)" % a.compiler)
    a.compiler = comp
    T0 = time.time()
    log = lambda m: print("[%5.1fs] %s" % (time.time() - T0, m),
                          file=sys.stderr, flush=True)
    tmp = None
    if a.work is None:
        tmp = a.work = tempfile.mkdtemp(prefix="quant-quality.")
    os.makedirs(a.work, exist_ok=True)
    try:
        with open(a.text, encoding="utf-8") as f:
            full = f.read()
        text, ndocs, cut = shorten(full, a.max_docs)
        text_path = os.path.join(a.work, "text.txt")
        with open(text_path, "w", encoding="utf-8") as f:
            f.write(text)
        # Compiles run side by side (--jobs); scoring one at a time, each
        # with all threads.
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            built = list(pool.map(lambda n: build(n, a.extra, a, log), names))
        rows = [score(row, exe, a, text_path, log) for row, exe in built]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    base = compare(rows)
    meta = {"date": datetime.date.today().isoformat(), "machine": machine(),
            "commit": git_commit(), "max_seq": a.max_seq,
            "model_note": "Llama, 3.95 M parameters, bf16 checkpoint",
            "text_name": os.path.relpath(os.path.abspath(a.text), REPO)
            if os.path.abspath(a.text).startswith(REPO) else a.text,
            "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "documents": base["documents"] if base else ndocs,
            "tokens": base["tokens"] if base else 0,
            "int8_tol": a.int8_tol, "int4_tol": a.int4_tol,
            "max_docs": ndocs if cut else None,
            "extra_compiler_args": a.extra,
            "seconds": round(time.time() - T0, 1)}
    result = {"meta": meta, "rows": rows}
    ok, lines = check(rows, a)
    # The table on stdout; argmax lists only in --json.
    md = markdown(result)
    print(md)
    for line in lines:
        print(line)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
        log("wrote %s" % a.markdown)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if a.check:
        print("quant-quality check: %s" % ("PASS" if ok else "FAIL"))
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
