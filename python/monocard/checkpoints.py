"""Tiny random Hugging Face checkpoints for tests, good and deliberately bad.

Why this exists: the compiler's frontend, the launcher and the end-to-end
tests need real-format checkpoints (config.json + safetensors + tokenizer.json,
exactly as `transformers` writes them) that are small enough to run on a CPU
in milliseconds, cover each supported family's quirks (GQA, MHA, llama3 RoPE
scaling, qkv bias, tied embeddings) and come in f32/f16/bf16.  The broken
variants give the importer one malformed input per failure mode it must
reject with a clear message.

Weights are random but shaped so that the model is not degenerate: norms
near 1, q/k large enough that attention is far from uniform, and logits with
a spread of a few units, so greedy decoding has clear top-2 margins.
The weights depend only on (variant, seed), not on dtype: an f16 or bf16
checkpoint holds the f32 weights rounded (bf16: round to nearest even).
"""

import json
import os
import re

import numpy as np

from monocard import bpe_tokenizer
from monocard import hf_model
from monocard import safetensors_io as st

_LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0,
                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 64}

# name -> (architecture, heads, kv_heads, head_dim, intermediate, vocab,
#          rope_theta, rms_norm_eps, max_position_embeddings, rope_scaling)
VARIANTS = {
    "llama-gqa": ("LlamaForCausalLM", 4, 2, 16, 176, 384, 10000.0, 1e-5, 256,
                  None),
    "llama-mha": ("LlamaForCausalLM", 4, 4, 16, 128, 320, 10000.0, 1e-6, 256,
                  None),
    "llama3-rope": ("LlamaForCausalLM", 4, 2, 16, 160, 448, 500000.0, 1e-5,
                    512, _LLAMA3_SCALING),
    "mistral": ("MistralForCausalLM", 8, 2, 8, 144, 352, 1000000.0, 1e-5, 256,
                None),
    "qwen2": ("Qwen2ForCausalLM", 4, 2, 16, 176, 512, 1000000.0, 1e-6, 256,
              None),
}
# Variants for the GPU check only (gpu_check.EXTRA_CASES), kept apart from
# VARIANTS so the CPU tests' loops over VARIANTS are unchanged: larger head
# dims for the CUDA attention kernels, and a context long enough that the
# old shared-memory attention kernel refused it.
EXTRA_VARIANTS = {
    "llama-long": ("LlamaForCausalLM", 4, 1, 128, 176, 384, 10000.0, 1e-5,
                   16384, None),
    "llama-hd80": ("LlamaForCausalLM", 4, 2, 80, 160, 352, 10000.0, 1e-5,
                   256, None),
}
HIDDEN, LAYERS = 64, 2
DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}

BROKEN = {
    "missing-tensor": "model.layers.1.mlp.down_proj.weight is absent",
    "extra-tensor": "a tensor for a layer past num_hidden_layers is present",
    "shape-mismatch": "model.layers.0.mlp.down_proj.weight is stored "
                      "transposed ([intermediate, hidden])",
    "bad-dtype": "model.norm.weight is stored as I8",
    "truncated-json": "config.json is cut off half-way",
    "malformed-json": "config.json has a missing comma",
    "truncated-header": "a safetensors file ends inside its JSON header",
    "malformed-header": "a safetensors header is not JSON",
    "offset-past-end": "a safetensors file is truncated: its last tensor's "
                       "data_offsets run past the end",
    "overlapping-tensors": "two tensors' data_offsets overlap",
    "unsupported-arch": "architectures is [\"FalconForCausalLM\"]",
    "unsupported-field": "rope_scaling is of type \"yarn\"",
    "missing-field": "config.json has no num_hidden_layers",
    "bad-index": "model.safetensors.index.json maps a tensor to a shard file "
                 "that does not exist",
}

# Files this tool writes; stale copies are removed before writing.
_OWNED = re.compile(r"^(config\.json|tokenizer(_config)?\.json|"
                    r"model\.safetensors(\.index\.json)?|"
                    r"model-\d{5}-of-\d{5}\.safetensors)$")


