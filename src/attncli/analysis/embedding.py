"""A sentence embedding from a Trace: the last layer's vectors pooled the model's own way
(a sentence-transformers folder's 1_Pooling/config.json: mean, [CLS] or max; then normalized
when modules.json lists Normalize), else the mean of every token's vector."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..trace import Trace, block_output

DEFAULT: dict[str, Any] = {"pooling": "mean", "normalize": False, "from": None}  # for a model whose folder names none


def pooling_of(card: dict[str, Any]) -> dict[str, Any] | None:
    """The pooling a model's card records (a sentence-transformers folder's), or None."""
    p = card.get("sentence_embedding")
    return p if isinstance(p, dict) and p.get("pooling") in ("mean", "cls", "max") else None


def last_hidden_name(trace: Trace) -> str:
    """The last layer's output as the model hands it on: after the final norm (pre-norm models),
    or the last block's output (post-norm encoders, whose blocks end normed)."""
    return "ln_final" if "ln_final" in trace else block_output(trace.config, trace.config.n_layer - 1)


def pool(h: np.ndarray, pooling: dict[str, Any] | None = None) -> np.ndarray:
    """[T, d] last vectors ([CLS] and [SEP] included, as sentence-transformers pools them) ->
    [d] float64, pooled by `pooling` (DEFAULT when None)."""
    p = pooling or DEFAULT
    h = h.astype(np.float64)  # [T, d]
    e = {"mean": lambda: h.mean(axis=0), "cls": lambda: h[0], "max": lambda: h.max(axis=0)}[p["pooling"]]()  # [d]
    if p.get("normalize"):
        e = e / max(float(np.linalg.norm(e)), 1e-12)  # [d]
    return e


def sentence_embedding(trace: Trace, pooling: dict[str, Any] | None = None) -> np.ndarray:
    """[d] float64: the trace's last vectors pooled (see pool)."""
    return pool(trace[last_hidden_name(trace)], pooling)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-300))


def describe(pooling: dict[str, Any] | None) -> str:
    """How the embedding was made, in words: 'mean pooling as 1_Pooling/config.json says, normalized'."""
    p = pooling or DEFAULT
    what = {"mean": "mean pooling", "cls": "the [CLS] token's vector", "max": "max pooling"}[p["pooling"]]
    where = f" as {p['from']} says" if p.get("from") else " of the last layer's vectors, as the model names no pooling"
    return what + where + (", normalized" if p.get("normalize") else "")
