"""Llama-family Hugging Face folders (model_type llama, mistral, qwen2, qwen3, gemma3_text, gemma3's
text model, phi3), mapped onto attncli's names.

They share one block; what differs is data, one Variant each: transformers' defaults for the keys
a config.json may leave out, which biases there are, how sliding-window layers are chosen, Gemma's
norms and embeddings, Q/K norms, partial rotary, and which tensors are fused (Phi-3's qkv_proj and
gate_up_proj, split by output rows at load). Rope scaling of type llama3 or linear becomes
rope_freq_factors; any other type, attention softcapping and the like are refused in one line,
never computed as something else. Hugging Face stores Linear weights [out, in]: they are transposed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig, head_size, param_shapes
from ..errors import ModelError
from ..model import Params
from .common import Held, Shards, positive, refuse_unsupported, require_keys

# transformers' activation names -> ours
ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh",
               "gelu": "gelu"}

# our name inside blocks.{L} -> the Hugging Face key inside layers.{L}; only what the config implies is read
LLAMA_BLOCK = {
    "ln1.w": "input_layernorm.weight", "ln2.w": "post_attention_layernorm.weight",
    "attn.W_Q": "self_attn.q_proj.weight", "attn.W_K": "self_attn.k_proj.weight",
    "attn.W_V": "self_attn.v_proj.weight", "attn.W_O": "self_attn.o_proj.weight",
    "attn.b_Q": "self_attn.q_proj.bias", "attn.b_K": "self_attn.k_proj.bias", "attn.b_V": "self_attn.v_proj.bias",
    "attn.b_O": "self_attn.o_proj.bias",
    "attn.q_norm.w": "self_attn.q_norm.weight", "attn.k_norm.w": "self_attn.k_norm.weight",
    "mlp.W_gate": "mlp.gate_proj.weight", "mlp.W_in": "mlp.up_proj.weight", "mlp.W_out": "mlp.down_proj.weight",
}
# Gemma 3 names its four norms by place: post_attention_layernorm is the sandwich's, not the MLP's
GEMMA3_BLOCK = {**LLAMA_BLOCK, "ln1_post.w": "post_attention_layernorm.weight",
                "ln2.w": "pre_feedforward_layernorm.weight", "ln2_post.w": "post_feedforward_layernorm.weight"}
# a fused key inside layers.{L} -> our names it holds, in order of its output rows
PHI3_FUSED = {"self_attn.qkv_proj.weight": ("attn.W_Q", "attn.W_K", "attn.W_V"),
              "mlp.gate_up_proj.weight": ("mlp.W_gate", "mlp.W_in")}
PHI3_BLOCK = {ours: theirs for ours, theirs in LLAMA_BLOCK.items() if not any(ours in p for p in PHI3_FUSED.values())}

# where the language model's tensors live: causal LMs, then gemma3's multimodal folders (transformers 5, then 4)
PREFIXES = ("model.", "model.language_model.", "language_model.model.", "")
LM_HEADS = ("lm_head.weight", "language_model.lm_head.weight")

LLAMA_DEFAULTS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": None, "head_dim": None, "hidden_act": "silu",
                  "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
                  "attention_bias": False, "mlp_bias": False}
QWEN2_DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 151936, "intermediate_size": 22016, "num_key_value_heads": 32,
                  "max_position_embeddings": 32768, "use_sliding_window": False, "sliding_window": 4096,
                  "max_window_layers": 28}


@dataclass(frozen=True)
class Variant:
    defaults: dict[str, Any]  # transformers' defaults, for the keys a config.json leaves out
    biases: str = "attention_bias"  # the key that puts biases on Q, K, V and W_O; "qkv": always Q, K, V only
    sliding: str = "none"  # which layers slide: "none", "every" (sliding_window on all), "layer_types"
    qk_norm: bool = False
    gemma: bool = False  # (1 + w) norms, sandwich norms, sqrt(d) embeddings, query_pre_attn_scalar, local rope
    partial_rotary: bool = False  # rope_parameters' partial_rotary_factor is honored (transformers' Phi-3)
    block: dict[str, str] = field(default_factory=lambda: LLAMA_BLOCK)
    fused: dict[str, tuple[str, ...]] = field(default_factory=dict)


VARIANTS: dict[str, Variant] = {
    "llama": Variant(LLAMA_DEFAULTS),
    "mistral": Variant({**LLAMA_DEFAULTS, "intermediate_size": 14336, "num_key_value_heads": 8,
                        "max_position_embeddings": 131072, "sliding_window": 4096}, biases="none", sliding="every"),
    "qwen2": Variant(QWEN2_DEFAULTS, biases="qkv", sliding="layer_types"),
    "qwen3": Variant({**QWEN2_DEFAULTS, "head_dim": 128}, sliding="layer_types", qk_norm=True),
    "gemma3_text": Variant({**LLAMA_DEFAULTS, "vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
                            "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                            "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
                            "max_position_embeddings": 131072, "tie_word_embeddings": True,
                            "query_pre_attn_scalar": 256, "sliding_window": 4096,
                            "rope_theta": 1_000_000.0, "rope_local_base_freq": 10_000.0},
                           sliding="layer_types", qk_norm=True, gemma=True, block=GEMMA3_BLOCK),
    "phi3": Variant({**LLAMA_DEFAULTS, "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
                     "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "sliding_window": None},
                    biases="none", sliding="every", partial_rotary=True, block=PHI3_BLOCK, fused=PHI3_FUSED),
}

# config keys whose meaning attncli does not compute: (key, when it is a problem, what to say)
REFUSED = (
    ("attn_logit_softcapping", lambda v: v is not None, "attention softcapping"),
    ("final_logit_softcapping", lambda v: v is not None, "final logit softcapping"),
    ("use_bidirectional_attention", bool, "bidirectional attention"),
    ("mlp_bias", bool, "an MLP with biases"),
)
ROPE_TYPES = ("default", "linear", "llama3")


def text_config(doc: dict[str, Any], cfg_path: Path) -> dict[str, Any]:
    """The language model's config: doc itself, or a multimodal gemma3's text_config (ties are the outer config's)."""
    if doc.get("model_type") != "gemma3":
        return doc
    text = doc.get("text_config")
    if not isinstance(text, dict):
        raise ModelError(f"{cfg_path}: model_type gemma3 without a text_config object; restore config.json")
    tie = doc.get("tie_word_embeddings", text.get("tie_word_embeddings", True))
    return {**text, "model_type": "gemma3_text", "tie_word_embeddings": tie}


def rope_parameters(hp: dict[str, Any], cfg_path: Path) -> dict[str, dict[str, Any]]:
    """Rotary parameters by layer type ("full_attention", "sliding_attention"), from transformers 5's
    rope_parameters or the older rope_theta, rope_scaling and rope_local_base_freq keys."""
    rp = hp.get("rope_parameters")
    if rp is None:
        rp = hp.get("rope_scaling") or {}
    by_type = isinstance(rp, dict) and bool({"full_attention", "sliding_attention"} & set(rp))
    if not isinstance(rp, dict) or by_type and not all(isinstance(v, dict) or v is None for v in rp.values()):
        raise ModelError(f"{cfg_path}: rope_parameters (or rope_scaling) is {rp!r}, not an object; restore config.json")
    per = {k: dict(v or {}) for k, v in rp.items()} if by_type else {"full_attention": dict(rp)}
    full = per.setdefault("full_attention", {})
    full.setdefault("rope_theta", hp.get("rope_theta", 10000.0))
    local = per.setdefault("sliding_attention", {})
    local.setdefault("rope_theta", hp.get("rope_local_base_freq", full["rope_theta"]))
    for p in per.values():
        p["rope_type"] = p.get("rope_type") or p.get("type") or "default"
    return per


def freq_factors(p: dict[str, Any], hp: dict[str, Any], dims: int, cfg_path: Path) -> tuple[float, ...]:
    """One divisor per rotary frequency for rope type linear or llama3 (transformers' rope_utils); () for default."""
    kind = p["rope_type"]
    if kind not in ROPE_TYPES:
        raise ModelError(f"{cfg_path}: rope scaling type {kind!r} is not supported; attncli computes "
                         f"{', '.join(ROPE_TYPES)} rotary positions")
    if kind == "default":
        return ()
    factor = positive(p.get("factor", 1.0), "the rope scaling factor", cfg_path)
    if kind == "linear":
        return (factor,) * (dims // 2)
    old = p.get("original_max_position_embeddings", hp.get("original_max_position_embeddings"))
    if old is None:
        raise ModelError(f"{cfg_path}: llama3 rope scaling without original_max_position_embeddings; "
                         "restore config.json")
    old = positive(old, "original_max_position_embeddings", cfg_path)
    low = positive(p.get("low_freq_factor", 1.0), "low_freq_factor", cfg_path)
    high = positive(p.get("high_freq_factor", 4.0), "high_freq_factor", cfg_path)
    if not high > low:  # transformers would divide by high - low
        raise ModelError(f"{cfg_path}: high_freq_factor {high:g} is not more than low_freq_factor {low:g}; "
                         "restore config.json")
    theta = positive(p["rope_theta"], "rope_theta", cfg_path)
    inv_freq = 1.0 / (theta ** (np.arange(0, dims, 2, dtype=np.float64) / dims))  # [dims/2]
    factors = []
    for wavelen in 2 * math.pi / inv_freq:
        if wavelen < old / high:  # high frequencies: kept
            factors.append(1.0)
        elif wavelen > old / low:  # low frequencies: stretched by the factor
            factors.append(factor)
        else:  # in between: smoothly from one to the other
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return tuple(factors)


def sliding(v: Variant, hp: dict[str, Any], n_layer: int, cfg_path: Path) -> tuple[int, tuple[int, ...]]:
    """(sliding_window, the layers it applies to), as transformers chooses them for this family."""
    window = hp.get("sliding_window")
    if v.sliding == "none" or window is None or (v.sliding == "layer_types" and not v.gemma
                                                 and not hp.get("use_sliding_window")):
        return 0, ()
    if v.sliding == "every":
        types = ["sliding_attention"] * n_layer
    elif hp.get("layer_types") is not None:
        types = hp["layer_types"]
    elif v.gemma:  # every sliding_window_pattern-th layer is global
        pattern = hp.get("sliding_window_pattern", hp.get("_sliding_window_pattern", 6))
        if isinstance(pattern, bool) or not isinstance(pattern, int) or pattern < 1:  # transformers would divide by 0
            raise ModelError(f"{cfg_path}: sliding_window_pattern is {pattern!r}; it must be a positive integer "
                             "(every pattern-th layer is global), restore config.json")
        types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n_layer)]
    else:  # Qwen: the layers from max_window_layers on
        if isinstance(hp["max_window_layers"], bool) or not isinstance(hp["max_window_layers"], int):
            raise ModelError(f"{cfg_path}: max_window_layers is {hp['max_window_layers']!r}, not a number of layers; "
                             "restore config.json")
        types = ["sliding_attention" if i >= hp["max_window_layers"] else "full_attention" for i in range(n_layer)]
    if not isinstance(types, list) or len(types) != n_layer:
        raise ModelError(f"{cfg_path}: layer_types must list one type per layer ({n_layer}); restore config.json")
    unknown = sorted({t for t in types if t not in ("sliding_attention", "full_attention")}, key=str)
    if unknown:
        raise ModelError(f"{cfg_path}: layer type {unknown[0]!r} is not supported; attncli computes "
                         "full_attention and sliding_attention layers")
    layers = tuple(i for i, t in enumerate(types) if t == "sliding_attention")
    if layers and not (isinstance(window, int) and window > 0):
        raise ModelError(f"{cfg_path}: sliding_window is {window!r}; expected a positive integer")
    return (window, layers) if layers else (0, ())


