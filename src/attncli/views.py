"""What a command shows, chosen from a Trace: one layer and head (or their mean), the
contextual vectors that go with it, and the predictions. Renderers read these; they never
recompute attention."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import UsageError
from .trace import Trace

MEAN = "mean"


def resolve_layer(layer: int | None, n_layer: int, default: int = 0) -> int:
    """A layer index, where negative counts from the end (-1 = last)."""
    if layer is None:
        layer = default
    if not -n_layer <= layer < n_layer:
        raise UsageError(f"--layer {layer} is out of range: this model has {n_layer} layers (0 to {n_layer - 1})")
    return layer % n_layer


def resolve_head(head: str | None, n_head: int, default: int | str = 0,
                 allowed: tuple[str, ...] = (MEAN,)) -> int | str:
    """A head index, or a name like 'mean' (the average of all heads)."""
    if head is None:
        head = str(default)
    h = head.strip().lower()
    if h in allowed:
        return h
    try:
        i = int(h)
    except ValueError:
        words = " or ".join(f"'{a}'" for a in allowed)
        raise UsageError(f"--head {head!r} is not a head: give a number from 0 to {n_head - 1} (negative counts from "
                         f"the end), or {words}") from None
    if not -n_head <= i < n_head:
        raise UsageError(f"--head {i} is out of range: this model has {n_head} heads per layer (0 to {n_head - 1})")
    return i % n_head


class HeadView(NamedTuple):
    """One layer's attention for one head, or the mean over heads."""

    layer: int
    head: int | str
    scores: np.ndarray  # [T, T], -inf where masked
    weights: np.ndarray  # [T, T], 0 where masked
    masked: np.ndarray  # [T, T] bool
    vectors: np.ndarray  # [T, n]: the contextual vectors that go with this view
    vectors_name: str  # the trace name they came from

    @property
    def norms(self) -> np.ndarray:
        """Each contextual vector's length, in float64 so that table and JSON agree."""
        return np.linalg.norm(self.vectors.astype(np.float64), axis=1)  # [T]


def head_view(trace: Trace, layer: int, head: int | str) -> HeadView:
    scores = trace.block(layer, "attn.scores")  # [H, T, T]
    weights = trace.block(layer, "attn.weights")  # [H, T, T]
    masked = trace.layer_mask(layer)  # [T, T]; the same for every head of the layer
    if head == MEAN:
        s = np.where(masked, -np.inf, np.where(masked, 0, scores).mean(axis=0))  # [T, T]
        w = weights.mean(axis=0)  # [T, T]
        vectors, name = trace.block(layer, "attn.out"), f"blocks.{layer}.attn.out"  # [T, d]
    else:
        s, w = scores[head], weights[head]  # [T, T]
        vectors, name = trace.block(layer, "attn.z")[head], f"blocks.{layer}.attn.z"  # [T, dh]
    return HeadView(layer=layer, head=head, scores=s, weights=w, masked=masked, vectors=vectors, vectors_name=name)
