"""GGUF architectures as data: one Arch per `general.architecture`, saying where its metadata
lives, how it builds a ModelConfig, which tensor is which of attncli's weights, whether
llama.cpp permuted its Q/K rows, and which tensors are fused and split how.

Adding an architecture is one entry of ARCHS (plus, at most, one config builder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...config import ModelConfig
from ...errors import ModelError
from .reader import TensorInfo

Meta = dict[str, Any]


@dataclass(frozen=True)
class Arch:
    name: str  # general.architecture, and the prefix of its metadata keys
    config: Callable[["Arch", Meta, dict[str, TensorInfo], Path], ModelConfig]
    # our name inside blocks.{L} -> llama.cpp's name inside blk.{L}
    block_tensors: dict[str, str]
    # llama.cpp's convert_hf_to_gguf permutes Q/K rows of rotate-half (HF Llama) models into
    # its interleaved rotary layout; attncli rotates halves, so those rows are un-permuted.
    # NEOX-style models (Qwen2, ...) are stored as they are: un-permuting them would be wrong.
    unpermute_qk: bool
    # a fused GGUF tensor inside blk.{L} -> our names it is split into, by output rows, in order
    fused: dict[str, tuple[str, ...]] = field(default_factory=dict)
    layer_tensors: int = 9  # tensors per block at least: bounds block_count before any loop

    def key(self, name: str) -> str:
        return f"{self.name}.{name}"


def meta_value(meta: Meta, key: str, file: Path, kind: type = int, default: Any = None) -> Any:
    value = meta.get(key, default)
    if value is None:
        raise ModelError(f"{file}: metadata {key} is missing; the file is not a complete {key.split('.')[0]}-architecture GGUF")
    if kind is int and not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        raise ModelError(f"{file}: metadata {key} is {value!r}, expected an integer")
    if kind is float and not isinstance(value, (int, float, np.floating)):
        raise ModelError(f"{file}: metadata {key} is {value!r}, expected a number")
    return kind(value)


def llama_config(arch: Arch, meta: Meta, tensors: dict[str, TensorInfo], file: Path) -> ModelConfig:
    """RMSNorm, rotary, grouped-query attention, SwiGLU, no biases: the llama block."""
    k = arch.key
    d_model = meta_value(meta, k("embedding_length"), file)
    n_head = meta_value(meta, k("attention.head_count"), file)
    d_head = meta_value(meta, k("attention.key_length"), file, int, d_model // max(n_head, 1))
    rope_dims = meta_value(meta, k("rope.dimension_count"), file, int, d_head)
    if rope_dims != d_head:
        raise ModelError(f"{file}: rotary covers {rope_dims} of {d_head} head dimensions; partial rotary is not supported")
    scaling = meta.get(k("rope.scaling.type"), "none")
    if scaling not in ("none", "") and meta.get(k("rope.scaling.factor"), 1.0) not in (0.0, 1.0):
        raise ModelError(f"{file}: rope scaling {scaling!r} is not supported; use a model without it")
    n_layer = meta_value(meta, k("block_count"), file)
    if not 1 <= n_layer <= len(tensors) // arch.layer_tensors:
        raise ModelError(f"{file}: metadata {k('block_count')} is {n_layer} but the file holds {len(tensors)} tensors; "
                         "the file is corrupt or not a complete model")
    embd = tensors.get("token_embd.weight")
    if embd is None or len(embd.dims) != 2:
        raise ModelError(f"{file}: tensor token_embd.weight is missing or not a matrix; the file is not a complete model")
    # every metadata read happens before the try: only the config's own checks get the prefix below
    n_kv_head = meta_value(meta, k("attention.head_count_kv"), file, int, n_head)
    d_mlp = meta_value(meta, k("feed_forward_length"), file)
    n_ctx = meta_value(meta, k("context_length"), file)
    norm_eps = meta_value(meta, k("attention.layer_norm_rms_epsilon"), file, float)
    rope_theta = meta_value(meta, k("rope.freq_base"), file, float, 10000.0)
    try:
        return ModelConfig(
            vocab_size=int(embd.dims[1]), n_layer=n_layer, n_head=n_head, n_kv_head=n_kv_head, d_model=d_model,
            d_head=d_head, d_mlp=d_mlp, n_ctx=n_ctx, norm="rmsnorm", norm_eps=norm_eps, positions="rotary",
            rope_theta=rope_theta, mlp="swiglu", activation="silu", attn_bias=False, mlp_bias=False,
            tied_embeddings="output.weight" not in tensors, architecture=arch.name,
        )
    except ModelError as e:  # the config's own checks (positive sizes, heads divisible), said about this file
        raise ModelError(f"{file}: the metadata gives an unusable {e}") from None


LLAMA_BLOCK = {
    "ln1.w": "attn_norm.weight", "ln2.w": "ffn_norm.weight",
    "attn.W_Q": "attn_q.weight", "attn.W_K": "attn_k.weight", "attn.W_V": "attn_v.weight", "attn.W_O": "attn_output.weight",
    "mlp.W_gate": "ffn_gate.weight", "mlp.W_in": "ffn_up.weight", "mlp.W_out": "ffn_down.weight",
}

ARCHS: dict[str, Arch] = {a.name: a for a in (
    Arch("llama", llama_config, LLAMA_BLOCK, unpermute_qk=True),
)}


def arch_of(meta: Meta, file: Path) -> Arch:
    name = meta.get("general.architecture")
    if name not in ARCHS:
        raise ModelError(f"{file}: architecture {name!r} is not supported; attncli reads GGUF files of the "
                         f"{', '.join(ARCHS)} architecture (Llama, SmolLM2, TinyLlama, ...)")
    return ARCHS[name]


def tensor_names(arch: Arch, config: ModelConfig) -> dict[str, str]:
    """Our parameter name -> the GGUF tensor name llama.cpp writes (fused tensors excluded)."""
    names = {"embed.W_E": "token_embd.weight", "ln_final.w": "output_norm.weight"}
    if not config.tied_embeddings:
        names["unembed.W_U"] = "output.weight"
    for L in range(config.n_layer):
        names.update({f"blocks.{L}.{ours}": f"blk.{L}.{theirs}" for ours, theirs in arch.block_tensors.items()})
    return names


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's convert_hf_to_gguf `permute` of Q/K rows ([out, in]) for its rotary layout.

    llama.cpp interleaves each head's two rotary halves (pairs (i, i + dh/2) become adjacent
    rows); Hugging Face and our core rotate halves, so the rows go back.
    """
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)  # [out, in]