SIZES = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
         "head_dim", "vocab_size")


def read_config(doc: dict[str, Any], cfg_path: Path, held: Held) -> ModelConfig:
    if doc.get("model_type") != "gemma3":  # a text_config is saved without the values that are its defaults
        require_keys(doc, ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                           "num_attention_heads"), cfg_path)
    hp = text_config(doc, cfg_path)
    v = VARIANTS[hp["model_type"]]
    hp = {**v.defaults, **hp}
    held.check(cfg_path, {k: hp[k] for k in SIZES}, "num_hidden_layers", tuple(p + "layers." for p in PREFIXES))
    refuse_unsupported(hp, REFUSED, cfg_path)
    act_key = "hidden_activation" if v.gemma else "hidden_act"
    act = hp.get(act_key)
    if act not in ACTIVATIONS:
        raise ModelError(f"{cfg_path}: {act_key} {act!r} is not supported (attncli knows {', '.join(ACTIVATIONS)})")
    n_head, d = hp["num_attention_heads"], hp["hidden_size"]
    d_head = hp.get("head_dim") or head_size(d, n_head, str(cfg_path), ("hidden_size", "num_attention_heads"),
                                             "restore config.json")
    rope = rope_parameters(hp, cfg_path)
    full, local = rope["full_attention"], rope["sliding_attention"]
    partial = positive(full.get("partial_rotary_factor", hp.get("partial_rotary_factor", 1.0)), "partial_rotary_factor",
                       cfg_path)
    if partial > 1:
        raise ModelError(f"{cfg_path}: partial_rotary_factor is {partial:g}; it is the part of each head that turns, "
                         "at most 1, restore config.json")
    if partial != 1.0 and not v.partial_rotary:
        raise ModelError(f"{cfg_path}: partial rotary (partial_rotary_factor {partial}) is not supported for "
                         f"model_type {hp['model_type']}")
    rope_dims = int(d_head * partial) if isinstance(d_head, int) else 0
    window, layers = sliding(v, hp, hp["num_hidden_layers"], cfg_path)
    if v.gemma and layers and local["rope_type"] != "default":
        raise ModelError(f"{cfg_path}: rope scaling type {local['rope_type']!r} on the sliding layers is not "
                         "supported; attncli scales only the global layers' rotary positions")
    qkv_bias = v.biases == "qkv" or (v.biases == "attention_bias" and bool(hp.get("attention_bias")))
    hyper = {
        "vocab_size": hp["vocab_size"], "n_layer": hp["num_hidden_layers"], "n_head": n_head, "d_model": d,
        "n_kv_head": hp.get("num_key_value_heads") or n_head, "d_head": d_head, "d_mlp": hp["intermediate_size"],
        "n_ctx": hp["max_position_embeddings"], "norm": "rmsnorm",
        "norm_eps": positive(hp["rms_norm_eps"], "rms_norm_eps", cfg_path), "positions": "rotary",
        "rope_theta": positive(full["rope_theta"], "rope_theta", cfg_path), "mlp": "swiglu",
        "activation": ACTIVATIONS[act],
        "attn_bias": qkv_bias, "attn_out_bias": qkv_bias and v.biases != "qkv", "mlp_bias": False,
        "tied_embeddings": bool(hp["tie_word_embeddings"]), "architecture": hp["model_type"],
        "qk_norm": v.qk_norm, "rope_dims": rope_dims, "rope_freq_factors": freq_factors(full, hp, rope_dims, cfg_path),
        "sliding_window": window, "sliding_layers": layers,
    }
    if v.gemma:
        hyper.update(norm_plus_one=True, sandwich_norms=True, scale_embed=True,
                     query_pre_attn_scalar=positive(hp["query_pre_attn_scalar"], "query_pre_attn_scalar", cfg_path),
                     rope_local_theta=positive(local["rope_theta"], "rope_local_base_freq", cfg_path) if layers
                     else 0.0)
    return ModelConfig.from_dict(hyper, source=str(cfg_path))


