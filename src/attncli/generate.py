"""Continue a text token by token: greedily, or sampled at a temperature with a seed."""

from __future__ import annotations

import numpy as np

from .model import Model
from .numerics import softmax


def generate(model: Model, ids: list[int], n: int, temperature: float | None = None, seed: int | None = None) -> list[int]:
    """The n next ids after `ids`. temperature None or 0 picks the likeliest token each step."""
    rng = np.random.default_rng(seed)
    ctx = list(ids)
    out: list[int] = []
    for _ in range(n):
        window = ctx[-model.config.n_ctx:]  # the model sees at most its context
        logits = model.forward(window, layers=[]).row("logits", -1).astype(np.float64)  # [V]
        if not temperature:
            nxt = int(np.argmax(logits))
        else:
            with np.errstate(over="ignore", divide="ignore"):  # a tiny T sends all but the best to -inf
                p = softmax((logits - logits.max()) / temperature)  # [V]
            nxt = int(rng.choice(p.shape[0], p=p))
        ctx.append(nxt)
        out.append(nxt)
    return out
