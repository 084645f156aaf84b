"""Leave-one-out attribution: which input token mattered for the top prediction.

Run the model once on the whole text and once more without each token; a token's
attribution is how much the probability of the whole text's top next token falls
(positive: the token helped that prediction; negative: it held it back). For a masked-language
model the prediction is the top filler of the (first) mask, read at the mask wherever it moves
when a token before it goes; for a sentence encoder, which predicts no words, it is how far the
sentence embedding moves (cosine distance) without each token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..numerics import softmax
from ..trace import Trace

Forward = Callable[[Sequence[int]], Trace]


@dataclass
class Attribution:
    target: int  # the id of the top prediction for the whole text (-1 for the embedding measure)
    probability: float  # its probability after the whole text (the embedding measure: 1, its similarity to itself)
    without: np.ndarray  # [T]: its probability with token i left out (embedding: the cosine similarity to the whole's)
    delta: np.ndarray  # [T]: probability - without[i] (embedding: the cosine distance)
    ranking: list[int]  # token positions, largest delta first (never the mask itself)
    measure: str = "probability"  # or "embedding": the sentence embedding's cosine distance
    position: int | None = None  # the mask whose filler is measured (None: the next token after the text)


def last_probs(trace: Trace) -> np.ndarray:
    return softmax(trace["logits"][-1].astype(np.float64))  # [V]


def probs_at(trace: Trace, position: int) -> np.ndarray:
    return softmax(trace["logits"][position].astype(np.float64))  # [V]


def _ranked(delta: np.ndarray, skip: int | None) -> list[int]:
    T = delta.shape[0]
    order = [int(i) for i in np.lexsort((np.arange(T), -delta))]  # ties: earlier token first
    return [i for i in order if i != skip]


def leave_one_out(forward: Forward, ids: Sequence[int], target: int | None = None, full: Trace | None = None,
                  position: int | None = None, progress: Callable[[int, int], None] | None = None) -> Attribution:
    """`forward(ids) -> Trace` is run T + 1 times, or T with `full` (the trace of all of `ids`,
    when the caller has it already); only each trace's logits are read. `position`: read the
    prediction at that token (a mask) instead of after the last, and never leave it out.
    `progress(done, T)` is told after each token left out."""
    ids = list(ids)
    T = len(ids)
    if T < 2:
        raise UsageError("attribution leaves each token out in turn: give a text of at least 2 tokens")
    at = -1 if position is None else position
    if progress is not None:
        progress(0, T)
    probs = probs_at(full if full is not None else forward(ids), at)  # [V]
    if target is None:
        target = int(np.argmax(probs))
    p = float(probs[target])

    def without_token(i: int) -> float:
        if i == position:  # the mask stays: it is what is predicted
            return p
        moved = at if position is None or i > position else at - 1  # the mask moves up when a token before it goes
        out = float(probs_at(forward(ids[:i] + ids[i + 1:]), moved)[target])
        if progress is not None:
            progress(i + 1, T)
        return out

    without = np.array([without_token(i) for i in range(T)])  # [T]
    delta = p - without  # [T]
    return Attribution(target=target, probability=p, without=without, delta=delta, ranking=_ranked(delta, position),
                       position=position)


def embedding_leave_one_out(forward: Forward, ids: Sequence[int], embed: Callable[[Trace], np.ndarray],
                            full: Trace | None = None,
                            progress: Callable[[int, int], None] | None = None) -> Attribution:
    """For a sentence encoder: how far `embed(trace)` (the pooled sentence embedding) moves, in
    cosine distance, when each token is left out (`progress(done, T)` told after each)."""
    from .embedding import cosine_similarity

    ids = list(ids)
    T = len(ids)
    if T < 2:
        raise UsageError("attribution leaves each token out in turn: give a text of at least 2 tokens")
    if progress is not None:
        progress(0, T)
    e = embed(full if full is not None else forward(ids))  # [d]
    similarity = np.empty(T)  # [T]
    for i in range(T):
        similarity[i] = cosine_similarity(e, embed(forward(ids[:i] + ids[i + 1:])))
        if progress is not None:
            progress(i + 1, T)
    delta = np.clip(1.0 - similarity, 0.0, 2.0)  # [T]
    return Attribution(target=-1, probability=1.0, without=similarity, delta=delta, ranking=_ranked(delta, None),
                       measure="embedding")