def read_tensors(f: Shards, where: Path, config: ModelConfig) -> Params:
    """Every tensor the config implies, with its shape, finite, in our names and [in, out] layout."""
    keys = f.keys()
    prefix = next((p for p in PREFIXES if f"{p}embed_tokens.weight" in keys), None)
    if prefix is None:
        raise ModelError(f"{where}: no embed_tokens.weight under model. (or a multimodal folder's language model); "
                         "the file does not match config.json")
    v = VARIANTS[config.architecture]
    expected = param_shapes(config)

    def get(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in keys:
            raise ModelError(f"{where}: tensor {key} is missing; the file does not match config.json")
        return f.tensor(key, shape)

    def matrix(key: str, out_in: tuple[int, int]) -> np.ndarray:
        return np.ascontiguousarray(get(key, out_in).T)  # [out, in] -> [in, out]

    params: Params = {"embed.W_E": get(f"{prefix}embed_tokens.weight", expected["embed.W_E"]),
                      "ln_final.w": get(f"{prefix}norm.weight", expected["ln_final.w"])}
    for L in range(config.n_layer):
        here = f"{prefix}layers.{L}."
        for ours, theirs in v.block.items():
            shape = expected.get(f"blocks.{L}.{ours}")
            if shape is not None:
                key = here + theirs
                params[f"blocks.{L}.{ours}"] = matrix(key, shape[::-1]) if len(shape) == 2 else get(key, shape)
        for theirs, parts in v.fused.items():  # split by output rows, in order
            shapes = [expected[f"blocks.{L}.{ours}"] for ours in parts]  # [in, out] each
            fused = get(here + theirs, (sum(s[1] for s in shapes), shapes[0][0]))  # [sum of outs, in]
            start = 0
            for ours, (_, n_out) in zip(parts, shapes, strict=True):
                params[f"blocks.{L}.{ours}"] = np.ascontiguousarray(fused[start:start + n_out].T)  # [in, out]
                start += n_out
    if not config.tied_embeddings:
        head = next((k for k in LM_HEADS if k in keys), LM_HEADS[0])
        params["unembed.W_U"] = matrix(head, (config.vocab_size, config.d_model))  # [V, d] -> [d, V]
    missing = sorted(set(expected) - set(params))
    if missing:  # a variant's table lacks a name its config implies: attncli's bug, said plainly
        raise ModelError(f"{where}: attncli does not know where {missing[0]} is in a {config.architecture} folder")
    return params
