"""Which heads attend where, for one query token: every layer and head's strongest key,
its weight, and the row's entropy, read from the Trace's blocks.L.attn.weights; and, over every
query of the input, the heads whose pattern is clear enough to name (head_labels)."""

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
    labels: list[list["HeadLabel | None"]]  # [n_layers][H]: a name for a clear pattern (head_labels)


# A head is named by the pattern that holds the most of its queries' weight, if that share, averaged
# over the queries it can be measured on, is at least its threshold.
THRESHOLDS = {"previous token": 0.5, "first token (sink)": 0.5, "self": 0.5, "duplicate token": 0.3,
              "induction": 0.3}


@dataclass
class HeadLabel:
    name: str  # a key of THRESHOLDS
    share: float  # the mean weight on the pattern's key(s)
    queries: int  # how many queries it was measured on


def _shares(w: np.ndarray, ids: np.ndarray) -> dict[str, tuple[float, int]]:
    """For one head's weights [T, T]: each pattern's mean share of the weight, and on how many queries."""
    T = w.shape[0]
    out: dict[str, tuple[float, int]] = {}
    if T > 1:
        q = np.arange(1, T)  # the first token has nothing before it: every pattern is trivially it
        out["previous token"] = (float(w[q, q - 1].mean()), T - 1)
        out["first token (sink)"] = (float(w[q, 0].mean()), T - 1)
        out["self"] = (float(w[q, q].mean()), T - 1)
    dup, ind = [], []
    for i in range(T):
        earlier = np.nonzero(ids[:i] == ids[i])[0]  # earlier occurrences of this token
        if earlier.size:
            dup.append(w[i, earlier].sum())
            after = earlier + 1  # induction: the token that followed an earlier occurrence
            after = after[after < i]
            if after.size:
                ind.append(w[i, after].sum())
    if dup:
        out["duplicate token"] = (float(np.mean(dup)), len(dup))
    if ind:
        out["induction"] = (float(np.mean(ind)), len(ind))
    return out


def head_labels(trace: Trace, layer: int) -> list["HeadLabel | None"]:
    """Each head of `layer` named by its clearest pattern over the whole input, or None."""
    weights = trace.block(layer, "attn.weights").astype(np.float64)  # [H, T, T]
    ids = np.asarray(trace.ids)
    out: list[HeadLabel | None] = []
    for w in weights:
        passing = [(share / THRESHOLDS[name], name, share, n) for name, (share, n) in _shares(w, ids).items()
                   if share >= THRESHOLDS[name]]
        if passing:
            _, name, share, n = max(passing)
            out.append(HeadLabel(name, share, n))
        else:
            out.append(None)
    return out


def head_summary(trace: Trace, query: int) -> HeadSummary:
    layers = trace.layers
    # [n_layers, H, T]
    rows = np.stack([trace.block(L, "attn.weights")[:, query, :] for L in layers]).astype(np.float64)
    top = rows.argmax(axis=-1)  # [n_layers, H]
    top_w = np.take_along_axis(rows, top[..., None], axis=-1)[..., 0]  # [n_layers, H]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(rows > 0, rows * np.log2(np.where(rows > 0, rows, 1.0)), 0.0)  # [n_layers, H, T]
    masked = np.stack([trace.layer_mask(L)[query] for L in layers])  # [n_layers, T]; a sliding window hides more
    return HeadSummary(query=query, layers=layers, weights=rows, top_key=top, top_weight=top_w,
                       entropy_bits=-plogp.sum(axis=-1), masked=masked, labels=[head_labels(trace, L) for L in layers])
