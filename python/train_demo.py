#!/usr/bin/env python3
"""Trains Monocard's bundled demo model, examples/fortune-llama.

A small Llama (GQA, RoPE, RMSNorm, SwiGLU) trained on the Debian `fortunes`
corpus, saved in standard Hugging Face format (config.json,
model.safetensors, tokenizer.json, ...).

Two steps:

  # 1. anywhere with the Debian `fortunes` package installed (no torch needed):
  python3 python/train_demo.py corpus --fortunes-dir /usr/share/games/fortunes \
      --out .demo_corpus/fortunes.json

  # 2. on a CUDA machine with torch, transformers and tokenizers:
  python3 python/train_demo.py train --corpus .demo_corpus/fortunes.json \
      --out examples/fortune-llama

Step 2 also accepts the fortunes directory itself as --corpus.  Everything
is seeded; the held-out split depends only on each entry's text.

Corpus rule: every file of the fortunes directory except *.dat files,
symbolic links (the *.u8 names) and sub-directories (off/); entries are
separated by lines holding only `%`.  Each entry is cleaned (overstrike
backspace sequences resolved, other control characters except newline and
tab removed, trailing spaces stripped from lines, blank lines at both ends
removed), empty entries dropped and exact duplicates removed (first kept,
files in sorted order).

Split rule: h = first 8 bytes of sha256(entry UTF-8), big endian, mod 1000;
h < 50 -> held-out (the reported perplexity, ~5%), 50 <= h < 80 ->
validation (model selection only, ~3%), otherwise train.

The functions used by python/make_tokenizer_fixtures.py (corpus loading,
byte-level BPE JSON assembly) import nothing outside the standard library.
"""

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import time

EOT = "<|endoftext|>"

# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_entry(text):
    """Cleans one fortune entry (see the module docstring)."""
    # Overstrike: "_\bX" (underline) and "X\bX" (bold) print as X;
    # "X\b_" as X underlined.
    for _ in range(8):
        if "\b" not in text:
            break
        text = re.sub(r"_\x08([^\x08\n])", r"\1", text)
        text = re.sub(r"([^\x08\n])\x08_", r"\1", text)
        text = re.sub(r"([^\x08\n])\x08\1", r"\1", text)
        text = re.sub(r"[^\x08\n]\x08", "", text)
    text = _CTRL.sub("", text)
    lines = [l.rstrip() for l in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def read_fortunes_dir(path):
    """Returns (entries, files) from a fortunes directory."""
    entries, seen, files = [], set(), []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if (name.endswith(".dat") or os.path.islink(full)
                or not os.path.isfile(full)):
            continue
        files.append(name)
        raw = open(full, "rb").read().decode("utf-8", errors="replace")
        raw = raw.replace("\r\n", "\n")
        cur = []
        for line in raw.split("\n") + ["%"]:
            if line == "%":
                e = clean_entry("\n".join(cur))
                cur = []
                if e and e not in seen:
                    seen.add(e)
                    entries.append(e)
            else:
                cur.append(line)
    return entries, files


def load_corpus(path):
    """A fortunes directory or the JSON written by `corpus`: list of str."""
    if os.path.isdir(path):
        return read_fortunes_dir(path)[0]
    with open(path, encoding="utf-8") as f:
        return json.load(f)["entries"]


def split_of(text):
    h = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8],
                       "big") % 1000
    if h < 50:
        return "heldout"
    if h < 80:
        return "valid"
    return "train"


def heldout_sample(entries, max_bytes):
    """The held-out entries to write to heldout.txt: all of them if they fit
    in max_bytes (0: no limit), else the longest prefix of them, ordered by
    their full sha256, that fits -- a hash-ordered, so file-independent,
    sample.  Returned in corpus order."""
    held = [(i, e) for i, e in enumerate(entries) if split_of(e) == "heldout"]
    if not max_bytes:
        return [e for _, e in held]
    by_hash = sorted(held, key=lambda ie: hashlib.sha256(
        ie[1].encode("utf-8")).digest())
    keep, size = [], 0
    for i, e in by_hash:
        n = len(e.encode("utf-8")) + 3  # "%\n" before it, "\n" after it
        if size + n > max_bytes:
            break
        keep.append((i, e))
        size += n
    return [e for _, e in sorted(keep)]


