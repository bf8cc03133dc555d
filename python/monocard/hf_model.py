"""What a Llama-family Hugging Face checkpoint must contain, checked strictly.

Why this exists: the checkpoint generator, the numpy reference and the tests
need one shared statement of which config fields are read (with HF's
defaults), which tensors must exist with which shapes, and which dtypes are
allowed.  It is also the executable spec for the C++ importer: anything
`load_model` rejects, the importer must reject too, with a clear message.

Supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM with
hidden_act "silu"; rope_scaling null / "default" / "linear" / "llama3".
"""

import json
import os
from dataclasses import dataclass

import numpy as np

from monocard import safetensors_io as st

ARCHITECTURES = {  # architecture -> model_type
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
}
DEFAULT_MAX_POS = {"llama": 2048, "mistral": 4096 * 32, "qwen2": 32768}
ROPE_TYPES = ("default", "linear", "llama3")
LLAMA3_KEYS = ("factor", "low_freq_factor", "high_freq_factor",
               "original_max_position_embeddings")
WEIGHT_DTYPES = ("F32", "F16", "BF16")
TORCH_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


class CheckpointError(ValueError):
    """The checkpoint is malformed or uses something unsupported."""


@dataclass
class ModelConfig:
    architecture: str
    model_type: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict      # None, or a dict with "rope_type"
    tie_word_embeddings: bool
    qkv_bias: bool          # q/k/v_proj have .bias
    o_bias: bool            # o_proj has .bias (Llama attention_bias only)
    sliding_window: int     # None = full attention
    bos_token_id: int
    eos_token_id: object    # int, list of ints, or None
    torch_dtype: str


def _int(cfg, key, default=None, minimum=1):
    v = cfg.get(key)
    if v is None:
        if default is None:
            raise CheckpointError("config.json: missing required field %r"
                                  % key)
        v = default
    if type(v) is not int or v < minimum:
        raise CheckpointError("config.json: %r must be an integer >= %d, got "
                              "%r" % (key, minimum, v))
    return v


def _num(cfg, key, default=None):
    v = cfg.get(key)
    if v is None:
        if default is None:
            raise CheckpointError("config.json: missing required field %r"
                                  % key)
        v = default
    if type(v) not in (int, float) or not v > 0:
        raise CheckpointError("config.json: %r must be a positive number, got "
                              "%r" % (key, v))
    return float(v)


def parse_rope_scaling(rs):
    """Normalise rope_scaling: None, or {"rope_type": ..., params}."""
    if rs is None:
        return None
    if not isinstance(rs, dict):
        raise CheckpointError("config.json: rope_scaling must be an object or "
                              "null, got %r" % (rs,))
    rt = rs.get("rope_type", rs.get("type"))
    if rt not in ROPE_TYPES:
        raise CheckpointError("config.json: unsupported rope_scaling type %r "
                              "(supported: %s)" % (rt, ", ".join(ROPE_TYPES)))
    if rt == "default":
        return None
    need = ("factor",) if rt == "linear" else LLAMA3_KEYS
    out = {"rope_type": rt}
    for k in need:
        v = rs.get(k)
        if type(v) not in (int, float) or not v > 0:
            raise CheckpointError("config.json: rope_scaling[%r] must be a "
                                  "positive number, got %r" % (k, v))
        out[k] = float(v)
    if rt == "llama3" and not out["high_freq_factor"] > out["low_freq_factor"]:
        raise CheckpointError("config.json: rope_scaling high_freq_factor must "
                              "exceed low_freq_factor")
    return out


