"""Token ids for the masked-LM objective: documents joined by [SEP], windows that start with [CLS].

A window of n_ctx tokens is [CLS] and the n_ctx - 1 tokens of the stream after a random start;
[SEP] ends every document, so a window holds the ends and starts of documents as BERT's
"full sentences" do, and a text given to `attn predict` ([CLS] text [SEP]) looks like one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import TrainingError
from ..tokenizer import Tokenizer
from .wordpiece import CLS, MASK, SEP, SPECIALS


class Specials(NamedTuple):
    """The ids the objective needs; every special token comes before the ordinary ones."""

    cls: int
    sep: int
    mask: int
    n_special: int  # ids below this are special: never chosen, never a random replacement


def specials(tokenizer: Tokenizer, source: str = "tokenizer.json") -> Specials:
    """The tokenizer's [CLS], [SEP] and [MASK]; a typed error if it is not a masked-LM vocabulary."""
    ids = [tokenizer.backend.token_to_id(t) for t in SPECIALS]
    if any(i is None for i in ids) or sorted(ids) != list(range(len(SPECIALS))):
        raise TrainingError(f"{source}: a masked-LM vocabulary needs {', '.join(SPECIALS)} as ids 0 to "
                            f"{len(SPECIALS) - 1}; train without --resume to make a new one")
    get = tokenizer.backend.token_to_id
    return Specials(cls=get(CLS), sep=get(SEP), mask=get(MASK), n_special=len(SPECIALS))


def encode_stream(tokenizer: Tokenizer, docs: list[str]) -> np.ndarray:
    """Token ids of the documents, each followed by [SEP] [N]."""
    sep = tokenizer.backend.token_to_id(SEP)
    encoded = tokenizer.backend.encode_batch(docs, add_special_tokens=False)
    pieces = [np.array(enc.ids + [sep], dtype=np.int64) for enc in encoded]
    ids = np.concatenate(pieces)  # [N]
    return ids.astype(np.uint16 if tokenizer.vocab_size <= 65536 else np.int32)  # [N]


def windows_at(ids: np.ndarray, starts: np.ndarray, n_ctx: int, cls: int) -> np.ndarray:
    """[CLS] and the n_ctx - 1 stream tokens from each of `starts` [B]: [B, n_ctx]."""
    body = ids[starts[:, None] + np.arange(n_ctx - 1)].astype(np.int64)  # [B, T-1]
    return np.concatenate([np.full((starts.shape[0], 1), cls, dtype=np.int64), body], axis=1)  # [B, T]


def sample_windows(ids: np.ndarray, batch: int, n_ctx: int, cls: int, rng: np.random.Generator) -> np.ndarray:
    """`batch` windows at random starts: [B, n_ctx]."""
    return windows_at(ids, rng.integers(0, ids.shape[0] - n_ctx + 2, size=batch), n_ctx, cls)  # [B, T]


def tiling(ids: np.ndarray, n_ctx: int, cls: int) -> list[np.ndarray]:
    """The stream cut into consecutive windows, [CLS] first, every token in exactly one: full ones
    [W, n_ctx], then the shorter last one [1, t] if the stream does not divide evenly."""
    step = n_ctx - 1
    n_full = ids.shape[0] // step
    out = [windows_at(ids, np.arange(n_full) * step, n_ctx, cls)] if n_full else []  # [W, T]
    rest = ids[n_full * step:]
    if rest.shape[0]:
        out.append(np.concatenate([[cls], rest]).astype(np.int64)[None])  # [1, t]
    return out