def cmd_heldout(args):
    """Writes held-out fortunes in fortune-file format: entries separated by
    lines holding only `%` (what `<exe> --perplexity FILE` splits on)."""
    entries = load_corpus(args.corpus)
    held = [e for e in entries if split_of(e) == "heldout"]
    sample = heldout_sample(entries, args.max_bytes)
    text = "\n%\n".join(sample) + "\n"
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"{len(sample)} of {len(held)} held-out entries, "
          f"{len(text.encode('utf-8'))} bytes, sha256 "
          f"{hashlib.sha256(text.encode('utf-8')).hexdigest()} -> {args.out}")


def cmd_corpus(args):
    entries, files = read_fortunes_dir(args.fortunes_dir)
    version = None
    try:
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "fortunes"],
            capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        pass
    blob = "\n%\n".join(entries)
    out = {
        "source": os.path.abspath(args.fortunes_dir),
        "debian_package_fortunes": version,
        "files": files,
        "num_entries": len(entries),
        "sha256_of_entries_joined": hashlib.sha256(
            blob.encode("utf-8")).hexdigest(),
        "entries": entries,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
    counts = {}
    for e in entries:
        counts[split_of(e)] = counts.get(split_of(e), 0) + 1
    print(f"{len(entries)} entries from {len(files)} files, "
          f"{len(blob)} chars, split {counts}, sha256 "
          f"{out['sha256_of_entries_joined']} -> {args.out}")


# --------------------------------------------------------------------------
# Tokenizer JSON assembly (shared with make_tokenizer_fixtures.py)
# --------------------------------------------------------------------------

def added_token(tid, content, special=True, normalized=False):
    return {"id": tid, "content": content, "single_word": False,
            "lstrip": False, "rstrip": False, "normalized": normalized,
            "special": special}


def merges_as_pairs(merges):
    return [list(m) if isinstance(m, (list, tuple)) else m.split(" ")
            for m in merges]


def bpe_model(vocab, merges, merges_style="pairs", **fields):
    pairs = merges_as_pairs(merges)
    if merges_style == "strings" and any(" " in a or " " in b
                                         for a, b in pairs):
        print("warning: a merge holds a space; writing [a, b] pairs")
        merges_style = "pairs"
    if merges_style == "strings":
        merges_out = [f"{a} {b}" for a, b in pairs]
    else:
        merges_out = pairs
    model = {"type": "BPE", "dropout": None, "unk_token": None,
             "continuing_subword_prefix": None, "end_of_word_suffix": None,
             "fuse_unk": False, "byte_fallback": False,
             "ignore_merges": False}
    model.update(fields)
    model["vocab"] = vocab
    model["merges"] = merges_out
    return model


BYTELEVEL_PRE = {"type": "ByteLevel", "add_prefix_space": False,
                 "trim_offsets": True, "use_regex": True}
BYTELEVEL_DEC = {"type": "ByteLevel", "add_prefix_space": True,
                 "trim_offsets": True, "use_regex": True}
BYTELEVEL_POST = {"type": "ByteLevel", "add_prefix_space": True,
                  "trim_offsets": False, "use_regex": True}


def template_bos(bos, bos_id):
    """TemplateProcessing that prepends `bos` (Llama style)."""
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos, "type_id": 1}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id],
                                 "tokens": [bos]}},
    }


def tokenizer_json(model, added_tokens, normalizer=None, pre_tokenizer=None,
                   post_processor=None, decoder=None):
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": added_tokens, "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": post_processor, "decoder": decoder,
            "model": model}


def train_bpe(texts, vocab_size, pre_tokenizer=None, normalizer=None,
              special_tokens=(), initial_alphabet=(), model_fields=None):
    """Trains a BPE with `tokenizers`, the pipeline given as JSON so that
    training and use agree.  Returns (vocab, merges as pairs)."""
    from tokenizers import Tokenizer, trainers
    tok = Tokenizer.from_str(json.dumps(tokenizer_json(
        bpe_model({}, [], **(model_fields or {})), [],
        normalizer=normalizer, pre_tokenizer=pre_tokenizer)))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2,
        special_tokens=list(special_tokens),
        initial_alphabet=list(initial_alphabet), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    m = json.loads(tok.to_str())["model"]
    return m["vocab"], merges_as_pairs(m["merges"])


def train_bytelevel_bpe(texts, vocab_size, pre_tokenizer_json,
                        special_tokens=()):
    """Byte-level BPE (all 256 byte symbols in the alphabet)."""
    from tokenizers import pre_tokenizers
    return train_bpe(texts, vocab_size, pre_tokenizer=pre_tokenizer_json,
                     special_tokens=special_tokens,
                     initial_alphabet=pre_tokenizers.ByteLevel.alphabet())


