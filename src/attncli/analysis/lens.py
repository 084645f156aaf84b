"""The logit lens (nostalgebraist, 2020): what the residual stream would predict at every layer.

For one query token, the stream entering each block (blocks.L.resid_pre) and the stream after
the last block are each put through the model's own final norm (or head) and unembedding, as
if the model stopped there. The layers before the last were never trained to be read this
way, so an early layer's top tokens say what is already linearly there, not what the layer
"thinks"; the row of the final stream is the model's prediction exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..errors import UsageError
from ..model import Model
from ..numerics import softmax
from ..readout import logits as read_out
from ..trace import Trace, block_output


class LensRow(NamedTuple):
    layer: int  # the block whose input this is; n_layer for the stream after the last block
    name: str  # the trace name read
    top: list[tuple[int, float]]  # (id, probability) of the k likeliest tokens
    target_rank: int  # 1 = the likeliest
    target_probability: float


class Lens(NamedTuple):
    query: int
    target: int  # the token tracked: the model's final top token, or --target
    rows: list[LensRow]


def ranked(logits: np.ndarray, target: int, k: int) -> tuple[list[tuple[int, float]], int, float]:
    """Top-k (id, probability), and the target's rank and probability, of one row of logits."""
    p = softmax(logits.astype(np.float64))  # [V]
    order = np.lexsort((np.arange(p.shape[0]), -p))  # ties by id, as top_k
    rank = int(np.nonzero(order == target)[0][0]) + 1
    return [(int(i), float(p[i])) for i in order[:k]], rank, float(p[target])


def logit_lens(model: Model, trace: Trace, query: int, k: int, target: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> Lens:
    """The stream at `query` entering each block, and after the last, read through the final norm
    and the unembedding. `progress(done, n_layer + 1)`: 0 while every row is read through the
    vocabulary at once (most of the time, with a large one), then after each row is ranked."""
    c = model.config
    model.task.require(model, "--lens", "words")
    if trace.layers != list(range(c.n_layer)):
        raise UsageError("--lens reads every layer; this text is too long to keep them all: shorten it")
    names = [f"blocks.{L}.resid_pre" for L in range(c.n_layer)] + [block_output(c, c.n_layer - 1)]
    stream = np.stack([trace[n][query] for n in names])  # [n_layer + 1, d]
    if progress is not None:
        progress(0, len(names))
    logits = read_out(model, stream)  # [n_layer + 1, V]: through the final norm (or head) and the unembedding
    if target is None:
        target = int(np.argmax(trace["logits"][query]))
    rows = []
    for L, (name, row) in enumerate(zip(names, logits)):
        top, rank, p = ranked(row, target, k)
        rows.append(LensRow(L, name, top, rank, p))
        if progress is not None:
            progress(L + 1, len(names))
    return Lens(query, target, rows)