def make_config(variant, dtype="f32"):
    """config.json for a variant, with the field names transformers uses."""
    (arch, heads, kv, hd, inter, vocab, theta, eps, max_pos,
     scaling) = VARIANTS[variant] if variant in VARIANTS else \
        EXTRA_VARIANTS[variant]
    mt = hf_model.ARCHITECTURES[arch]
    cfg = {
        "architectures": [arch], "model_type": mt,
        "hidden_size": HIDDEN, "intermediate_size": inter,
        "num_hidden_layers": LAYERS, "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "vocab_size": vocab, "max_position_embeddings": max_pos,
        "rms_norm_eps": eps, "rope_theta": theta,
        "rope_scaling": dict(scaling) if scaling else None,
        "tie_word_embeddings": mt == "qwen2",
        "hidden_act": "silu", "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "bos_token_id": vocab - 2, "eos_token_id": vocab - 1,
        "torch_dtype": DTYPES[dtype], "use_cache": True,
    }
    if mt in ("llama", "mistral"):
        cfg["head_dim"] = hd
    if mt == "llama":
        cfg.update(attention_bias=False, mlp_bias=False, pretraining_tp=1)
    elif mt == "mistral":
        cfg["sliding_window"] = None
    else:
        cfg.update(use_sliding_window=False, sliding_window=max_pos,
                   max_window_layers=LAYERS)
    assert hf_model.parse_config(cfg).head_dim == hd
    return cfg


def make_weights(cfg, seed=0):
    """Random float32 weights {name: ndarray} for a config, HF names and
    shapes.  Deterministic in (config, seed)."""
    c = hf_model.parse_config(cfg)
    rng = np.random.default_rng(seed)
    # Tied embeddings double as lm_head: a large embedding would make every
    # step predict its own input token, so keep it small then.
    scale = {"embed_tokens": 0.05 if c.tie_word_embeddings else 0.4,
             "lm_head": 0.12, "q_proj": 0.15,
             "k_proj": 0.15, "v_proj": 0.1, "o_proj": 0.1,
             "gate_proj": 0.12, "up_proj": 0.12, "down_proj": 0.08}
    bias_scale = {"q_proj": 0.2, "k_proj": 0.2, "v_proj": 0.05, "o_proj": 0.02}
    out = {}
    for name, shape in hf_model.expected_tensors(c).items():
        part = name.split(".")[-2]
        if "norm" in part:
            w = 1.0 + rng.normal(0.0, 0.05, shape)
        elif name.endswith(".bias"):
            w = rng.normal(0.0, bias_scale[part], shape)
        else:
            w = rng.normal(0.0, scale[part], shape)
        out[name] = w.astype(np.float32)
    return out


def _cast(arr, dtype):
    if dtype == "f32":
        return arr
    if dtype == "f16":
        return arr.astype(np.float16)
    return ("BF16", st.f32_to_bf16_bits(arr))