def parse_config(cfg):
    """config.json dict -> ModelConfig, applying HF defaults, rejecting what
    is missing, malformed or unsupported."""
    if not isinstance(cfg, dict):
        raise CheckpointError("config.json: not a JSON object")
    archs = cfg.get("architectures")
    if not (isinstance(archs, list) and len(archs) == 1):
        raise CheckpointError("config.json: 'architectures' must list exactly "
                              "one architecture, got %r" % (archs,))
    arch = archs[0]
    if arch not in ARCHITECTURES:
        raise CheckpointError("config.json: unsupported architecture %r "
                              "(supported: %s)" % (arch, ", ".join(ARCHITECTURES)))
    mt = ARCHITECTURES[arch]
    if cfg.get("model_type", mt) != mt:
        raise CheckpointError("config.json: model_type %r does not match %s"
                              % (cfg.get("model_type"), arch))
    if cfg.get("hidden_act", "silu") != "silu":
        raise CheckpointError("config.json: unsupported hidden_act %r"
                              % cfg.get("hidden_act"))
    if cfg.get("mlp_bias", False):
        raise CheckpointError("config.json: mlp_bias=true is unsupported")
    hidden = _int(cfg, "hidden_size")
    heads = _int(cfg, "num_attention_heads")
    kv = _int(cfg, "num_key_value_heads", heads)
    if heads % kv:
        raise CheckpointError("config.json: num_attention_heads %d is not a "
                              "multiple of num_key_value_heads %d" % (heads, kv))
    hd = cfg.get("head_dim")
    if hd is None:
        if hidden % heads:
            raise CheckpointError("config.json: hidden_size %d not divisible "
                                  "by num_attention_heads %d" % (hidden, heads))
        hd = hidden // heads
    hd = _int({"head_dim": hd}, "head_dim")
    if hd % 2:
        raise CheckpointError("config.json: head_dim %d must be even" % hd)
    sw = None
    if mt == "mistral":
        sw = cfg.get("sliding_window")
    elif mt == "qwen2" and cfg.get("use_sliding_window", False):
        raise CheckpointError("config.json: use_sliding_window=true is "
                              "unsupported")
    if sw is not None:
        sw = _int({"sliding_window": sw}, "sliding_window")
    td = cfg.get("torch_dtype", cfg.get("dtype")) or "float32"
    if td not in TORCH_DTYPES:
        raise CheckpointError("config.json: unsupported torch_dtype %r" % (td,))
    bias = bool(cfg.get("attention_bias", False)) if mt == "llama" else False
    # transformers >= 5 saves rope_parameters {"rope_type", "rope_theta",
    # ...} in place of rope_theta + rope_scaling; accept both spellings.
    rope, scaling = cfg, cfg.get("rope_scaling")
    if cfg.get("rope_parameters") is not None:
        rope = scaling = cfg["rope_parameters"]
        if not isinstance(rope, dict):
            raise CheckpointError("config.json: rope_parameters must be an "
                                  "object, got %r" % (rope,))
        scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    return ModelConfig(
        architecture=arch, model_type=mt, hidden_size=hidden,
        intermediate_size=_int(cfg, "intermediate_size"),
        num_layers=_int(cfg, "num_hidden_layers"),
        num_heads=heads, num_kv_heads=kv, head_dim=hd,
        vocab_size=_int(cfg, "vocab_size"),
        max_position_embeddings=_int(cfg, "max_position_embeddings",
                                     DEFAULT_MAX_POS[mt]),
        rms_norm_eps=_num(cfg, "rms_norm_eps"),
        rope_theta=_num(rope if "rope_theta" in rope else cfg, "rope_theta",
                        10000.0),
        rope_scaling=parse_rope_scaling(scaling),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=bias or mt == "qwen2", o_bias=bias, sliding_window=sw,
        bos_token_id=cfg.get("bos_token_id"),
        eos_token_id=cfg.get("eos_token_id"), torch_dtype=td)


def read_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise CheckpointError("%s: not found" % path)
    except ValueError as e:
        raise CheckpointError("%s: not valid JSON (%s)" % (path, e))
    return parse_config(cfg)


def expected_tensors(c):
    """{name: shape} of every tensor the checkpoint must hold, HF layout
    (Linear weights are [out_features, in_features])."""
    h, q, kv = c.hidden_size, c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
    out = {"model.embed_tokens.weight": (c.vocab_size, h)}
    for i in range(c.num_layers):
        p = "model.layers.%d." % i
        out[p + "input_layernorm.weight"] = (h,)
        for name, rows in (("q", q), ("k", kv), ("v", kv)):
            out[p + "self_attn.%s_proj.weight" % name] = (rows, h)
            if c.qkv_bias:
                out[p + "self_attn.%s_proj.bias" % name] = (rows,)
        out[p + "self_attn.o_proj.weight"] = (h, q)
        if c.o_bias:
            out[p + "self_attn.o_proj.bias"] = (h,)
        out[p + "post_attention_layernorm.weight"] = (h,)
        out[p + "mlp.gate_proj.weight"] = (c.intermediate_size, h)
        out[p + "mlp.up_proj.weight"] = (c.intermediate_size, h)
        out[p + "mlp.down_proj.weight"] = (h, c.intermediate_size)
    out["model.norm.weight"] = (h,)
    if not c.tie_word_embeddings:
        out["lm_head.weight"] = (c.vocab_size, h)
    return out


def check_tensors(c, headers):
    """Compare {name: (dtype, shape)} from the safetensors headers with the
    expected set.  Raises CheckpointError on the first problem."""
    want = expected_tensors(c)
    missing = [n for n in want if n not in headers]
    if missing:
        raise CheckpointError("missing tensor %r%s" % (
            missing[0], " (and %d more)" % (len(missing) - 1)
            if len(missing) > 1 else ""))
    extra = sorted(n for n in headers if n not in want)
    if extra:
        raise CheckpointError("unexpected tensor %r%s" % (
            extra[0], " (and %d more)" % (len(extra) - 1)
            if len(extra) > 1 else ""))
    for n, shape in want.items():
        dt, got = headers[n]
        if dt not in WEIGHT_DTYPES:
            raise CheckpointError("tensor %r has dtype %s; weights must be one "
                                  "of %s" % (n, dt, ", ".join(WEIGHT_DTYPES)))
        if tuple(got) != tuple(shape):
            raise CheckpointError("tensor %r has shape %s, expected %s"
                                  % (n, list(got), list(shape)))


def load_model(model_dir, load_weights=True):
    """Strictly load a checkpoint directory: (ModelConfig, {name: float32
    ndarray}) -- or (ModelConfig, headers) without weights.  Any
    safetensors-level problem surfaces as CheckpointError too."""
    c = read_config(model_dir)
    try:
        headers = st.checkpoint_headers(model_dir)
        check_tensors(c, headers)
        if not load_weights:
            return c, headers
        w = st.load_checkpoint(model_dir, upcast=True)
    except st.SafetensorsError as e:
        raise CheckpointError(str(e))
    return c, {n: np.asarray(a, dtype=np.float32) for n, a in w.items()}
