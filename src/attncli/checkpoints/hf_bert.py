"""BERT-style encoders from Hugging Face folders (model_type bert, distilbert, roberta,
xlm-roberta), mapped onto attncli's names.

They share one block: post-norm (each sublayer's sum LayerNormed), learned positions, an
embedding LayerNorm, erf GELU, biases everywhere, bidirectional attention. What differs is data,
one Variant each: the config.json keys, the tensor names, token types (BERT, RoBERTa; not
DistilBERT), RoBERTa's positions that start at padding_idx + 1, and the masked-LM head's names.
A folder saved from *ForMaskedLM has the head (head "mlm"); one saved from BertModel or by
sentence-transformers has none (head "none": a sentence encoder, no vocabulary to predict in).
Hugging Face stores Linear weights [out, in]: they are transposed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig, head_size, param_shapes
from ..errors import ModelError
from ..model import Params
from .common import Held, Shards, positive, refuse_unsupported, require_keys

# transformers' activation names -> ours; BERT's "gelu" is the exact (erf) GELU
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}

# our name inside blocks.{L} -> the key inside BERT's and RoBERTa's encoder.layer.{L}
BERT_BLOCK = {
    "attn.W_Q": "attention.self.query.weight", "attn.b_Q": "attention.self.query.bias",
    "attn.W_K": "attention.self.key.weight", "attn.b_K": "attention.self.key.bias",
    "attn.W_V": "attention.self.value.weight", "attn.b_V": "attention.self.value.bias",
    "attn.W_O": "attention.output.dense.weight", "attn.b_O": "attention.output.dense.bias",
    "ln1.w": "attention.output.LayerNorm.weight", "ln1.b": "attention.output.LayerNorm.bias",
    "mlp.W_in": "intermediate.dense.weight", "mlp.b_in": "intermediate.dense.bias",
    "mlp.W_out": "output.dense.weight", "mlp.b_out": "output.dense.bias",
    "ln2.w": "output.LayerNorm.weight", "ln2.b": "output.LayerNorm.bias",
}
DISTILBERT_BLOCK = {
    "attn.W_Q": "attention.q_lin.weight", "attn.b_Q": "attention.q_lin.bias",
    "attn.W_K": "attention.k_lin.weight", "attn.b_K": "attention.k_lin.bias",
    "attn.W_V": "attention.v_lin.weight", "attn.b_V": "attention.v_lin.bias",
    "attn.W_O": "attention.out_lin.weight", "attn.b_O": "attention.out_lin.bias",
    "ln1.w": "sa_layer_norm.weight", "ln1.b": "sa_layer_norm.bias",
    "mlp.W_in": "ffn.lin1.weight", "mlp.b_in": "ffn.lin1.bias",
    "mlp.W_out": "ffn.lin2.weight", "mlp.b_out": "ffn.lin2.bias",
    "ln2.w": "output_layer_norm.weight", "ln2.b": "output_layer_norm.bias",
}
EMBEDDINGS = {"embed.W_E": "embeddings.word_embeddings.weight",
              "pos_embed.W_pos": "embeddings.position_embeddings.weight",
              "type_embed.W_T": "embeddings.token_type_embeddings.weight",
              "embed_ln.w": "embeddings.LayerNorm.weight", "embed_ln.b": "embeddings.LayerNorm.bias"}
# the masked-LM head: our name -> its keys, the first present wins (older saves name the bias under decoder)
BERT_MLM = {"mlm.W": ("cls.predictions.transform.dense.weight",), "mlm.b": ("cls.predictions.transform.dense.bias",),
            "mlm.ln.w": ("cls.predictions.transform.LayerNorm.weight",),
            "mlm.ln.b": ("cls.predictions.transform.LayerNorm.bias",),
            "unembed.b": ("cls.predictions.bias", "cls.predictions.decoder.bias"),
            "unembed.W_U": ("cls.predictions.decoder.weight",)}
ROBERTA_MLM = {"mlm.W": ("lm_head.dense.weight",), "mlm.b": ("lm_head.dense.bias",),
               "mlm.ln.w": ("lm_head.layer_norm.weight",), "mlm.ln.b": ("lm_head.layer_norm.bias",),
               "unembed.b": ("lm_head.bias", "lm_head.decoder.bias"), "unembed.W_U": ("lm_head.decoder.weight",)}
DISTILBERT_MLM: dict[str, tuple[str, ...]] = {
    "mlm.W": ("vocab_transform.weight",), "mlm.b": ("vocab_transform.bias",),
    "mlm.ln.w": ("vocab_layer_norm.weight",), "mlm.ln.b": ("vocab_layer_norm.bias",),
    "unembed.b": ("vocab_projector.bias",), "unembed.W_U": ("vocab_projector.weight",)}


@dataclass(frozen=True)
class Variant:
    keys: dict[str, str]  # our hyperparameter -> its config.json key
    defaults: dict[str, Any]  # transformers' defaults, for the keys a config.json leaves out
    prefix: str  # where a *ForMaskedLM keeps the encoder ("bert."); a bare model has none
    layers: str  # the blocks' key prefix, before the layer number
    block: dict[str, str]
    mlm: dict[str, tuple[str, ...]]
    positions_from_padding: bool = False  # RoBERTa: position t reads row padding_idx + 1 + t
    activation_key: str = "hidden_act"


BERT_KEYS = {"vocab_size": "vocab_size", "d_model": "hidden_size", "n_layer": "num_hidden_layers",
             "n_head": "num_attention_heads", "d_mlp": "intermediate_size", "n_ctx": "max_position_embeddings",
             "norm_eps": "layer_norm_eps", "type_vocab_size": "type_vocab_size"}
BERT_DEFAULTS = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2,
                 "layer_norm_eps": 1e-12, "tie_word_embeddings": True, "position_embedding_type": "absolute",
                 "pad_token_id": 0}
ROBERTA = Variant(BERT_KEYS, {**BERT_DEFAULTS, "vocab_size": 50265, "pad_token_id": 1}, "roberta.",
                  "encoder.layer.", BERT_BLOCK, ROBERTA_MLM, positions_from_padding=True)

VARIANTS: dict[str, Variant] = {
    "bert": Variant(BERT_KEYS, BERT_DEFAULTS, "bert.", "encoder.layer.", BERT_BLOCK, BERT_MLM),
    "roberta": ROBERTA,
    "xlm-roberta": ROBERTA,  # the same model under another name (a SentencePiece vocabulary)
    "distilbert": Variant({"vocab_size": "vocab_size", "d_model": "dim", "n_layer": "n_layers", "n_head": "n_heads",
                           "d_mlp": "hidden_dim", "n_ctx": "max_position_embeddings"},
                          {"vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072,
                           "activation": "gelu", "max_position_embeddings": 512, "tie_word_embeddings": True},
                          "distilbert.", "transformer.layer.", DISTILBERT_BLOCK, DISTILBERT_MLM,
                          activation_key="activation"),
}

# (config.json key, what makes it unsupported, what it is): refused, never computed as something else
REFUSED = (
    ("position_embedding_type", lambda v: v != "absolute", "relative position embeddings"),
    ("is_decoder", bool, "a BERT used as a causal decoder"),
    ("add_cross_attention", bool, "cross-attention"),
)


def read_config(doc: dict[str, Any], cfg_path: Path, held: Held) -> ModelConfig:
    v = VARIANTS[doc["model_type"]]
    shaped = ("vocab_size", "d_model", "n_layer", "n_head", "d_mlp", "n_ctx")  # the sizes the tensors' shapes need
    require_keys(doc, tuple(v.keys[k] for k in shaped), cfg_path)
    hp = {**v.defaults, **doc}
    held.check(cfg_path, {theirs: hp.get(theirs) for ours, theirs in v.keys.items() if ours != "norm_eps"},
               v.keys["n_layer"], (v.prefix + v.layers, v.layers))
    refuse_unsupported(hp, REFUSED, cfg_path)
    act = hp.get(v.activation_key)
    if act not in ACTIVATIONS:
        raise ModelError(f"{cfg_path}: {v.activation_key} {act!r} is not supported "
                         f"(attncli knows {', '.join(ACTIVATIONS)})")
    hyper: dict[str, Any] = {ours: hp[theirs] for ours, theirs in v.keys.items()}
    hyper["d_head"] = head_size(hyper["d_model"], hyper["n_head"], str(cfg_path), (v.keys["d_model"], v.keys["n_head"]),
                                "restore config.json")
    offset = 0
    if v.positions_from_padding:  # RoBERTa numbers the positions of a text without padding from pad + 1
        pad = hp.get("pad_token_id")
        if not isinstance(pad, int) or pad < 0:
            raise ModelError(f"{cfg_path}: pad_token_id {pad!r}: RoBERTa's positions start after it; "
                             "restore config.json")
        offset = pad + 1
        if isinstance(hyper["n_ctx"], int):
            hyper["n_ctx"] -= offset  # the rows before the offset are never read
    hyper.update(norm_eps=positive(hyper.get("norm_eps", 1e-12), v.keys.get("norm_eps", "layer_norm_eps"), cfg_path),
                 activation=ACTIVATIONS[act], causal=False,
                 block_norm="post", embed_norm=True, position_offset=offset, head="mlm",
                 tied_embeddings=bool(hp["tie_word_embeddings"]), architecture=doc["model_type"])
    if not isinstance(hyper["n_ctx"], int) or hyper["n_ctx"] < 1:
        raise ModelError(f"{cfg_path}: max_position_embeddings {hp['max_position_embeddings']!r} leaves no position "
                         "for a token; restore config.json")
    return ModelConfig.from_dict(hyper, source=str(cfg_path))


def settle(config: ModelConfig, keys: set[str]) -> ModelConfig:
    """What only the file says: a *ForMaskedLM save holds the masked-LM head (head "mlm"); a
    BertModel or sentence-transformers save has none (head "none": a sentence encoder)."""
    if VARIANTS[config.architecture].mlm["mlm.W"][0] in keys:
        return config
    return ModelConfig.from_dict({**config.to_dict(), "head": "none"})


def read_tensors(f: Shards, where: Path, config: ModelConfig) -> Params:
    """Every tensor the config implies (its head as `settle` found it), with its shape, finite, in our
    names and [in, out] layout."""
    keys = f.keys()
    v = VARIANTS[config.architecture]
    prefix = next((p for p in (v.prefix, "") if f"{p}{EMBEDDINGS['embed.W_E']}" in keys), None)
    if prefix is None:
        raise ModelError(f"{where}: no {v.prefix}{EMBEDDINGS['embed.W_E']} (nor one without '{v.prefix}'); "
                         "the file does not match config.json")
    expected = param_shapes(config)

    def get(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in keys:
            raise ModelError(f"{where}: tensor {key} is missing; the file does not match config.json")
        if len(shape) == 2 and not key.endswith("embeddings.weight"):
            return np.ascontiguousarray(f.tensor(key, shape[::-1]).T)  # [out, in] -> [in, out]
        return f.tensor(key, shape)

    params: Params = {}
    for ours, theirs in EMBEDDINGS.items():
        if ours in expected:
            params[ours] = get(prefix + theirs, expected[ours])
    for L in range(config.n_layer):
        here = f"{prefix}{v.layers}{L}."
        for ours, theirs in v.block.items():
            params[f"blocks.{L}.{ours}"] = get(here + theirs, expected[f"blocks.{L}.{ours}"])
    if config.head == "mlm":
        for ours, candidates in v.mlm.items():
            if ours not in expected:
                continue
            key = next((k for k in candidates if k in keys), candidates[0])
            params[ours] = get(key, expected[ours])  # the decoder's [V, d] -> unembed.W_U [d, V]
    missing = sorted(set(expected) - set(params))
    if missing:  # the table lacks a name the config implies: attncli's bug, said plainly
        raise ModelError(f"{where}: attncli does not know where {missing[0]} is in a {config.architecture} folder")
    return params
