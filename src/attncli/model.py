"""A decoder-only transformer in numpy: forward(params, config, ids) -> Trace.

Follows GPT-2 (Radford et al., 2019) by default: token + learned position embeddings,
pre-norm blocks of causal multi-head attention and a GELU MLP with residuals, a final
norm, and an unembedding tied to the token embedding. The config's other values give
Llama-style blocks (RMSNorm, rotary positions, grouped-query attention, SwiGLU) and a
bidirectional (unmasked) mode through the same function.

Weights are stored for `x @ W` (shape [in, out]) under the names of `param_shapes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import ModelConfig
from .errors import UsageError
from .numerics import ACTIVATIONS, apply_rope, layer_norm, rms_norm, rope_angles, softmax
from .trace import Trace

if TYPE_CHECKING:
    from .tokenizer import Token, Tokenizer

Params = dict[str, np.ndarray]


def param_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight the config implies, name -> shape; the loader checks files against this."""
    d, V, dh = config.d_model, config.vocab_size, config.d_head
    qd, kvd, m = config.n_head * dh, config.n_kv_head * dh, config.d_mlp
    shapes: dict[str, tuple[int, ...]] = {"embed.W_E": (V, d)}
    if config.positions == "learned":
        shapes["pos_embed.W_pos"] = (config.n_ctx, d)

    def norm(prefix: str) -> None:
        shapes[f"{prefix}.w"] = (d,)
        if config.norm == "layernorm":
            shapes[f"{prefix}.b"] = (d,)

    for L in range(config.n_layer):
        b = f"blocks.{L}"
        norm(f"{b}.ln1")
        shapes[f"{b}.attn.W_Q"] = (d, qd)
        shapes[f"{b}.attn.W_K"] = (d, kvd)
        shapes[f"{b}.attn.W_V"] = (d, kvd)
        shapes[f"{b}.attn.W_O"] = (qd, d)
        if config.attn_bias:
            shapes[f"{b}.attn.b_Q"] = (qd,)
            shapes[f"{b}.attn.b_K"] = (kvd,)
            shapes[f"{b}.attn.b_V"] = (kvd,)
            shapes[f"{b}.attn.b_O"] = (d,)
        norm(f"{b}.ln2")
        shapes[f"{b}.mlp.W_in"] = (d, m)
        if config.mlp == "swiglu":
            shapes[f"{b}.mlp.W_gate"] = (d, m)
        shapes[f"{b}.mlp.W_out"] = (m, d)
        if config.mlp_bias:
            shapes[f"{b}.mlp.b_in"] = (m,)
            shapes[f"{b}.mlp.b_out"] = (d,)
    norm("ln_final")
    if not config.tied_embeddings:
        shapes["unembed.W_U"] = (d, V)
    return shapes


