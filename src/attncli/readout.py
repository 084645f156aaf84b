"""How the model reads its residual stream, in one place: for the analyses that take a prediction
apart (direct logit attribution, activation patching, the logit lens, --qk) rather than run it.

- `logits(model, x)`: stream vectors through the final norm (or head) and the unembedding;
- `token_direction(model, id)`: a token's column of the unembedding, W_U[:, id] (tied: W_E[id]);
- `logit_direction(model, target, contrast)`: the direction and bias logit[target] - logit[contrast]
  reads from what the unembedding sees;
- `frozen_norm(model, prefix, at)`: a norm linearised at one input, its scale frozen there (as
  TransformerLens does for DLA): the final norm, Gemma 3's sandwich norms, a block's ln1, Q/K norms;
- `head_writes(model, layer, z)` and `attn_out_bias(model, layer)`: what each head (and W_O's bias)
  adds to the stream, and `weight(model, name)` for any other parameter;
- `head_projection(model, layer, "Q"|"K", head)` and `rotary_at(model, layer, positions)`: how one
  head makes its query or key from what the norm hands it, and the rotary turn at given positions.

Each works on every way a weight is kept (weights.py): a float32 array, or a matrix kept quantized in
place in a GGUF file (its float16 or quantized rows). A token's direction dequantizes that one row of
the vocabulary, never the [V, d] table. Nothing outside the core (model.py, weights.py, checkpoints/,
train/ and this module) reads `model.params` itself; tests/unit/test_architecture.py checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .model import Rope, attends, final, unembed
from .trace import Recorder
from .weights import dense, vocab_rows

if TYPE_CHECKING:
    from .model import Model


def logits(model: "Model", x: np.ndarray) -> np.ndarray:
    """Stream vectors [n, d] through the final norm (or the masked-LM head) and the unembedding: [n, V],
    what the model would predict if it stopped there."""
    return unembed(model.params, model.config, head_input(model, x))  # [n, V]


def head_input(model: "Model", x: np.ndarray) -> np.ndarray:
    """What the unembedding reads of stream vectors [..., d]: after the final norm (pre-norm models), the
    stream as it is (post-norm), then a masked-LM head's transform."""
    return final(model.params, model.config, x, Recorder(keep=set()))  # [..., d]


def weight(model: "Model", name: str) -> np.ndarray | None:
    """Parameter `name` in float64, or None when the model has none (a bias it lacks). A matrix kept
    quantized is dequantized whole: for the vocabulary, token_direction reads one row."""
    w = model.params.get(name)
    return None if w is None else dense(w).astype(np.float64)


def token_direction(model: "Model", token: int) -> np.ndarray:
    """[d] float64: the unembedding's column for `token` (W_U[:, token], or W_E[token] when tied), the
    direction whose dot product with what the unembedding reads is the token's logit (less its bias)."""
    tied = model.config.tied_embeddings
    W = model.params["embed.W_E" if tied else "unembed.W_U"]  # [V, d] or [d, V]
    return vocab_rows(W, token, token + 1, transposed=not tied)[0].astype(np.float64)  # [d]: only that row


def token_bias(model: "Model", token: int) -> float:
    """The unembedding's bias for `token` (a masked-LM decoder's); 0 without one."""
    b = model.params.get("unembed.b")
    return 0.0 if b is None else float(b[token])


def logit_direction(model: "Model", target: int, contrast: int | None = None) -> tuple[np.ndarray, float]:
    """(direction [d] float64, bias): logit[target] - logit[contrast] (logit[target] alone when contrast is
    None) is head_input(x) @ direction + bias."""
    direction, bias = token_direction(model, target), token_bias(model, target)
    if contrast is not None:
        direction = direction - token_direction(model, contrast)
        bias -= token_bias(model, contrast)
    return direction, bias


class FrozenNorm(NamedTuple):
    """A norm linearised at one input u: norm(v) = map(v) + constant for v = u exactly, and for any v
    when the norm's scale (1/rms or 1/std of u) is held fixed. `map` is linear and works on [..., n];
    a sum of parts through it is the sum of each part through it."""

    map: Callable[[np.ndarray], np.ndarray]  # [..., n] -> [..., n] float64
    constant: np.ndarray  # [n] float64: the norm's bias (zeros for RMSNorm)


def frozen_norm(model: "Model", prefix: str, at: np.ndarray) -> FrozenNorm:
    """The norm whose weights are under `prefix` (ln_final, blocks.L.ln1, blocks.L.ln1_post,
    blocks.L.attn.q_norm, ...), linearised at its input `at` ([n]): its scale frozen at that input's;
    LayerNorm's centering is linear, its bias the constant."""
    c = model.config
    w = dense(model.params[f"{prefix}.w"]).astype(np.float64)  # [n]
    u = at.astype(np.float64)  # [n]
    if c.norm == "rmsnorm":
        gain = (w + 1.0 if c.norm_plus_one else w) / np.sqrt((u * u).mean() + c.norm_eps)  # [n]
        return FrozenNorm(lambda v: v * gain, np.zeros_like(w))
    gain = w / np.sqrt(u.var() + c.norm_eps)  # [n]
    bias = dense(model.params[f"{prefix}.b"]).astype(np.float64)  # [n]
    return FrozenNorm(lambda v: (v - v.mean(axis=-1, keepdims=True)) * gain, bias)


def head_writes(model: "Model", layer: int, z: np.ndarray) -> np.ndarray:
    """What each head of `layer` adds to attn.out at one position: its output z ([H, dh], a row of
    blocks.L.attn.z) through its rows of W_O; [H, d] float64, summing to attn.out less W_O's bias."""
    H, dh = model.config.n_head, model.config.d_head
    W_O = dense(model.params[f"blocks.{layer}.attn.W_O"]).astype(np.float64).reshape(H, dh, -1)  # [H, dh, d]
    return np.einsum("hk,hkd->hd", z.astype(np.float64), W_O)  # [H, dh] x [H, dh, d] -> [H, d]


def attn_out_bias(model: "Model", layer: int) -> np.ndarray:
    """W_O's bias of `layer` ([d] float64); zeros in a model without one."""
    b = weight(model, f"blocks.{layer}.attn.b_O")
    return np.zeros(model.config.d_model) if b is None else b  # [d]


def head_projection(model: Model, layer: int, side: str, head: int) -> tuple[np.ndarray, np.ndarray | None]:
    """One head's columns of W_Q (side "Q", a query head) or W_K (side "K", a key/value head) of
    `layer`: ([d, dh] float64, its bias [dh] or None in a model without one)."""
    dh = model.config.d_head
    cols = slice(head * dh, (head + 1) * dh)
    W = weight(model, f"blocks.{layer}.attn.W_{side}")
    b = weight(model, f"blocks.{layer}.attn.b_{side}")
    if W is None:
        raise KeyError(f"blocks.{layer}.attn.W_{side}")
    return W[:, cols], None if b is None else b[cols]  # [d, dh], [dh]


def rotary_at(model: Model, layer: int, positions: list[int], dtype: np.dtype) -> Rope | None:
    """The cos and sin ([len(positions), rope_dims] each) that `layer` turns queries and keys by at
    `positions`, in `dtype`, as the forward pass makes them (a sliding layer's own base); None
    without rotary positions."""
    rope = attends(model.config, max(positions) + 1, dtype, Recorder(keep=set()))[layer].rope
    return None if rope is None else (rope[0][positions], rope[1][positions])
