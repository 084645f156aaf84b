"""Continue a text token by token, greedily or sampled at a temperature with a seed, with a
KV cache: the prompt goes through the model once, then each new token alone, reading the
earlier positions' keys and values instead of recomputing them (model.forward_step).

With `layer`, each step also keeps what the new token attended to in that layer: its row of
blocks.L.attn.weights for every head, over the prompt and the tokens generated before it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .model import Model
from .numerics import softmax


class Step(NamedTuple):
    id: int  # the token chosen
    probability: float  # its probability
    alternatives: list[tuple[int, float]]  # the likeliest tokens at this step, (id, probability), best first
    weights: np.ndarray | None  # [H, keys]: the chosen layer's attention row of the token that chose it


def _choose(logits: np.ndarray, temperature: float | None, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    logits = logits.astype(np.float64)  # [V]
    p = softmax(logits)  # [V]
    if not temperature:
        return int(np.argmax(logits)), p
    with np.errstate(over="ignore", divide="ignore"):  # a tiny T sends all but the best to -inf
        q = softmax((logits - logits.max()) / temperature)  # [V]
    return int(rng.choice(q.shape[0], p=q)), p


def generate_steps(model: Model, ids: list[int], n: int, temperature: float | None = None, seed: int | None = None,
                   layer: int | None = None, k: int = 3) -> list[Step]:
    """The n next tokens after `ids`, each with its probability, the top-k alternatives and (with
    `layer`) the attention row of the position that predicted it."""
    rng = np.random.default_rng(seed)
    n_ctx = model.config.n_ctx
    ctx = list(ids)[-n_ctx:]  # the model sees at most its context
    caches = model.new_cache()
    out = model.step(ctx, caches, 0, [layer] if layer is not None else None)
    steps: list[Step] = []
    for _ in range(n):
        chosen, p = _choose(out["logits"][-1], temperature, rng)
        order = np.lexsort((np.arange(p.shape[0]), -p))[:k]
        row = out[f"blocks.{layer}.attn.weights"][:, -1] if layer is not None else None  # [H, keys]
        steps.append(Step(chosen, float(p[chosen]), [(int(i), float(p[i])) for i in order], row))
        if len(steps) == n:
            break
        ctx.append(chosen)
        if len(ctx) > n_ctx:  # the context is full: slide it, and fill a fresh cache from what remains
            ctx = ctx[-n_ctx:]
            caches = model.new_cache()
            out = model.step(ctx, caches, 0, [layer] if layer is not None else None)
        else:
            out = model.step([chosen], caches, len(ctx) - 1, [layer] if layer is not None else None)
    return steps


def generate(model: Model, ids: list[int], n: int, temperature: float | None = None, seed: int | None = None) -> list[int]:
    """The n next ids after `ids`. temperature None or 0 picks the likeliest token each step."""
    return [s.id for s in generate_steps(model, ids, n, temperature, seed)]
