"""Why a head attends: one attention score, q·k times the scale, taken apart.

A block reads the residual stream, and in a pre-norm block that stream is a sum: the token's
embedding (and position embedding), every earlier head's output (its slice of attn.z through its
rows of W_O), every earlier MLP's output and the attention output biases. The query and the key
are made from it through the layer's norm, W_Q or W_K, the Q/K norm (Qwen3, Gemma 3) and rotary.
Rotary and the projections are linear; the norms are not, but at one position a norm's scale is
one number (1/rms, or LayerNorm's 1/std, whose centering is linear): holding each norm's scale at
the value it has for the actual input, as direct logit attribution holds the final norm's, makes
the query a sum of one part per component (plus the norm's bias and b_Q as parts of their own),
and the key likewise. The score is then exactly the sum of a table: each query part dotted with
each key part, times the scale (1/sqrt(d_head), or 1/sqrt(query_pre_attn_scalar)).

Gemma 3's sandwich norms (each sublayer's output normed before it joins the stream) and a
post-norm encoder's norms of the stream itself (BERT) are held fixed the same way, so there too
the parts add up to the score. No model attncli loads soft-caps its scores (the loaders refuse
attention softcapping), so the score the table adds up to is the one the softmax reads.

What this says is which pieces of the two tokens' streams make the score large or small, read
through this head's W_Q and W_K: not what happens if a piece is removed (the frozen scales and
later layers would change), which ablation and patching measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..model import Model
from ..numerics import apply_rope
from ..readout import (
    attn_out_bias,
    frozen_norm,
    head_projection,
    head_writes,
    rotary_at,
    weight,
)
from ..trace import Trace

BIASES = ("attn_out_biases", "norm_biases", "ln1_bias", "b_Q", "b_K")


@dataclass(frozen=True)
class Part:
    """One term of a query's or key's sum: a component of the residual stream (named as its kind,
    with its layer and head where it has them), or a bias the query or key side adds."""

    name: str  # embed, pos_embed, type_embed, head, mlp, attn_out_biases, norm_biases, ln1_bias, b_Q, b_K
    layer: int | None = None
    head: int | None = None

    @property
    def bias(self) -> bool:
        return self.name in BIASES

    @property
    def label(self) -> str:
        """Short: 'embedding', 'head 0.2', 'MLP 1', 'b_Q'."""
        return {"embed": "embedding", "pos_embed": "position embedding", "type_embed": "token type embedding",
                "head": f"head {self.layer}.{self.head}", "mlp": f"MLP {self.layer}",
                "attn_out_biases": "attention output biases", "norm_biases": "earlier norms' biases",
                "ln1_bias": f"blocks.{self.layer}.ln1 bias"}.get(self.name, self.name)

    @property
    def source(self) -> str:
        """What follows 'from' in a sentence: 'its embedding', "head 0.2's output", 'b_Q'."""
        if self.name in ("embed", "pos_embed", "type_embed"):
            return f"its {self.label}"
        if self.name in ("head", "mlp"):
            return f"{self.label}'s output"
        if self.name in ("attn_out_biases", "norm_biases"):
            return f"the {self.label}"
        if self.name == "ln1_bias":
            return f"blocks.{self.layer}.ln1's bias"
        return f"the {'query' if self.name == 'b_Q' else 'key'} bias {self.name}"


@dataclass(frozen=True)
class QKAttribution:
    """One score of one head taken apart: contributions[i, j] is query part i dotted with key part j,
    times the scale; they add up to the model's own score (what `--scores` shows for that cell)."""

    layer: int
    head: int
    kv_head: int  # the key/value head this query head reads (grouped-query attention)
    query: int  # token positions
    key: int
    key_given: bool  # False: the key this head attends to most from the query (the default)
    query_parts: tuple[Part, ...]
    key_parts: tuple[Part, ...]
    contributions: np.ndarray  # [len(query_parts), len(key_parts)] float64
    score: float  # the model's score, blocks.L.attn.scores[head, query, key]
    weight: float  # blocks.L.attn.weights[head, query, key]
    scale: float  # what q·k is multiplied by: 1/sqrt(d_head), or 1/sqrt(query_pre_attn_scalar)
    frozen: tuple[str, ...]  # the norms whose scales are held at the actual input's, by weight prefix
    rotary: bool  # queries and keys are turned by their positions (each part turned the same way)

    @property
    def total(self) -> float:
        """The sum of every contribution: the score, up to float32 rounding of the model's own."""
        return float(self.contributions.sum())

    @property
    def bias_total(self) -> float:
        """What the pairs with a bias on either side add."""
        q = np.array([p.bias for p in self.query_parts])
        k = np.array([p.bias for p in self.key_parts])
        return float(self.contributions[q[:, None] | k[None, :]].sum())

    def largest(self, n: int) -> list[tuple[int, int, float]]:
        """The n pairs of largest magnitude, (query part, key part, contribution), largest first."""
        flat = np.abs(self.contributions).ravel()
        order = np.lexsort((np.arange(flat.size), -flat))[:n]  # ties: the earlier pair first
        nk = self.contributions.shape[1]
        return [(int(i) // nk, int(i) % nk, float(self.contributions.flat[i])) for i in order]


def _stream(model: Model, trace: Trace, layer: int, p: int, frozen: list[str]) -> tuple[list[Part], np.ndarray]:
    """The stream block `layer` reads at position p as parts: ([Part], [n, d] float64) summing to
    blocks.{layer}.resid_pre[p] (to float32 rounding), every norm on the way held at its scale there."""
    c = model.config
    parts, rows = [Part("embed")], [trace["embed"][p]]
    at = trace["embed"][p]
    for name in ("pos_embed", "type_embed"):
        if name in trace:
            parts.append(Part(name))
            rows.append(trace[name][p])
            at = at + trace[name][p]  # in the forward pass's order and precision: the norm's actual input
    X = np.array(rows, dtype=np.float64)  # [n, d]
    d = c.d_model
    attn_bias, norm_bias = np.zeros(d), np.zeros(d)
    has_attn_bias = has_norm_bias = False

    def through(prefix: str, actual: np.ndarray) -> None:
        nonlocal X, attn_bias, norm_bias, has_norm_bias
        f = frozen_norm(model, prefix, actual)
        X, attn_bias, norm_bias = f.map(X), f.map(attn_bias), f.map(norm_bias) + f.constant
        has_norm_bias = has_norm_bias or c.norm == "layernorm"
        frozen.append(prefix)

    if c.embed_norm:  # BERT: the summed embeddings are normed before block 0
        through("embed_ln", at)
    for L in range(layer):
        heads = head_writes(model, L, trace[f"blocks.{L}.attn.z"][:, p])  # [H, d]: what each head adds
        b_O = attn_out_bias(model, L)  # [d]
        has_attn_bias = has_attn_bias or weight(model, f"blocks.{L}.attn.b_O") is not None
        mlp = trace[f"blocks.{L}.mlp.out"][p].astype(np.float64)  # [d]
        parts += [Part("head", L, h) for h in range(c.n_head)] + [Part("mlp", L)]
        if c.block_norm == "post":  # ln_mid = norm(stream + attention), ln_out = norm(ln_mid + mlp)
            X, attn_bias = np.concatenate([X, heads]), attn_bias + b_O
            through(f"blocks.{L}.ln1", trace[f"blocks.{L}.resid_mid"][p])
            X = np.concatenate([X, mlp[None]])
            through(f"blocks.{L}.ln2", trace[f"blocks.{L}.resid_post"][p])
            continue
        if c.sandwich_norms:  # Gemma 3: each sublayer's output normed before it joins the stream
            fa = frozen_norm(model, f"blocks.{L}.ln1_post", trace[f"blocks.{L}.attn.out"][p])
            fm = frozen_norm(model, f"blocks.{L}.ln2_post", mlp)
            heads, b_O, mlp = fa.map(heads), fa.map(b_O), fm.map(mlp)
            norm_bias = norm_bias + fa.constant + fm.constant  # zeros for RMSNorm
            frozen += [f"blocks.{L}.ln1_post", f"blocks.{L}.ln2_post"]
        X, attn_bias = np.concatenate([X, heads, mlp[None]]), attn_bias + b_O
    if has_attn_bias:
        parts.append(Part("attn_out_biases"))
        X = np.concatenate([X, attn_bias[None]])
    if has_norm_bias:
        parts.append(Part("norm_biases"))
        X = np.concatenate([X, norm_bias[None]])
    return parts, X


def _side(model: Model, trace: Trace, layer: int, head: int, p: int, side: str,
          frozen: list[str]) -> tuple[list[Part], np.ndarray]:
    """The query (side "Q", query head `head`) or key (side "K", key/value head `head`) at position p as
    parts: ([Part], [n, dh] float64) summing to blocks.{layer}.attn.q or .k there."""
    c = model.config
    parts, X = _stream(model, trace, layer, p, frozen)
    if c.block_norm == "pre":  # the norm before attention, its scale held at this position's
        f = frozen_norm(model, f"blocks.{layer}.ln1", trace[f"blocks.{layer}.resid_pre"][p])
        frozen.append(f"blocks.{layer}.ln1")
        X = f.map(X)
        if c.norm == "layernorm":
            parts.append(Part("ln1_bias", layer))
            X = np.concatenate([X, f.constant[None]])
        read = trace[f"blocks.{layer}.ln1"][p]  # what W_Q and W_K multiply
    else:  # a post-norm block's attention reads the stream as it is
        read = trace[f"blocks.{layer}.resid_pre"][p]
    W, b = head_projection(model, layer, side, head)  # [d, dh], [dh] | None
    Y = X @ W  # [n, dh]
    if b is not None:
        parts.append(Part(f"b_{side}", layer))
        Y = np.concatenate([Y, b[None]])
    if c.qk_norm:  # each head's query and key RMS-normed on its own: held at this head's actual one
        actual = read.astype(np.float64) @ W + (0.0 if b is None else b)  # [dh]
        prefix = f"blocks.{layer}.attn.{side.lower()}_norm"
        Y = frozen_norm(model, prefix, actual).map(Y)
        frozen.append(f"{prefix} (head {head})")
    rope = rotary_at(model, layer, [p], trace["embed"].dtype)
    if rope is not None:  # linear at one position: each part turned as the whole is
        Y = apply_rope(Y, *rope)
    return parts, Y


def key_refusal(trace: Trace, layer: int, query: int, key: int) -> str | None:
    """Why the query cannot see `key` in this layer (its score is masked), or None."""
    if not trace.layer_mask(layer)[query, key]:
        return None
    if key > query:
        return (f"--key {key} comes after the query (token {query}): in a causal model a token attends only to "
                "itself and earlier tokens; give a key at or before the query")
    window = trace.config.sliding_window
    return (f"--key {key} is outside layer {layer}'s sliding window: its query (token {query}) sees only the last "
            f"{window} tokens; give a key from {query - window + 1} to {query}, or another layer")


def qk_attribution(model: Model, trace: Trace, layer: int, head: int, query: int,
                   key: int | None = None) -> QKAttribution:
    """Take blocks.{layer}.attn.scores[head, query, key] apart into query part x key part (see the module
    docstring). `key` None: the key the head attends to most from the query."""
    c = model.config
    if any(L not in trace.layers for L in range(layer + 1)):
        raise UsageError("--qk reads every layer up to the one it explains; this text is too long to keep them "
                         "all: shorten it")
    weights = trace[f"blocks.{layer}.attn.weights"][head, query]  # [T]
    given = key is not None
    if key is None:
        key = int(np.argmax(weights))
    why = key_refusal(trace, layer, query, key)
    if why is not None:
        raise UsageError(why)
    kv_head = head // (c.n_head // c.n_kv_head)
    frozen: list[str] = []
    q_parts, Q = _side(model, trace, layer, head, query, "Q", frozen)
    k_parts, K = _side(model, trace, layer, kv_head, key, "K", frozen)
    contributions = (Q @ K.T) * c.attn_scale  # [nq, dh] @ [dh, nk] -> [nq, nk]
    return QKAttribution(layer, head, kv_head, query, key, given, tuple(q_parts), tuple(k_parts), contributions,
                         float(trace[f"blocks.{layer}.attn.scores"][head, query, key]), float(weights[key]),
                         c.attn_scale, tuple(dict.fromkeys(frozen)), c.positions == "rotary")