def demo_tokenizer_json(train_texts, vocab_size=2048):
    """GPT-2 style byte-level BPE; <|endoftext|> = id 0 = bos = eos.

    The post-processor prepends <|endoftext|> (the model was trained on
    fortunes each preceded by it), so HF `tokenizer(text)` gives what the
    model expects; add_special_tokens=False gives the bare ids."""
    vocab, merges = train_bytelevel_bpe(train_texts, vocab_size,
                                        BYTELEVEL_PRE, special_tokens=[EOT])
    assert vocab[EOT] == 0, vocab.get(EOT)
    return tokenizer_json(
        bpe_model(vocab, merges, merges_style="strings",
                  continuing_subword_prefix="", end_of_word_suffix=""),
        [added_token(0, EOT, normalized=False)],
        pre_tokenizer=BYTELEVEL_PRE,
        post_processor=template_bos(EOT, 0),
        decoder=BYTELEVEL_DEC)


# --------------------------------------------------------------------------
# Training (torch imported lazily)
# --------------------------------------------------------------------------

ARCH = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4,
            num_attention_heads=8, num_key_value_heads=4,
            max_position_embeddings=512, rope_theta=10000.0,
            rms_norm_eps=1e-5, tie_word_embeddings=False)
SEQ = 256
BATCH = 32


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def encode_stream(tok, texts):
    """[EOT] t1 [EOT] t2 ... [EOT]: every fortune preceded by EOT."""
    out = [0]
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        out.extend(enc.ids)
        out.append(0)
    return out


def eval_nll(model, stream, torch, ctx=SEQ, bs=64, autocast=None):
    """Sum of NLL over stream[1:], non-overlapping windows of `ctx`
    predictions (window k scores tokens k*ctx+1 .. (k+1)*ctx with context
    from k*ctx).  Returns (sum_nll, n_tokens)."""
    import torch.nn.functional as F
    dev = next(model.parameters()).device
    n = len(stream) - 1
    starts = list(range(0, n, ctx))
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(starts), bs):
            chunk = starts[i:i + bs]
            x = torch.zeros(len(chunk), ctx, dtype=torch.long)
            y = torch.full((len(chunk), ctx), -100, dtype=torch.long)
            for r, s in enumerate(chunk):
                w = stream[s:s + ctx + 1]
                x[r, :len(w) - 1] = torch.tensor(w[:-1])
                y[r, :len(w) - 1] = torch.tensor(w[1:])
            x, y = x.to(dev), y.to(dev)
            if autocast is not None:
                with torch.autocast(dev.type, dtype=autocast):
                    logits = model(input_ids=x, use_cache=False).logits
            else:
                logits = model(input_ids=x, use_cache=False).logits
            total += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                     y.reshape(-1), ignore_index=-100,
                                     reduction="sum").item()
            count += int((y != -100).sum().item())
    return total, count