def causal_mask(n: int) -> np.ndarray:
    """True where a query may NOT look: keys after it."""
    return np.triu(np.ones((n, n), dtype=bool), k=1)  # [T, T]


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled dot-product attention over heads; returns (scores, weights, z).

    q [H, T, dh]; k, v [Hkv, T, dh] shared by H/Hkv query heads each (grouped-query);
    mask [T, T] True = hidden. scores are q.k/sqrt(dh) with -inf where hidden.
    """
    group = q.shape[0] // k.shape[0]
    if group > 1:
        k = np.repeat(k, group, axis=0)  # [H, T, dh]
        v = np.repeat(v, group, axis=0)  # [H, T, dh]
    scale = np.asarray(1.0 / np.sqrt(q.shape[-1]), dtype=q.dtype)
    scores = (q @ k.transpose(0, 2, 1)) * scale  # [H, T, dh] @ [H, dh, T] -> [H, T, T]
    if mask is not None:
        scores = np.where(mask, np.asarray(-np.inf, dtype=scores.dtype), scores)  # [H, T, T]
    weights = softmax(scores, axis=-1)  # [H, T, T]
    z = weights @ v  # [H, T, T] @ [H, T, dh] -> [H, T, dh]
    return scores, weights, z


def _norm(x: np.ndarray, params: Params, prefix: str, config: ModelConfig) -> np.ndarray:
    if config.norm == "rmsnorm":
        return rms_norm(x, params[f"{prefix}.w"], config.norm_eps)
    return layer_norm(x, params[f"{prefix}.w"], params[f"{prefix}.b"], config.norm_eps)


def _linear(x: np.ndarray, params: Params, w: str, b: str | None) -> np.ndarray:
    y = x @ params[w]  # [T, in] @ [in, out] -> [T, out]
    if b is not None and b in params:
        y = y + params[b]
    return y


def forward(params: Params, config: ModelConfig, ids: np.ndarray | list[int], layers: list[int] | None = None) -> Trace:
    """Run the model on token ids and return the Trace of every intermediate.

    `layers` limits which blocks' intermediates are kept (all by default): a long input
    on a deep model then holds one layer's T x T matrices, not every layer's.
    """
    ids = np.asarray(ids, dtype=np.int64)  # [T]
    T = ids.shape[0]
    if ids.ndim != 1 or T == 0:
        raise UsageError("forward needs a non-empty 1-D sequence of token ids")
    if ids.min() < 0 or ids.max() >= config.vocab_size:
        raise UsageError(f"token ids must be in 0..{config.vocab_size - 1}; got {int(ids.min())}..{int(ids.max())}")
    if config.positions == "learned" and T > config.n_ctx:
        raise UsageError(f"{T} tokens is more than this model's context of {config.n_ctx}; shorten the input")
    H, Hkv, dh = config.n_head, config.n_kv_head, config.d_head
    keep = set(range(config.n_layer)) if layers is None else set(layers)
    out: dict[str, np.ndarray] = {}

    x = params["embed.W_E"][ids]  # [T, d]
    out["embed"] = x
    if config.positions == "learned":
        pos = params["pos_embed.W_pos"][:T]  # [T, d]
        out["pos_embed"] = pos
        x = x + pos  # [T, d]
    if config.positions == "rotary":
        cos, sin = rope_angles(T, dh, config.rope_theta)  # [T, dh] each
        cos, sin = cos.astype(x.dtype), sin.astype(x.dtype)
    mask = causal_mask(T) if config.causal else None
    act = ACTIVATIONS[config.activation]

    for L in range(config.n_layer):
        b = f"blocks.{L}"
        trace: dict[str, np.ndarray] = {"resid_pre": x}
        h = _norm(x, params, f"{b}.ln1", config)  # [T, d]
        trace["ln1"] = h
        q = _linear(h, params, f"{b}.attn.W_Q", f"{b}.attn.b_Q").reshape(T, H, dh).transpose(1, 0, 2)  # [H, T, dh]
        k = _linear(h, params, f"{b}.attn.W_K", f"{b}.attn.b_K").reshape(T, Hkv, dh).transpose(1, 0, 2)  # [Hkv, T, dh]
        v = _linear(h, params, f"{b}.attn.W_V", f"{b}.attn.b_V").reshape(T, Hkv, dh).transpose(1, 0, 2)  # [Hkv, T, dh]
        if config.positions == "rotary":
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        scores, weights, z = attention(q, k, v, mask)  # [H, T, T], [H, T, T], [H, T, dh]
        merged = z.transpose(1, 0, 2).reshape(T, H * dh)  # [T, H*dh]
        attn_out = _linear(merged, params, f"{b}.attn.W_O", f"{b}.attn.b_O")  # [T, d]
        x = x + attn_out  # [T, d]
        trace.update({"attn.q": q, "attn.k": k, "attn.v": v, "attn.scores": scores, "attn.weights": weights,
                      "attn.z": z, "attn.out": attn_out, "resid_mid": x})
        h = _norm(x, params, f"{b}.ln2", config)  # [T, d]
        trace["ln2"] = h
        if config.mlp == "swiglu":
            gate = act(h @ params[f"{b}.mlp.W_gate"])  # [T, d_mlp]
            hidden = gate * _linear(h, params, f"{b}.mlp.W_in", f"{b}.mlp.b_in")  # [T, d_mlp]
        else:
            hidden = act(_linear(h, params, f"{b}.mlp.W_in", f"{b}.mlp.b_in"))  # [T, d_mlp]
        mlp_out = _linear(hidden, params, f"{b}.mlp.W_out", f"{b}.mlp.b_out")  # [T, d]
        x = x + mlp_out  # [T, d]
        trace.update({"mlp.out": mlp_out, "resid_post": x})
        if L in keep:
            for name, arr in trace.items():
                out[f"{b}.{name}"] = arr
        del trace, q, k, v, scores, weights, z  # a layer not kept must not outlive its iteration ([H, T, T] each)

    h = _norm(x, params, "ln_final", config)  # [T, d]
    out["ln_final"] = h
    W_U = params["embed.W_E"].T if config.tied_embeddings else params["unembed.W_U"]  # [d, V]
    out["logits"] = h @ W_U  # [T, d] @ [d, V] -> [T, V]
    return Trace(ids, out, config)


@dataclass
class Prediction:
    rank: int
    id: int
    token: str  # the vocabulary entry
    text: str  # what it reads as (byte-level markers made spaces)
    probability: float
    logit: float


def top_k(logits: np.ndarray, k: int) -> list[tuple[int, float, float]]:
    """(id, probability, logit) of the k most likely next tokens, best first; ties by id."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    probs = softmax(logits.astype(np.float64))  # [V]
    k = min(k, probs.shape[0])
    order = np.lexsort((np.arange(probs.shape[0]), -probs))[:k]
    return [(int(i), float(probs[i]), float(logits[i])) for i in order]


@dataclass
class Model:
    """Weights, config and tokenizer, loaded and validated: what every command runs on."""

    config: ModelConfig
    params: Params
    tokenizer: "Tokenizer"
    name: str
    source: str  # where it was loaded from
    card: dict[str, Any] = field(default_factory=dict)  # provenance for `attn info`

    def forward(self, ids: np.ndarray | list[int], layers: list[int] | None = None) -> Trace:
        return forward(self.params, self.config, ids, layers)

    def encode(self, text: str, truncate: bool = False) -> tuple[list["Token"], bool]:
        """Tokens of `text` that fit the context; (tokens, whether the start was cut off)."""
        from dataclasses import replace

        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError("the text is not valid UTF-8; convert it, e.g. with iconv -t UTF-8") from None
        tokens = self.tokenizer.encode(text)
        limit = self.config.n_ctx
        if len(tokens) <= limit:
            return tokens, False
        if not truncate:
            raise UsageError(
                f"the text is {len(tokens)} tokens long; this model reads at most {limit}. "
                f"Shorten it, or pass --truncate to keep the last {limit} tokens"
            )
        kept = tokens[-limit:]  # the first kept token has no piece before it any more
        return [replace(t, index=i, continues=t.continues and i > 0) for i, t in enumerate(kept)], True

    def predict(self, trace: Trace, k: int, position: int = -1) -> list[Prediction]:
        return [
            Prediction(rank=r + 1, id=i, token=self.tokenizer.id_to_token(i), text=self.tokenizer.display(i), probability=p, logit=lg)
            for r, (i, p, lg) in enumerate(top_k(trace["logits"][position], k))
        ]
