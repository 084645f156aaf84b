"""The GPT-2 family of Hugging Face directories (model_type gpt2), mapped onto attncli's names.

GPT-2's Conv1D weights are already [in, out] (x @ W + b), so nothing is transposed;
c_attn is Q, K and V side by side and is split by columns. transformers saves keys with
or without a `transformer.` prefix and no lm_head when the unembedding is tied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig, head_size, param_shapes
from ..errors import ModelError
from ..model import Params
from .common import Held, Shards, positive

# transformers' activation names -> ours; gelu_new and gelu_pytorch_tanh are both the tanh GELU
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}


def read_config(doc: dict[str, Any], cfg_path: Path, held: Held) -> ModelConfig:
    sizes = ("n_layer", "n_embd", "n_head", "n_inner", "vocab_size", "n_positions")
    held.check(cfg_path, {k: doc.get(k) for k in sizes}, "n_layer", ("h.", "transformer.h."))
    act = doc.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise ModelError(f"{cfg_path}: activation_function {act!r} is not supported "
                         f"(attncli knows {', '.join(ACTIVATIONS)})")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"):
        if doc.get(flag):
            raise ModelError(f"{cfg_path}: {flag} is set; "
                             "attncli computes plain GPT-2 attention and cannot match this model")
    if doc.get("scale_attn_weights") is False:
        raise ModelError(f"{cfg_path}: scale_attn_weights is false; attncli always scales scores by 1/sqrt(d_head)")
    d = doc.get("n_embd")
    hp = {
        "vocab_size": doc.get("vocab_size"),
        "n_layer": doc.get("n_layer"),
        "n_head": doc.get("n_head"),
        "d_model": d,
        "n_ctx": doc.get("n_positions"),
        "d_mlp": doc.get("n_inner") or (4 * d if isinstance(d, int) else 0),
        "d_head": head_size(d, doc.get("n_head"), str(cfg_path), ("n_embd", "n_head"), "restore config.json"),
        "norm_eps": positive(doc.get("layer_norm_epsilon", 1e-5), "layer_norm_epsilon", cfg_path),
        "activation": ACTIVATIONS[act],
        "tied_embeddings": bool(doc.get("tie_word_embeddings", True)),
        "architecture": "gpt2",
    }
    missing = [k for k, v in hp.items() if v is None]
    if missing:
        raise ModelError(f"{cfg_path}: missing {', '.join(missing)} (GPT-2 names: "
                         "vocab_size, n_layer, n_head, n_embd, n_positions)")
    return ModelConfig.from_dict(hp, source=str(cfg_path))


# our name inside blocks.{L} -> the Hugging Face key inside h.{L}; c_attn (Q | K | V) is split in read_tensors
BLOCK_NAMES = {
    "ln1.w": "ln_1.weight", "ln1.b": "ln_1.bias", "ln2.w": "ln_2.weight", "ln2.b": "ln_2.bias",
    "attn.W_O": "attn.c_proj.weight", "attn.b_O": "attn.c_proj.bias",
    "mlp.W_in": "mlp.c_fc.weight", "mlp.b_in": "mlp.c_fc.bias",
    "mlp.W_out": "mlp.c_proj.weight", "mlp.b_out": "mlp.c_proj.bias",
}


def hf_names(config: ModelConfig) -> dict[str, str]:
    """Our name -> the Hugging Face GPT-2 key (without the `transformer.` prefix)."""
    names = {"embed.W_E": "wte.weight", "pos_embed.W_pos": "wpe.weight",
             "ln_final.w": "ln_f.weight", "ln_final.b": "ln_f.bias"}
    for L in range(config.n_layer):
        names.update({f"blocks.{L}.{ours}": f"h.{L}.{theirs}" for ours, theirs in BLOCK_NAMES.items()})
    return names


def read_tensors(f: Shards, where: Path, config: ModelConfig) -> Params:
    """Every tensor present with the shape the config implies, finite, in our names."""
    d = config.d_model
    keys = f.keys()

    def get(key: str, shape: tuple[int, ...]) -> np.ndarray:
        full = key if key in keys else f"transformer.{key}"
        if full not in keys:
            raise ModelError(f"{where}: tensor {key} is missing; the file does not match config.json")
        return f.tensor(full, shape)

    expected = param_shapes(config)
    params: Params = {}
    for ours, key in hf_names(config).items():
        params[ours] = get(key, expected[ours])
    for L in range(config.n_layer):
        b = f"blocks.{L}"
        qkv = get(f"h.{L}.attn.c_attn.weight", (d, 3 * d))  # [d, 3d]: Q | K | V columns
        qkv_b = get(f"h.{L}.attn.c_attn.bias", (3 * d,))  # [3d]
        for i, part in enumerate("QKV"):
            params[f"{b}.attn.W_{part}"] = np.ascontiguousarray(qkv[:, i * d:(i + 1) * d])  # [d, d]
            params[f"{b}.attn.b_{part}"] = qkv_b[i * d:(i + 1) * d].copy()  # [d]
    if not config.tied_embeddings:
        if not keys & {"lm_head.weight", "transformer.lm_head.weight"}:
            raise ModelError(f"{where}: tie_word_embeddings is false but lm_head.weight is missing")
        # [V, d] -> [d, V]
        params["unembed.W_U"] = np.ascontiguousarray(get("lm_head.weight", (config.vocab_size, d)).T)
    return params
