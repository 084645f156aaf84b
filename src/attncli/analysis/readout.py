"""What a layer's attention did to each token's vector, in terms a reader can follow.

turned: the angle between the token's residual vector before the layer's attention
(blocks.L.resid_pre) and after it (blocks.L.resid_mid): 0 degrees, attention left its
direction alone; the larger, the more the context rewrote it.
reads like: that vector after attention, through the model's own final norm and
unembedding, as if the model stopped there: the vocabulary entries it is nearest to (a
logit lens, nostalgebraist 2020; the layers before the last were not trained for it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..model import Model, top_k
from ..readout import logits as read_out
from ..trace import Trace

MAX_READ = 32  # tokens whose vector is unembedded: the last ones (each costs a d x vocab product)


class Readout(NamedTuple):
    layer: int
    turned: np.ndarray  # [T] degrees between resid_pre and resid_mid
    positions: list[int]  # the tokens `nearest` covers (the last MAX_READ)
    nearest: list[list[tuple[int, float]]]  # per position, (id, probability) of the k nearest entries
    after: str  # the trace name of the vector after attention (see after_attention)


def turned_degrees(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Row-wise angle in degrees between two [T, d] arrays of vectors."""
    a, b = before.astype(np.float64), after.astype(np.float64)  # [T, d]
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-300)  # [T]
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))  # [T]


def after_attention(trace: Trace, layer: int) -> str:
    """The trace name of a token's vector once the layer's attention is added: resid_mid, or in a
    post-norm encoder ln_mid (the stream is normed right after attention there)."""
    return f"blocks.{layer}.{'ln_mid' if trace.config.block_norm == 'post' else 'resid_mid'}"


def readout(model: Model, trace: Trace, layer: int, k: int = 3) -> Readout:
    before = trace.block(layer, "resid_pre")  # [T, d]
    after = trace[after_attention(trace, layer)]  # [T, d]
    T = after.shape[0]
    positions = list(range(max(0, T - MAX_READ), T)) if model.task.words else []
    nearest = []
    if positions:  # a sentence encoder has no vocabulary to read it in
        logits = read_out(model, after[positions])  # [n, V]: through the final norm (or head) and the unembedding
        nearest = [[(i, p) for i, p, _ in top_k(row, k)] for row in logits]
    return Readout(layer, turned_degrees(before, after), positions, nearest, after_attention(trace, layer))
