"""Masked-token accuracy of a masked-LM on a text, and the count baseline it is measured against.

The text is cut into consecutive windows ([CLS] and n_ctx - 1 tokens, documents ended by [SEP],
as in training); in each, 15% of the ordinary tokens are chosen with a fixed seed and all of
them become [MASK] (what a reader does with `attn predict`). Top-1 and top-5 count how often
the original token is the model's first guess, or among its first five.

CountBaseline predicts a masked token from the tokens just before and after it, as counted in
a training text: the commonest token between that pair; a pair never seen (or a neighbour that
is itself masked, or outside the window) falls back to one side's bigram, then to the unigram.
It reads the same masked windows the model does.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError, UsageError
from ..model import Model, forward
from ..numerics import log_softmax
from . import mlm
from .data import documents
from .mlm_data import Specials, encode_stream, specials, tiling

EVAL_SEED = 0  # which tokens are masked: the same ones for every model and the baseline
TOP_K = 5


@dataclass
class MaskedSet:
    """The masked windows of a text, ready for a model or the baseline."""

    original: list[np.ndarray]  # [W, T] windows of equal length (the last group may be shorter)
    masked: list[np.ndarray]  # the same, the chosen tokens replaced by [MASK]
    positions: list[np.ndarray]  # [M] flat indices of the chosen tokens in each group
    specials: Specials
    seed: int

    @property
    def targets(self) -> np.ndarray:
        return np.concatenate([o.reshape(-1)[p] for o, p in zip(self.original, self.positions, strict=True)])  # [M]


@dataclass
class MaskedResult:
    tokens: int  # masked tokens scored
    top1: float  # fraction whose original token is the first guess
    topk: float  # ... among the first TOP_K
    loss: float  # mean NLL of the original tokens, nats (nan for the baseline)
    n_ctx: int
    seed: int
    k: int = TOP_K


def mask_text(model: Model, text: str, seed: int = EVAL_SEED) -> MaskedSet:
    """Encode `text` for `model`'s masked-LM vocabulary, window it and mask 15% with `seed`."""
    sp = specials(model.tokenizer, f"{model.name}'s tokenizer")
    ids = encode_stream(model.tokenizer, documents(text))  # [N]
    rng = np.random.default_rng(seed)
    original, masked, positions = [], [], []
    for group in tiling(ids, model.config.n_ctx, sp.cls):  # [W, T]
        chosen = mlm.choose(group, group >= sp.n_special, rng)  # [W, T]
        pos = np.flatnonzero(chosen)  # [M]
        inp = group.reshape(-1).copy()  # [W*T]
        inp[pos] = sp.mask
        original.append(group)
        masked.append(inp.reshape(group.shape))
        positions.append(pos)
    return MaskedSet(original, masked, positions, sp, seed)


