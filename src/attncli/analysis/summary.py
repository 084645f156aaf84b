"""Which heads attend where, for one query token: every layer and head's strongest key,
its weight, and the row's entropy, read from the Trace's blocks.L.attn.weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..trace import Trace


@dataclass
class HeadSummary:
    query: int
    layers: list[int]
    weights: np.ndarray  # [n_layers, H, T]: the query's row of weights in each layer and head
    top_key: np.ndarray  # [n_layers, H]: the key it attends to most
    top_weight: np.ndarray  # [n_layers, H]
    entropy_bits: np.ndarray  # [n_layers, H]: 0 = all on one key, log2(q+1) = spread evenly
    masked: np.ndarray  # [n_layers, T] bool: the keys the query may not see, in each layer


def head_summary(trace: Trace, query: int) -> HeadSummary:
    layers = trace.layers
    rows = np.stack([trace.block(L, "attn.weights")[:, query, :] for L in layers]).astype(np.float64)  # [n_layers, H, T]
    top = rows.argmax(axis=-1)  # [n_layers, H]
    top_w = np.take_along_axis(rows, top[..., None], axis=-1)[..., 0]  # [n_layers, H]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(rows > 0, rows * np.log2(np.where(rows > 0, rows, 1.0)), 0.0)  # [n_layers, H, T]
    masked = np.stack([trace.layer_mask(L)[query] for L in layers])  # [n_layers, T]; a sliding window hides more
    return HeadSummary(query=query, layers=layers, weights=rows, top_key=top, top_weight=top_w,
                       entropy_bits=-plogp.sum(axis=-1), masked=masked)
