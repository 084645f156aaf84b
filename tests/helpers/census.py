"""attn heads' reference: a small corpus and the census's scores computed the naive way (the issue's
definitions, one position at a time in float64), shared by the census's unit, CLI and reference tests."""

from __future__ import annotations

import math

import numpy as np

from attncli.analysis import heads

TEXTS = [
    "the cat sat on the mat. she was happy.",
    "once upon a time there was a little girl named lily.",
    "he liked to play with his ball in the park.",
    "the dog ran to the big tree and the bird flew away.",
    "mom said it was time for bed.",
    "hi",  # one token: no query position i >= 1
]
# The census sums float32 weights (and float32 entropies) in float64; the naive loops read the same
# float32 weights. What differs is the entropies' float32 log and products: a few float32 ulps a row.
TOL = 64 * float(np.finfo(np.float32).eps)


def naive(model, texts: list[str]) -> dict[str, np.ndarray]:
    """previous, first, self and entropy as the issue defines them, one position at a time."""
    c = model.config
    sums = {k: np.zeros((c.n_layer, c.n_head)) for k in heads.CORPUS_SCORES}
    n = 0
    for text in texts:
        tokens, _ = model.encode(text)
        trace = model.forward([t.id for t in tokens])
        T = len(tokens)
        n += T - 1
        for L in range(c.n_layer):
            w = trace.block(L, "attn.weights").astype(np.float64)
            hidden = trace.layer_mask(L)
            for h in range(c.n_head):
                for i in range(1, T):
                    sums["previous"][L, h] += w[h, i, i - 1]
                    sums["first"][L, h] += w[h, i, 0]
                    sums["self"][L, h] += w[h, i, i]
                    seen = int((~hidden[i]).sum())
                    ent = -sum(p * math.log(p) for p in w[h, i] if p > 0)
                    sums["entropy"][L, h] += ent / math.log(seen) if seen > 1 else 0.0
    return {k: v / n for k, v in sums.items()}
