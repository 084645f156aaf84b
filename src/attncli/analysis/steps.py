"""The walkthrough of self-attention for one query token, every number read from the Trace.

Steps: (1) embedding + position, (2) q of the query and k, v of every token, (3) q·k and
/√d_head and the mask (= blocks.L.attn.scores), (4) softmax (= blocks.L.attn.weights) and
the row's entropy, (5) the weighted sum of v (= blocks.L.attn.z), then the prediction.
A temperature other than 1 adds a what-if: softmax(scores / T), which the model never uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import UsageError
from ..labels import token_label
from ..numerics import softmax
from ..tokenizer import Token
from ..trace import Trace
from ..views import HeadView


def resolve_token(spec: str | None, tokens: list[Token], default: int | None = None, option: str = "--token") -> int:
    """A query position: None = `default` (the last token if None); an integer (negative counts
    from the end); or a token's text, matched against the labels (exactly first, then ignoring case).
    `option` is the flag the refusals name (--key picks a key the same way)."""
    T = len(tokens)
    if spec is None:
        return T - 1 if default is None else default
    s = spec.strip()
    try:
        i = int(s)
    except ValueError:
        labels = [token_label(t) for t in tokens]
        for same in (lambda lab: lab == s, lambda lab: lab.casefold() == s.casefold()):
            for j, lab in enumerate(labels):
                if same(lab):
                    return j
        shown = ", ".join(f"{j}={lab}" for j, lab in enumerate(labels))
        raise UsageError(f"{option} {spec!r} is not one of the tokens ({shown}); give a token's text or its "
                         "index") from None
    if not -T <= i < T:
        raise UsageError(f"{option} {i} is out of range: the text has {T} tokens (0 to {T - 1})")
    return i % T


def entropy_bits(w: np.ndarray) -> float:
    """Shannon entropy of a row of weights in bits; masked cells are 0 and add nothing."""
    p = w[w > 0].astype(np.float64)  # [n_visible]
    return float(-(p * np.log2(p)).sum())


@dataclass
class WhatIf:
    """softmax(scores / T) for one row: NOT what the model computes (it uses T = 1)."""

    temperature: float
    weights: np.ndarray  # [T]
    entropy_bits: float
    z: np.ndarray  # [dh]: weights @ v under this temperature


@dataclass
class Walkthrough:
    layer: int
    head: int
    kv_head: int  # the key/value head this query head reads (grouped-query: shared)
    position: int  # the query token
    d_head: int
    scale_dim: float  # the scores are q·k / √scale_dim: d_head, unless the model sets query_pre_attn_scalar
    embed: np.ndarray  # [d]        embed[position]
    pos_embed: np.ndarray | None  # [d] pos_embed[position], None with rotary/no positions
    resid_pre: np.ndarray  # [d]    blocks.L.resid_pre[position]: what enters the layer
    ln1: np.ndarray | None  # [d]   blocks.L.ln1[position]: what q, k, v are made from; None in a post-norm
    #                               block (BERT), whose q, k, v are made from resid_pre as it is
    q: np.ndarray  # [dh]           blocks.L.attn.q[head, position]
    k: np.ndarray  # [T, dh]        blocks.L.attn.k[kv_head]
    v: np.ndarray  # [T, dh]        blocks.L.attn.v[kv_head]
    dots: np.ndarray  # [T]         q·k = scores * √scale_dim (NaN where masked)
    scores: np.ndarray  # [T]       blocks.L.attn.scores[head, position], -inf where masked
    masked: np.ndarray  # [T] bool: later keys, and keys beyond a sliding window
    weights: np.ndarray  # [T]      blocks.L.attn.weights[head, position]
    entropy_bits: float
    z: np.ndarray  # [dh]           blocks.L.attn.z[head, position]
    attn_out: np.ndarray  # [d]     blocks.L.attn.out[position]: all heads through W_O
    resid_mid: np.ndarray  # [d]    blocks.L.resid_mid[position]
    n_layer: int
    what_if: WhatIf | None
    type_embed: np.ndarray | None = None  # [d] type_embed[position]: BERT's token type 0
    embed_norm: np.ndarray | None = None  # [d] embed_norm[position]: the summed embeddings normed (BERT)
    causal: bool = True  # False: an encoder, where nothing is masked


def walkthrough(trace: Trace, layer: int, head: int, position: int, temperature: float = 1.0) -> Walkthrough:
    """The numbers of every step for query `position` in `layer`, `head`, taken from `trace`."""
    if not temperature > 0 or not np.isfinite(temperature):
        raise UsageError(f"--temperature must be a positive number, got {temperature!r}")
    c = trace.config
    kv = head // (c.n_head // c.n_kv_head)
    scores = trace.block(layer, "attn.scores")[head, position]  # [T]
    masked = trace.layer_mask(layer)[position]  # [T]
    dots = np.where(masked, np.nan, scores.astype(np.float64) / c.attn_scale)  # [T]
    weights = trace.block(layer, "attn.weights")[head, position]  # [T]
    v = trace.block(layer, "attn.v")[kv]  # [T, dh]
    what_if = None
    if temperature != 1.0:
        s64 = scores.astype(np.float64)  # [T]
        with np.errstate(over="ignore"):  # shift first: a tiny T then gives -inf, never inf - inf = NaN
            w_t = softmax((s64 - s64.max()) / temperature)  # [T]
        what_if = WhatIf(temperature, w_t, entropy_bits(w_t), w_t @ v.astype(np.float64))  # [T] @ [T, dh] -> [dh]
    return Walkthrough(
        layer=layer, head=head, kv_head=kv, position=position, d_head=c.d_head, scale_dim=c.query_pre_attn_scalar,
        embed=trace["embed"][position],
        pos_embed=trace["pos_embed"][position] if "pos_embed" in trace else None,
        resid_pre=trace.block(layer, "resid_pre")[position],
        ln1=None if c.block_norm == "post" else trace.block(layer, "ln1")[position],
        q=trace.block(layer, "attn.q")[head, position],
        k=trace.block(layer, "attn.k")[kv],
        v=v,
        dots=dots, scores=scores, masked=masked, weights=weights, entropy_bits=entropy_bits(weights),
        z=trace.block(layer, "attn.z")[head, position],
        attn_out=trace.block(layer, "attn.out")[position],
        resid_mid=trace.block(layer, "resid_mid")[position],
        n_layer=c.n_layer,
        what_if=what_if,
        type_embed=trace["type_embed"][position] if "type_embed" in trace else None,
        embed_norm=trace["embed_norm"][position] if "embed_norm" in trace else None,
        causal="mask" in trace,  # the trace keeps a causal mask only for a model that has one
    )


class MeanRow(NamedTuple):
    """The mean of a layer's heads at one query: no single q, k or v, only the averaged row."""

    layer: int
    position: int
    scores: np.ndarray  # [T] the mean of the heads' scores, -inf where masked
    weights: np.ndarray  # [T] the mean of the heads' weights
    masked: np.ndarray  # [T] bool
    entropy_bits: float
    out_norm: float  # |blocks.L.attn.out[position]|: every head through W_O


def mean_row(trace: Trace, view: HeadView, position: int) -> MeanRow:
    """The MeanRow at `position` of a mean-of-heads view (views.head_view(trace, L, MEAN))."""
    out = trace.block(view.layer, "attn.out")[position].astype(np.float64)  # [d]
    return MeanRow(view.layer, position, view.scores[position], view.weights[position], view.masked[position],
                   entropy_bits(view.weights[position]), float(np.linalg.norm(out)))
