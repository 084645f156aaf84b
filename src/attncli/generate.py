"""Continue a text token by token, greedily or sampled at a temperature with a seed, with a
KV cache: the prompt goes through the model once, then each new token alone, reading the
earlier positions' keys and values instead of recomputing them (model.forward with a KVCache).

With `layer`, each step also keeps what the new token attended to in that layer: its row of
blocks.L.attn.weights for every head, over the prompt and the tokens generated before it.

Generation stops early when the model chooses an end-of-text token (as llama.cpp stops at its
end-of-generation tokens); once the text outgrows the model's context, each new token is chosen
from the last n_ctx tokens only (the window slides). Continuation says which happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .model import Model
from .numerics import softmax


class Step(NamedTuple):
    id: int  # the token chosen
    probability: float  # its probability
    alternatives: list[tuple[int, float]]  # the likeliest tokens at this step, (id, probability), best first
    weights: np.ndarray | None  # [H, keys]: the chosen layer's attention row of the token that chose it


class Continuation(NamedTuple):
    steps: list[Step]  # the tokens chosen, without the end-of-text token that stopped them
    end: int | None  # the end-of-text token the model chose, which stopped it early; None: all n were generated
    slid_at: int | None  # the first step chosen from a slid window (the last n_ctx tokens only); None: none was
    prompt: Any = None  # the prompt's forward (its trace), which the first token was chosen from


def end_ids(model: Model) -> set[int]:
    """The tokens that end a text: the tokenizer's special tokens spelled as an end of text or of a
    turn (<|endoftext|>, </s>, <eos>, <|im_end|>, <end_of_turn>, ...: llama.cpp's list), and the
    model's eos_token_id."""
    from .checkpoints.gguf.vocab import EOG_TEXTS

    tok = model.tokenizer
    ids = {i for i in tok.special_ids if tok.id_to_token(i) in EOG_TEXTS}
    eos = model.card.get("eos_token_id")
    if isinstance(eos, int) and 0 <= eos < tok.vocab_size:
        ids.add(eos)
    return ids


def _choose(logits: np.ndarray, temperature: float | None, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    logits = logits.astype(np.float64)  # [V]
    p = softmax(logits)  # [V]
    if not temperature:
        return int(np.argmax(logits)), p
    with np.errstate(over="ignore", divide="ignore"):  # a tiny T sends all but the best to -inf
        q = softmax((logits - logits.max()) / temperature)  # [V]
    return int(rng.choice(q.shape[0], p=q)), p


def generate_steps(model: Model, ids: list[int], n: int, temperature: float | None = None, seed: int | None = None,
                   layer: int | None = None, k: int = 3, progress: Callable[[int, int], None] | None = None
                   ) -> Continuation:
    """Up to n next tokens after `ids`, each with its probability, the top-k alternatives and (with
    `layer`) the attention row of the position that predicted it; fewer if the model ends the text.
    `progress(done, n)` is told after each token."""
    rng = np.random.default_rng(seed)
    n_ctx = model.config.n_ctx
    ends = end_ids(model)
    if progress is not None:
        progress(0, n)
    kept = [layer] if layer is not None else []  # the layer whose attention rows are shown, or none
    ctx = list(ids)[-n_ctx:]  # the model sees at most its context
    cache = model.new_cache()
    out = first = model.forward(ctx, kept, cache=cache)
    steps: list[Step] = []
    slid_at = None
    for _ in range(n):
        chosen, p = _choose(out.row("logits", -1), temperature, rng)
        if chosen in ends:
            return Continuation(steps, chosen, slid_at, first)
        order = np.lexsort((np.arange(p.shape[0]), -p))[:k]
        row = out[f"blocks.{layer}.attn.weights"][:, -1] if layer is not None else None  # [H, keys]
        steps.append(Step(chosen, float(p[chosen]), [(int(i), float(p[i])) for i in order], row))
        if progress is not None:
            progress(len(steps), n)
        if len(steps) == n:
            break
        ctx.append(chosen)
        if len(ctx) > n_ctx:  # the context is full: slide it, and fill a fresh cache from what remains
            ctx = ctx[-n_ctx:]
            slid_at = len(steps) if slid_at is None else slid_at
            cache = model.new_cache()
            out = model.forward(ctx, kept, cache=cache)
        else:
            out = model.forward([chosen], kept, cache=cache)  # at position len(ctx) - 1, after the cached ones
    return Continuation(steps, None, slid_at, first)


def generate(model: Model, ids: list[int], n: int, temperature: float | None = None,
             seed: int | None = None) -> list[int]:
    """Up to n next ids after `ids` (fewer if the model ends the text). temperature None or 0 picks
    the likeliest token each step."""
    return [s.id for s in generate_steps(model, ids, n, temperature, seed).steps]