def _rewrite_header(path, mutate):
    """Re-encode a safetensors file's header after mutate(header_dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    mutate(header)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + blob[8 + n:])


def _data_order(path):
    entries, _, _ = st.read_header(path)
    return sorted(entries, key=lambda k: entries[k]["data_offsets"][0]), entries


def _break_file(path, case):
    """Apply a safetensors-level corruption to one file."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    if case == "truncated-header":
        blob = blob[:8 + n // 2]
    elif case == "malformed-header":
        blob = blob[:8] + (b"{not json" + b" " * n)[:n] + blob[8 + n:]
    elif case == "offset-past-end":
        order, entries = _data_order(path)
        b, e = entries[order[-1]]["data_offsets"]
        blob = blob[:len(blob) - (e - b) // 2]
    if case != "overlapping-tensors":
        with open(path, "wb") as f:
            f.write(blob)
        return
    order, entries = _data_order(path)
    a_end = entries[order[0]]["data_offsets"][1]
    shift = max(8, a_end // 2 // 8 * 8)

    def overlap(h):
        b, e = h[order[1]]["data_offsets"]
        h[order[1]]["data_offsets"] = [b - shift, e - shift]
    _rewrite_header(path, overlap)


def write_checkpoint(out_dir, variant, dtype="f32", seed=0, shards=1,
                     broken=None):
    """Write config.json, tokenizer.json, tokenizer_config.json and the
    weights (model.safetensors, or shards + index) into out_dir."""
    if variant not in VARIANTS and variant not in EXTRA_VARIANTS:
        raise ValueError("unknown variant %r (known: %s)"
                         % (variant, ", ".join(list(VARIANTS) +
                                               list(EXTRA_VARIANTS))))
    if dtype not in DTYPES:
        raise ValueError("unknown dtype %r (known: %s)"
                         % (dtype, ", ".join(DTYPES)))
    if broken is not None and broken not in BROKEN:
        raise ValueError("unknown broken case %r (known: %s)"
                         % (broken, ", ".join(BROKEN)))
    if shards < 1:
        raise ValueError("--shards must be >= 1, got %d" % shards)
    if broken == "bad-index":
        shards = max(shards, 2)
    cfg = make_config(variant, dtype)
    weights = make_weights(cfg, seed)
    layers = cfg["num_hidden_layers"]
    os.makedirs(out_dir, exist_ok=True)
    for fname in os.listdir(out_dir):
        if _OWNED.match(fname):
            os.remove(os.path.join(out_dir, fname))

    tensors = {n: _cast(weights[n], dtype) for n in sorted(weights)}
    if broken == "missing-tensor":
        del tensors["model.layers.1.mlp.down_proj.weight"]
    elif broken == "extra-tensor":
        extra = "model.layers.%d.input_layernorm.weight" % layers
        tensors[extra] = _cast(np.ones(HIDDEN, np.float32), dtype)
    elif broken == "shape-mismatch":
        n = "model.layers.0.mlp.down_proj.weight"
        tensors[n] = _cast(np.ascontiguousarray(weights[n].T), dtype)
    elif broken == "bad-dtype":
        tensors["model.norm.weight"] = ("I8", np.ones(HIDDEN, np.int8))
    files = st.save_checkpoint(tensors, out_dir, shards)
    if broken in ("truncated-header", "malformed-header", "offset-past-end",
                  "overlapping-tensors"):
        _break_file(os.path.join(out_dir, files[0]), broken)
    elif broken == "bad-index":
        ipath = os.path.join(out_dir, st.INDEX_NAME)
        with open(ipath) as f:
            index = json.load(f)
        index["weight_map"]["model.norm.weight"] = st.shard_name(shards,
                                                                 shards)
        with open(ipath, "w") as f:
            json.dump(index, f, indent=2)

    if broken == "unsupported-arch":
        cfg["architectures"], cfg["model_type"] = ["FalconForCausalLM"], "falcon"
    elif broken == "unsupported-field":
        cfg["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0,
                               "original_max_position_embeddings": 64}
    elif broken == "missing-field":
        del cfg["num_hidden_layers"]
    text = json.dumps(cfg, indent=2) + "\n"
    if broken == "truncated-json":
        text = text[:len(text) // 2]
    elif broken == "malformed-json":
        text = text.replace(",\n", "\n", 1)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(text)

    tok, bos, eos = bpe_tokenizer.make_tokenizer_json(cfg["vocab_size"])
    assert (bos, eos) == (cfg["bos_token_id"], cfg["eos_token_id"])
    with open(os.path.join(out_dir, "tokenizer.json"), "w",
              encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    tok_cfg = {"tokenizer_class": "PreTrainedTokenizerFast",
               "bos_token": bpe_tokenizer.BOS_TOKEN,
               "eos_token": bpe_tokenizer.EOS_TOKEN,
               "model_max_length": cfg["max_position_embeddings"],
               "clean_up_tokenization_spaces": False}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2)