def train_one(cfg, train_t, valid_stream, epochs, lr, seed, torch, log_every):
    import torch.nn.functional as F
    from transformers import LlamaForCausalLM
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).cuda().float()
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    n_tok = train_t.numel()
    steps_per_epoch = max(1, (n_tok - SEQ - 1) // (BATCH * SEQ))
    total = int(epochs * steps_per_epoch)
    warm = min(100, total // 10)
    g = torch.Generator(device="cpu").manual_seed(seed + 1)
    ar = torch.arange(SEQ + 1, device="cuda")
    t0 = time.time()
    hist = []
    for step in range(total):
        if step < warm:
            cur = lr * (step + 1) / warm
        else:
            p = (step - warm) / max(1, total - warm)
            cur = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
        for gr in opt.param_groups:
            gr["lr"] = cur
        offs = torch.randint(0, n_tok - SEQ - 1, (BATCH,), generator=g)
        win = train_t[offs.cuda()[:, None] + ar]
        x, y = win[:, :-1], win[:, 1:]
        model.train()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                               y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % log_every == 0 or step + 1 == total:
            s, c = eval_nll(model, valid_stream, torch)
            hist.append({"step": step + 1, "train_loss": round(loss.item(), 4),
                         "valid_nll": round(s / c, 4)})
            log(f"  step {step + 1}/{total} lr {cur:.2e} train {loss.item():.3f}"
                f" valid {s / c:.3f} ({time.time() - t0:.0f}s)")
    torch.cuda.synchronize()
    s, c = eval_nll(model, valid_stream, torch)
    return model, {"epochs": epochs, "lr": lr, "steps": total,
                   "steps_per_epoch": steps_per_epoch,
                   "train_seconds": round(time.time() - t0, 1),
                   "valid_nll": s / c, "valid_ppl": math.exp(s / c),
                   "history": hist}


def generate(model, ids, n, torch, temperature=0.0, seed=0, stop=None):
    """Plain loop, full recompute per step (no KV cache).  Returns new ids
    and per-step logits stats."""
    dev = next(model.parameters()).device
    g = torch.Generator(device="cpu").manual_seed(seed)
    seq = list(ids)
    out, max_abs, margins, first = [], 0.0, [], None
    model.eval()
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor([seq[-model.config.max_position_embeddings:]],
                             device=dev)
            logits = model(input_ids=x, use_cache=False).logits[0, -1].float().cpu()
            if first is None:
                first = logits.clone()
            max_abs = max(max_abs, logits.abs().max().item())
            top2 = torch.topk(logits, 2).values
            margins.append((top2[0] - top2[1]).item())
            if temperature > 0:
                probs = torch.softmax(logits / temperature, -1)
                nxt = int(torch.multinomial(probs, 1, generator=g).item())
            else:
                nxt = int(torch.argmax(logits).item())
            out.append(nxt)
            seq.append(nxt)
            if stop is not None and nxt == stop:
                break
    return out, {"logits_max_abs": max_abs, "min_top2_margin": min(margins),
                 "first_logits": first}


def cmd_train(args):
    import torch
    import transformers
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM
    t_start = time.time()
    torch.set_float32_matmul_precision("highest")
    log(f"torch {torch.__version__} transformers {transformers.__version__} "
        f"device {torch.cuda.get_device_name(0)}")
    entries = load_corpus(args.corpus)
    parts = {"train": [], "valid": [], "heldout": []}
    for e in entries:
        parts[split_of(e)].append(e)
    log({k: len(v) for k, v in parts.items()}, "entries")

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    tj = demo_tokenizer_json(parts["train"], args.vocab_size)
    tok = Tokenizer.from_str(json.dumps(tj))
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast",
                   "bos_token": EOT, "eos_token": EOT,
                   "model_max_length": ARCH["max_position_embeddings"],
                   "clean_up_tokenization_spaces": False}, f, indent=2)
    streams = {k: encode_stream(tok, v) for k, v in parts.items()}
    log({k: len(v) for k, v in streams.items()}, "tokens; vocab",
        tok.get_vocab_size())

    kw = dict(vocab_size=tok.get_vocab_size(), bos_token_id=0,
              eos_token_id=0, pad_token_id=None, hidden_act="silu",
              attention_bias=False, mlp_bias=False, initializer_range=0.02,
              head_dim=ARCH["hidden_size"] // ARCH["num_attention_heads"],
              **ARCH)
    try:
        cfg = LlamaConfig(**kw)
    except TypeError:
        kw["rope_parameters"] = {"rope_type": "default",
                                 "rope_theta": kw.pop("rope_theta")}
        cfg = LlamaConfig(**kw)
    log("rope:", getattr(cfg, "rope_theta", None),
        getattr(cfg, "rope_parameters", None))
    train_t = torch.tensor(streams["train"], dtype=torch.long, device="cuda")

    runs, best, best_model = [], None, None
    sweep = [(float(e), float(lr)) for e, lr in
             (s.split("@") for s in args.sweep.split(","))]
    t_train = time.time()
    sec_per_step, steps_per_epoch = None, None
    for epochs, lr in sweep:
        spent = time.time() - t_train
        need = (epochs * steps_per_epoch * sec_per_step * 1.1
                if sec_per_step else 0.0)
        if spent + need > args.time_budget:
            log(f"skip epochs={epochs} lr={lr}: {spent:.0f}s spent, needs "
                f"~{need:.0f}s, budget {args.time_budget:.0f}s")
            continue
        log(f"run epochs={epochs} lr={lr}")
        model, info = train_one(cfg, train_t, streams["valid"], epochs, lr,
                                args.seed, torch, args.log_every)
        log(f"  -> valid ppl {info['valid_ppl']:.3f} in {info['train_seconds']}s")
        runs.append(info)
        steps_per_epoch = info["steps_per_epoch"]
        sec_per_step = info["train_seconds"] / max(1, info["steps"])
        if best is None or info["valid_nll"] < best["valid_nll"]:
            best = info
            best_model = {k: v.detach().cpu().clone()
                          for k, v in model.state_dict().items()}
        del model
        torch.cuda.empty_cache()
    train_wall = time.time() - t_train
    log(f"selected epochs={best['epochs']} lr={best['lr']} steps={best['steps']}")

    model = LlamaForCausalLM(cfg).cuda().float()
    model.load_state_dict(best_model)
    n_params = sum(p.numel() for p in model.parameters())
    held = streams["heldout"]
    held_bytes = sum(len(e.encode("utf-8")) for e in parts["heldout"])
    metrics = {"params": n_params, "selected": {k: best[k] for k in (
        "epochs", "lr", "steps", "valid_ppl", "train_seconds")},
        "runs": runs, "sweep_wall_seconds": round(train_wall, 1),
        "heldout_entries": len(parts["heldout"]),
        "heldout_tokens_scored": len(held) - 1, "heldout_bytes": held_bytes}

    def record(name, m, autocast=None):
        s, c = eval_nll(m, held, torch, autocast=autocast)
        metrics[name] = {"nll": s / c, "ppl": math.exp(s / c),
                         "bits_per_byte": s / math.log(2) / held_bytes}
        log(f"heldout {name}: ppl {math.exp(s / c):.4f}")

    record("heldout_fp32_master", model)
    record("heldout_fp32_master_bf16_autocast", model, torch.bfloat16)

    # Save in bf16 (the stored dtype).
    model = model.to(torch.bfloat16)
    model.generation_config.bos_token_id = 0
    model.generation_config.eos_token_id = 0
    model.generation_config.pad_token_id = 0
    try:
        model.save_pretrained(out, safe_serialization=True)
    except TypeError:
        model.save_pretrained(out)
    cpath = os.path.join(out, "config.json")
    c = json.load(open(cpath))
    # Keys real Llama checkpoints carry, whatever this transformers writes.
    c.setdefault("rope_theta", ARCH["rope_theta"])
    c.setdefault("torch_dtype", "bfloat16")
    c.setdefault("head_dim", ARCH["hidden_size"] // ARCH["num_attention_heads"])
    with open(cpath, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    log("config.json:", json.dumps(c, sort_keys=True))
    st = os.path.join(out, "model.safetensors")
    metrics["weights_bytes"] = os.path.getsize(st)
    with open(st, "rb") as f:
        hlen = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(hlen))
    log("safetensors:", os.path.getsize(st), "bytes;",
        sorted({v["dtype"] for k, v in header.items() if k != "__metadata__"}),
        len(header) - ("__metadata__" in header), "tensors")
    probe = torch.tensor([streams["valid"][:SEQ]], device="cuda")
    with torch.no_grad():
        before = model(input_ids=probe, use_cache=False).logits.float()
    del model

    # Reload from disk: bf16 weights, fp32 compute and bf16 compute.
    m32 = LlamaForCausalLM.from_pretrained(out).float().cuda()
    record("heldout_stored_bf16_weights_fp32_compute", m32)
    m16 = LlamaForCausalLM.from_pretrained(out).to(torch.bfloat16).cuda()
    with torch.no_grad():
        after = m16(input_ids=probe, use_cache=False).logits.float()
    diff = (after - before).abs().max().item()
    log("reload check: max |logit diff| saved vs in-memory bf16 =", diff)
    metrics["reload_max_abs_diff"] = diff
    log("reloaded config rope:", getattr(m16.config, "rope_theta", None),
        getattr(m16.config, "rope_parameters", None))
    record("heldout_stored_bf16_weights_bf16_compute", m16)
    del m16

    try:
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(out)
        a = hf("Hello world").input_ids
        b = [0] + tok.encode("Hello world", add_special_tokens=False).ids
        log("AutoTokenizer ok:", a == b, a)
        metrics["autotokenizer_ok"] = a == b
    except Exception as ex:  # informative only
        log("AutoTokenizer failed:", repr(ex))
        metrics["autotokenizer_ok"] = repr(ex)

    # Samples (GPU, fp32 compute of the stored weights).
    prompts = ["", "The meaning of life is", "A computer", "Q: Why did the",
               "Never trust a", "It is a truth universally"]
    samples = []
    for p in prompts:
        ids = [0] + tok.encode(p, add_special_tokens=False).ids
        for temp, seed in ((0.0, 0), (0.8, 1), (0.8, 2)):
            new, _ = generate(m32, ids, 96, torch, temperature=temp, seed=seed,
                              stop=0)
            text = tok.decode(new, skip_special_tokens=True)
            samples.append({"prompt": p, "temperature": temp, "seed": seed,
                            "text": p + text})
            log(f"--- T={temp} seed={seed} prompt={p!r}\n{p + text}")

    # Float32 greedy references on the CPU (exact-token tests).
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    cpu = LlamaForCausalLM.from_pretrained(out).float().cpu()
    refs = []
    for p in ["The meaning of life is", "Q: What do you get when you cross",
              "Never trust a"]:
        ids = [0] + tok.encode(p, add_special_tokens=False).ids
        new, st_ = generate(cpu, ids, 32, torch)
        new_gpu, _ = generate(m32, ids, 32, torch)
        first = st_["first_logits"]
        top = torch.topk(first, 5)
        refs.append({
            "prompt": p, "prompt_ids": ids,
            "greedy_ids": new,
            "greedy_text": tok.decode(new, skip_special_tokens=False),
            "logits_max_abs": st_["logits_max_abs"],
            "min_top2_margin": st_["min_top2_margin"],
            "prompt_last_logits_top5": [[int(i), float(v)] for v, i in
                                        zip(top.values, top.indices)],
            "gpu_fp32_greedy_agrees": new_gpu == new,
            "prompt_last_logits": [float(v) for v in first],
        })
        log(f"ref {p!r}: {new} maxabs {st_['logits_max_abs']:.3f} "
            f"margin {st_['min_top2_margin']:.4f} gpu-agrees {new_gpu == new}")
    with open(os.path.join(out, "reference_greedy.json"), "w") as f:
        json.dump({
            "model": "examples/fortune-llama",
            "note": ("prompt_ids = [bos=0 (<|endoftext|>)] + tokenizer.json "
                     "encoding of prompt with add_special_tokens=False "
                     "(the model was trained with <|endoftext|> before every "
                     "fortune; the tokenizer's TemplateProcessing "
                     "post-processor adds it when add_special_tokens=True). "
                     "greedy_ids: 32 argmax tokens, no stopping at eos, "
                     "transformers LlamaForCausalLM from the stored bf16 "
                     "weights cast with model.float(), on the CPU, full "
                     "recompute each step. logits_max_abs: max |logit| over "
                     "the 32 steps' last-position logits. min_top2_margin: "
                     "smallest top1-top2 logit gap over the 32 steps. "
                     "prompt_last_logits: float32 logits after the prompt."),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "cases": refs}, f, indent=1)
    metrics["samples"] = samples
    metrics["total_wall_seconds"] = round(time.time() - t_start, 1)
    with open(os.path.join(out, "train_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log(f"done in {time.time() - t_start:.0f}s;",
        json.dumps({k: v for k, v in metrics.items()
                    if k not in ("samples", "runs")}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("corpus", help="build the corpus JSON (no torch)")
    a.add_argument("--fortunes-dir", default="/usr/share/games/fortunes")
    a.add_argument("--out", default=".demo_corpus/fortunes.json")
    h = sub.add_parser("heldout", help="write held-out fortunes as a "
                       "fortune file (no torch)")
    h.add_argument("--corpus", default="/usr/share/games/fortunes",
                   help="fortunes directory or corpus JSON")
    h.add_argument("--out", default="examples/fortune-llama/heldout.txt")
    h.add_argument("--max-bytes", type=int, default=40000,
                   help="size limit; a hash-ordered sample of the held-out "
                        "entries that fits (0: all of them)")
    b = sub.add_parser("train", help="train and save the model (CUDA)")
    b.add_argument("--corpus", default=".demo_corpus/fortunes.json")
    b.add_argument("--out", default="examples/fortune-llama")
    b.add_argument("--vocab-size", type=int, default=2048)
    b.add_argument("--sweep", default="4@2e-3,8@2e-3,16@2e-3,32@2e-3",
                   help="comma list of EPOCHS@LR runs; the lowest "
                        "validation NLL wins")
    b.add_argument("--time-budget", type=float, default=300.0,
                   help="seconds of training after which no new run starts")
    b.add_argument("--log-every", type=int, default=200)
    b.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    {"corpus": cmd_corpus, "heldout": cmd_heldout, "train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    main()