def _scores(model: Model, ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Logits [M, V] at flat positions pos [M] of ids [B, T]: batched for the encoders attn train makes."""
    if mlm.supported(model.config):
        return mlm.forward(model.params, model.config, ids, pos, keep_cache=False)[0]  # [M, V]
    rows = [forward(model.params, model.config, ids[b], layers=[])["logits"] for b in range(ids.shape[0])]  # B x [T, V]
    return np.concatenate(rows)[pos]  # [B*T, V] -> [M, V]


def ranked(logits: np.ndarray, k: int) -> np.ndarray:
    """The k best ids [M, k] of each row of logits [M, V], best first; ties by id."""
    part = np.argpartition(-logits, k - 1, axis=1)[:, :k]  # [M, k], unordered
    vals = np.take_along_axis(logits, part, axis=1)  # [M, k]
    order = np.lexsort((part, -vals), axis=1)  # [M, k]
    return np.take_along_axis(part, order, axis=1)  # [M, k]


def evaluate_mlm(model: Model, text: str, batch: int = 32, seed: int = EVAL_SEED,
                 progress: Callable[[int, int], None] | None = None) -> MaskedResult:
    """Masked-token top-1 and top-5 accuracy and loss of `model` on `text`; `progress(done, total)` per batch."""
    if model.config.head != "mlm":
        raise UsageError(f"{model.name} has no masked-LM head: it cannot fill in a [MASK]; "
                         "score a next-token model with attn eval without --objective mlm")
    return score(model, mask_text(model, text, seed), batch, progress)


def score(model: Model, data: MaskedSet, batch: int = 32,
          progress: Callable[[int, int], None] | None = None) -> MaskedResult:
    """Top-1, top-5 and loss of `model` on the masked windows `data`."""
    if not sum(p.shape[0] for p in data.positions):
        raise UsageError("the text gives no tokens to mask; give a longer text")
    total = sum(g.shape[0] for g in data.masked)
    hits1 = hitsk = scored = done = 0
    nll = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for inp, orig, pos in zip(data.masked, data.original, data.positions, strict=True):
            T = inp.shape[1]
            for i in range(0, inp.shape[0], batch):
                sel = (pos >= i * T) & (pos < (i + batch) * T)
                logits = _scores(model, inp[i:i + batch], pos[sel] - i * T).astype(np.float32)  # [m, V]
                tgt = orig.reshape(-1)[pos[sel]]  # [m]
                top = ranked(logits, TOP_K)  # [m, k]
                hits1 += int((top[:, 0] == tgt).sum())
                hitsk += int((top == tgt[:, None]).any(axis=1).sum())
                nll -= float(log_softmax(logits.astype(np.float64))[np.arange(tgt.shape[0]), tgt].sum())
                scored += tgt.shape[0]
                done += min(batch, inp.shape[0] - i)
                if progress:
                    progress(done, total)
    if not math.isfinite(nll):
        raise ModelError(f"{model.name}: the model gives non-finite log-likelihoods on this text; "
                         "its weights are broken, retrain or restore them")
    return MaskedResult(tokens=scored, top1=hits1 / scored, topk=hitsk / scored, loss=nll / scored,
                        n_ctx=model.config.n_ctx, seed=data.seed)


class CountBaseline:
    """The token seen most often between a (previous, next) pair in a training stream of ids."""

    def __init__(self, ids: np.ndarray, n_special: int) -> None:
        self.n_special = n_special
        self.pair: dict[tuple[int, int], Counter] = defaultdict(Counter)
        self.left: dict[int, Counter] = defaultdict(Counter)  # previous token -> what follows it
        self.right: dict[int, Counter] = defaultdict(Counter)  # next token -> what precedes it
        self.unigram: Counter = Counter()
        a, b, c = ids[:-2].tolist(), ids[1:-1].tolist(), ids[2:].tolist()
        for prev, mid, nxt in zip(a, b, c, strict=True):
            if mid < n_special:  # [SEP] is a neighbour to count, never a token to guess
                continue
            self.pair[(prev, nxt)][mid] += 1
            self.left[prev][mid] += 1
            self.right[nxt][mid] += 1
            self.unigram[mid] += 1
        self._unigram_top = [t for t, _ in sorted(self.unigram.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]]

    def predict(self, prev: int | None, nxt: int | None, k: int = TOP_K) -> list[int]:
        """The k likeliest ids, best first (ties by id); None for a neighbour that cannot be seen."""
        out: list[int] = []
        tables = []
        if prev is not None and nxt is not None:
            tables.append(self.pair.get((prev, nxt)))
        if prev is not None:
            tables.append(self.left.get(prev))
        if nxt is not None:
            tables.append(self.right.get(nxt))
        for counts in tables:
            if counts:
                for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                    if t not in out:
                        out.append(t)
                        if len(out) == k:
                            return out
        for t in self._unigram_top:
            if t not in out and len(out) < k:
                out.append(t)
        return out

    def evaluate(self, data: MaskedSet, see_masked_neighbours: bool = False, right: bool = True) -> MaskedResult:
        """Top-1 and top-k on the masked windows; a neighbour that is [MASK] (or [CLS], or past the
        window) is unknown, unless `see_masked_neighbours` hands it the original token. Without
        `right`, the next token is never read: a left-only bigram."""
        hidden = {data.specials.mask, data.specials.cls}
        hits1 = hitsk = n = 0
        for inp, orig, pos in zip(data.masked, data.original, data.positions, strict=True):
            view = (orig if see_masked_neighbours else inp).reshape(-1)
            T = inp.shape[1]
            for p in pos.tolist():
                t = p % T
                prev = int(view[p - 1]) if t > 0 and int(view[p - 1]) not in hidden else None
                nxt = int(view[p + 1]) if right and t < T - 1 and int(view[p + 1]) not in hidden else None
                guess = self.predict(prev, nxt)
                target = int(orig.reshape(-1)[p])
                hits1 += guess[0] == target
                hitsk += target in guess
                n += 1
        return MaskedResult(tokens=n, top1=hits1 / n, topk=hitsk / n, loss=math.nan, n_ctx=data.original[0].shape[1],
                            seed=data.seed)
