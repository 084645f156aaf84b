"""GGUF architectures as data: one Arch per `general.architecture`, saying how its metadata builds a
ModelConfig, whether llama.cpp permuted its Q/K rows, which fused tensors it may hold, and whether
its graph divides the rotary frequencies by rope_freqs.weight. Tensor names are llama.cpp's, the
same in every architecture (BLOCK).

Every architecture shares block_config, the block llama.cpp builds for all of them: RMSNorm,
rotary positions, grouped-query attention, a gated MLP, with Q/K/V and output biases, Q/K norms
and post-norms wherever the file holds their tensors (as llama.cpp loads them when present).
Adding an architecture is one entry of ARCHS, plus at most one config builder for what only its
metadata says (gemma3_config). What llama.cpp would compute differently, or not at all (other rope
scalings, experts, softcapping, tensors no block uses), is refused in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ...config import ModelConfig, head_size
from ...errors import ModelError
from ..common import Held, positive
from .quants import dequantize
from .reader import TensorInfo

Meta = dict[str, Any]


class GGUFFile(NamedTuple):
    """A parsed GGUF file: what config builders and the tensor reader work from."""

    path: Path
    meta: Meta
    tensors: dict[str, TensorInfo]
    data: np.ndarray  # [file bytes] uint8, a view of the memory map

    def array(self, name: str) -> np.ndarray:
        """Tensor `name` dequantized in its stored (row-major) shape, e.g. a 1-D rope_freqs."""
        info = self.tensors[name]
        return dequantize(self.data[info.offset:info.offset + info.nbytes], info.type, info.shape)


# our name inside blocks.{L} -> llama.cpp's inside blk.{L}; only what the config implies is read
BLOCK = {
    "ln1.w": "attn_norm.weight", "ln1_post.w": "post_attention_norm.weight",
    "ln2.w": "ffn_norm.weight", "ln2_post.w": "post_ffw_norm.weight",
    "attn.W_Q": "attn_q.weight", "attn.W_K": "attn_k.weight", "attn.W_V": "attn_v.weight",
    "attn.W_O": "attn_output.weight",
    "attn.b_Q": "attn_q.bias", "attn.b_K": "attn_k.bias", "attn.b_V": "attn_v.bias", "attn.b_O": "attn_output.bias",
    "attn.q_norm.w": "attn_q_norm.weight", "attn.k_norm.w": "attn_k_norm.weight",
    "mlp.W_gate": "ffn_gate.weight", "mlp.W_in": "ffn_up.weight", "mlp.W_out": "ffn_down.weight",
}
# llama.cpp's fused Q/K/V, which any architecture's file may hold instead of attn_q/k/v
QKV_FUSED: dict[str, tuple[str, ...]] = {
    "attn_qkv.weight": ("attn.W_Q", "attn.W_K", "attn.W_V"),
    "attn_qkv.bias": ("attn.b_Q", "attn.b_K", "attn.b_V"),
}


# the metadata sizes a file's tensors bound (its context length bounds none: rotary positions have no tensor)
SIZES = ("block_count", "embedding_length", "feed_forward_length", "attention.head_count", "attention.head_count_kv",
         "attention.key_length", "attention.value_length", "rope.dimension_count")


def check_sizes(arch: "Arch", gf: GGUFFile) -> None:
    """The metadata's sizes against the tensors the file holds, before any config builder loops over
    layers or makes a table of rotary factors: an absurd block_count or head count is one line."""
    held = Held("the file", {name: info.dims for name, info in gf.tensors.items()},
                "the metadata does not match the tensors; the file is corrupt, download it again")
    sizes = {arch.key(s): gf.meta[arch.key(s)] for s in SIZES if arch.key(s) in gf.meta}
    held.check(gf.path, sizes, arch.key("block_count"), ("blk.",))


def block_config(arch: "Arch", gf: GGUFFile, **variant: Any) -> ModelConfig:
    """The ModelConfig of llama.cpp's shared block; `variant` sets what only an architecture's own
    builder knows (activation, scaled embeddings, sliding layers, the attention scale)."""
    meta, tensors, file, k = gf.meta, gf.tensors, gf.path, arch.key
    d_model = meta_value(meta, k("embedding_length"), file)
    n_head = meta_value(meta, k("attention.head_count"), file)
    d_head = head_dim(arch, gf)
    if meta_value(meta, k("attention.value_length"), file, int, d_head) != d_head:
        raise ModelError(f"{file}: value heads of another size than key heads ({k('attention.value_length')}) "
                         "are not supported")
    rope_dims = meta_value(meta, k("rope.dimension_count"), file, int, d_head)
    if rope_dims != d_head and arch.unpermute_qk:
        raise ModelError(f"{file}: rotary covers {rope_dims} of {d_head} head dimensions; llama.cpp refuses that "
                         f"in a {arch.name} file too")
    for key in ("expert_count", "attn_logit_softcapping", "final_logit_softcapping"):
        if meta.get(k(key)):
            raise ModelError(f"{file}: {k(key)} is {meta[k(key)]!r}; "
                             f"{'mixture of experts' if key == 'expert_count' else 'softcapping'} is not supported")
    n_layer = meta_value(meta, k("block_count"), file)
    if not 1 <= n_layer <= len(tensors) // arch.layer_tensors:
        raise ModelError(f"{file}: metadata {k('block_count')} is {n_layer} but the file holds {len(tensors)} tensors; "
                         "the file is corrupt or not a complete model")
    embd = tensors.get("token_embd.weight")
    if embd is None or len(embd.dims) != 2:
        raise ModelError(f"{file}: tensor token_embd.weight is missing or not a matrix; "
                         "the file is not a complete model")
    # every metadata read happens before the try: only the config's own checks get the prefix below
    n_kv_head = meta_value(meta, k("attention.head_count_kv"), file, int, n_head)
    d_mlp = meta_value(meta, k("feed_forward_length"), file)
    n_ctx = meta_value(meta, k("context_length"), file)
    norm_eps = meta_positive(meta, k("attention.layer_norm_rms_epsilon"), file)
    rope_theta = meta_positive(meta, k("rope.freq_base"), file, 10000.0)
    factors = rope_factors(arch, gf, rope_dims)
    has = {ours: f"blk.0.{theirs}" in tensors for ours, theirs in BLOCK.items()}
    has["attn.b_Q"] = has["attn.b_Q"] or "blk.0.attn_qkv.bias" in tensors
    hyper = dict(
        vocab_size=int(embd.dims[1]), n_layer=n_layer, n_head=n_head, n_kv_head=n_kv_head, d_model=d_model,
        d_head=d_head, d_mlp=d_mlp, n_ctx=n_ctx, norm="rmsnorm", norm_eps=norm_eps, positions="rotary",
        rope_theta=rope_theta, rope_dims=rope_dims, rope_freq_factors=factors, mlp="swiglu", activation="silu",
        attn_bias=has["attn.b_Q"], attn_out_bias=has["attn.b_O"], mlp_bias=False, qk_norm=has["attn.q_norm.w"],
        sandwich_norms=has["ln1_post.w"], tied_embeddings="output.weight" not in tensors, architecture=arch.name,
    )
    try:
        return ModelConfig(**{**hyper, **variant})
    except ModelError as e:  # the config's own checks (positive sizes, heads divisible), said about this file
        raise ModelError(f"{file}: the metadata gives an unusable {e}") from None


def head_dim(arch: "Arch", gf: GGUFFile) -> int:
    """Each head's size: attention.key_length, else embedding_length / head_count as llama.cpp takes it,
    which must divide evenly."""
    meta, file, k = gf.meta, gf.path, arch.key
    if k("attention.key_length") in meta:
        return meta_value(meta, k("attention.key_length"), file)
    d_model, n_head = meta_value(meta, k("embedding_length"), file), meta_value(meta, k("attention.head_count"), file)
    return head_size(d_model, n_head, str(file), (k("embedding_length"), k("attention.head_count")),
                     "the file is corrupt, download it again")


def rope_factors(arch: "Arch", gf: GGUFFile, rope_dims: int) -> tuple[float, ...]:
    """The divisors of the rotary frequencies: rope_freqs.weight (Llama 3's scaling, where the graph
    uses it) times a linear scaling factor; llama.cpp's other scalings are refused."""
    meta, file, k = gf.meta, gf.path, arch.key
    kind = meta.get(k("rope.scaling.type"), "linear")  # llama.cpp's default: linear, factor 1
    key = k("rope.scaling.factor") if k("rope.scaling.factor") in meta else k("rope.scale_linear")
    factor = meta_positive(meta, key, file, 0.0, zero=True) or 1.0  # llama.cpp: 0 means no scaling
    if kind not in ("none", "linear", "") and factor != 1.0:
        raise ModelError(f"{file}: rope scaling {kind!r} is not supported; attncli computes linear scaling and "
                         "Llama 3's (rope_freqs.weight)")
    linear = factor if kind == "linear" else 1.0
    if arch.rope_freqs and "rope_freqs.weight" in gf.tensors:
        freqs = gf.array("rope_freqs.weight").astype(np.float64)  # [rope_dims / 2]
        if freqs.shape != (rope_dims // 2,) or not (np.isfinite(freqs).all() and (freqs > 0).all()):
            raise ModelError(f"{file}: tensor rope_freqs.weight is not {rope_dims // 2} positive numbers; "
                             "the file is corrupt")
        return tuple(float(f) * linear for f in freqs)
    return (linear,) * (rope_dims // 2) if linear != 1.0 else ()


def gemma3_config(arch: "Arch", gf: GGUFFile) -> ModelConfig:
    """Gemma 3 as llama.cpp computes it: GELU-tanh MLP, embeddings times sqrt(d_model), every 6th
    layer global (unless attention.sliding_window_pattern says otherwise) and the others sliding,
    turning at rope.freq_base_swa, unscaled; scores / sqrt(head_dim) (n_embd / n_head for the 62-layer
    27B), since the file has no query_pre_attn_scalar. Its norms are stored with the + 1 added, so
    they are plain RMSNorm gains here."""
    meta, file, k = gf.meta, gf.path, arch.key
    n_layer = meta_value(meta, k("block_count"), file)
    window = meta_value(meta, k("attention.sliding_window"), file, int, 0)
    if window < 0:  # llama.cpp reads it as unsigned: a negative one is no window of any size
        raise ModelError(f"{file}: metadata {k('attention.sliding_window')} is {window}; the file is corrupt, "
                         "download it again")
    pattern = meta.get(k("attention.sliding_window_pattern"), 6)
    if isinstance(pattern, (list, np.ndarray)):  # one flag per layer
        sliding = [bool(x) for x in pattern]
        if len(sliding) != n_layer:
            raise ModelError(f"{file}: {k('attention.sliding_window_pattern')} has {len(sliding)} entries for "
                             f"{n_layer} layers; the file is corrupt")
    else:  # llama.cpp's set_swa_pattern: the last layer of every `pattern` is global
        n = int(meta_value(meta, k("attention.sliding_window_pattern"), file, int, 6))
        if n < 0:  # -3 made every layer global
            raise ModelError(f"{file}: metadata {k('attention.sliding_window_pattern')} is {n}; the file is corrupt, "
                             "download it again")
        sliding = [n == 0 or i % n < n - 1 for i in range(n_layer)]
    layers = tuple(i for i, s in enumerate(sliding) if s) if window > 0 else ()
    d_model = meta_value(meta, k("embedding_length"), file)
    n_head = meta_value(meta, k("attention.head_count"), file)
    d_head = head_dim(arch, gf)
    return block_config(arch, gf, activation="gelu_tanh", scale_embed=True,
                        query_pre_attn_scalar=float(d_model // n_head if n_layer == 62 else d_head),
                        sliding_window=window if layers else 0, sliding_layers=layers,
                        rope_local_theta=meta_positive(meta, k("rope.freq_base_swa"), file, 10000.0) if layers else 0.0)


@dataclass(frozen=True)
class Arch:
    name: str  # general.architecture, and the prefix of its metadata keys
    config: Callable[["Arch", GGUFFile], ModelConfig] = block_config
    # llama.cpp's convert_hf_to_gguf permutes Q/K rows of rotate-half (HF Llama) models into
    # its interleaved rotary layout; attncli rotates halves, so those rows are un-permuted.
    # NEOX-style models (Qwen2, Qwen3, Gemma 3, Phi-3) are stored as they are: un-permuting them would be wrong.
    unpermute_qk: bool = False
    # fused tensors inside blk.{L} it may hold -> our names, split by output rows in order
    fused: dict[str, tuple[str, ...]] = field(default_factory=lambda: QKV_FUSED)
    block: dict[str, str] = field(default_factory=lambda: BLOCK)  # where its fused tensors are not
    rope_freqs: bool = False  # its llama.cpp graph divides the rotary frequencies by rope_freqs.weight
    layer_tensors: int = 9  # tensors per block at least: bounds block_count before any loop

    def key(self, name: str) -> str:
        return f"{self.name}.{name}"


# Phi-3 fuses gate and up into ffn_up ([2 * d_mlp, d]: gate first, as ggml's swiglu splits it)
PHI3_FUSED = {**QKV_FUSED, "ffn_up.weight": ("mlp.W_gate", "mlp.W_in")}

ARCHS: dict[str, Arch] = {a.name: a for a in (
    Arch("llama", unpermute_qk=True, rope_freqs=True),  # Llama 2/3, SmolLM2, TinyLlama, and Mistral (written as llama)
    Arch("qwen2"),
    Arch("qwen3"),
    Arch("gemma3", gemma3_config, layer_tensors=13),
    Arch("phi3", fused=PHI3_FUSED, block={k: v for k, v in BLOCK.items() if k not in ("mlp.W_gate", "mlp.W_in")},
         layer_tensors=5),
)}


def meta_value(meta: Meta, key: str, file: Path, kind: type = int, default: Any = None) -> Any:
    value = meta.get(key, default)
    if value is None:
        raise ModelError(f"{file}: metadata {key} is missing; the file is not a complete "
                         f"{key.split('.')[0]}-architecture GGUF")
    if kind is int and not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        raise ModelError(f"{file}: metadata {key} is {value!r}, expected an integer")
    if kind is float and not isinstance(value, (int, float, np.floating)):
        raise ModelError(f"{file}: metadata {key} is {value!r}, expected a number")
    return kind(value)


def meta_positive(meta: Meta, key: str, file: Path, default: float | None = None, zero: bool = False) -> float:
    """A number of the metadata that must be finite and positive (0 too, where `zero` says it means none)."""
    return positive(meta_value(meta, key, file, float, default), f"metadata {key}", file,
                    "the file is corrupt, download it again", zero)


def arch_of(meta: Meta, file: Path) -> Arch:
    name = meta.get("general.architecture")
    if name not in ARCHS:
        raise ModelError(f"{file}: architecture {name!r} is not supported; attncli reads GGUF files of the "
                         f"{', '.join(ARCHS)} architectures (Llama 2/3, Mistral, SmolLM2, Qwen2/2.5/3, Gemma 3, Phi-3)")
    return ARCHS[name]


def tensor_names(arch: Arch, config: ModelConfig) -> dict[str, str]:
    """Our parameter name -> the GGUF tensor name llama.cpp writes (unfused)."""
    names = {"embed.W_E": "token_embd.weight", "ln_final.w": "output_norm.weight"}
    if not config.tied_embeddings:
        names["unembed.W_U"] = "output.weight"
    for L in range(config.n_layer):
        names.update({f"blocks.{L}.{ours}": f"blk.{L}.{theirs}" for ours, theirs in arch.block.items()})
    return names


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's convert_hf_to_gguf `permute` of Q/K rows ([out, in], or a bias [out]) for its rotary layout.

    llama.cpp interleaves each head's two rotary halves (pairs (i, i + dh/2) become adjacent
    rows); Hugging Face and our core rotate halves, so the rows go back.
    """
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)  # [out, in]
