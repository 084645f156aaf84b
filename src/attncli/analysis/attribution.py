"""Leave-one-out attribution: which input token mattered for the top prediction.

Run the model once on the whole text and once more without each token; a token's
attribution is how much the probability of the whole text's top next token falls
(positive: the token helped that prediction; negative: it held it back).
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
    target: int  # the id of the top prediction for the whole text
    probability: float  # its probability after the whole text
    without: np.ndarray  # [T]: its probability with token i left out
    delta: np.ndarray  # [T]: probability - without[i]
    ranking: list[int]  # token positions, largest delta first


def last_probs(trace: Trace) -> np.ndarray:
    return softmax(trace["logits"][-1].astype(np.float64))  # [V]


def leave_one_out(forward: Forward, ids: Sequence[int], target: int | None = None, full: Trace | None = None) -> Attribution:
    """`forward(ids) -> Trace` is run T + 1 times, or T with `full` (the trace of all of `ids`,
    when the caller has it already); only each trace's logits are read."""
    ids = list(ids)
    T = len(ids)
    if T < 2:
        raise UsageError("attribution leaves each token out in turn: give a text of at least 2 tokens")
    probs = last_probs(full if full is not None else forward(ids))  # [V]
    if target is None:
        target = int(np.argmax(probs))
    p = float(probs[target])
    without = np.array([last_probs(forward(ids[:i] + ids[i + 1:]))[target] for i in range(T)])  # [T]
    delta = p - without  # [T]
    ranking = [int(i) for i in np.lexsort((np.arange(T), -delta))]  # ties: earlier token first
    return Attribution(target=target, probability=p, without=without, delta=delta, ranking=ranking)
