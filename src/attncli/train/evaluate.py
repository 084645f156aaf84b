"""Held-out loss and perplexity of any model on any text, per token and per word.

Words are the matches of WORD_PATTERN on the lowercased text with curly quotes made
straight, whatever the tokenizer: per-word perplexity = exp(total NLL / words) compares
models with different vocabularies (and n-gram baselines, see benchmarks/ngram_baselines.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError, UsageError
from ..model import Model, forward
from ..numerics import log_softmax
from .bpe import CURLY, EOT

WORD_PATTERN = r"[a-z]+(?:'[a-z]+)?|[.,!?;:\"]"
WORD_RE = re.compile(WORD_PATTERN)
STRAIGHTEN = str.maketrans(CURLY)
LOGIT_BUDGET = 2**25  # logits held at once by a batch (128 MB in float32)


def words(text: str) -> list[str]:
    """The word units every perplexity here is counted in."""
    return WORD_RE.findall(text.lower().translate(STRAIGHTEN))


def stride(n_ctx: int) -> int:
    """How far each sliding window moves past the one before."""
    return max(1, n_ctx // 2)


@dataclass
class EvalResult:
    tokens: int  # tokens scored
    words: int
    nll: float  # total negative log-likelihood, nats
    loss_token: float  # nll / tokens
    ppl_token: float
    ppl_word: float  # exp(nll / words)
    n_ctx: int
    stride: int


def encode_text(model: Model, text: str) -> np.ndarray:
    """Ids of the text; the first id is never scored (nothing comes before it).

    With an <|endoftext|> token, blank-line-separated documents are each preceded by it,
    as `attn train` joins them, so every real token is scored. Without one, the text is
    encoded as it is and its first token, having no context, is not scored.
    """
    from .data import documents, encode_documents

    if model.tokenizer.backend.token_to_id(EOT) is not None:
        return encode_documents(model.tokenizer, documents(text)).astype(np.int64)  # [N]
    return np.array(model.tokenizer.backend.encode(text, add_special_tokens=False).ids, dtype=np.int64)  # [N]


def windows(n_ids: int, n_ctx: int) -> list[tuple[int, int]]:
    """(start, first scored offset) of sliding windows that score targets 1..n_ids-1 once each.

    Windows of n_ctx inputs move by stride n_ctx // 2; the first window scores all its
    targets, later ones only the last `stride` (the ones not yet scored), so every token
    after the first window is predicted from at least n_ctx - stride tokens of context.
    """
    n_targets = n_ids - 1
    if n_targets <= n_ctx:
        return [(0, 0)]
    step = stride(n_ctx)
    out, scored_to = [(0, 0)], n_ctx  # targets 1..scored_to are done
    while scored_to < n_targets:
        start = min(scored_to + step - n_ctx, n_targets - n_ctx)
        out.append((start, scored_to - start))
        scored_to = start + n_ctx
    return out


def _score(model: Model, ids: np.ndarray, wins: list[tuple[int, int]], T: int, batch: int,
           progress: Callable[[int, int], None] | None) -> tuple[float, int]:
    """Total NLL and number of scored targets over the windows: batched for GPT-2 models."""
    from .data import windows_at
    from .gpt import nll_sum, supported

    total, scored = 0.0, 0
    if supported(model.config):
        for i in range(0, len(wins), batch):
            chunk = wins[i:i + batch]
            x, y = windows_at(ids, np.array([s for s, _ in chunk]), T)  # [B, T], [B, T]
            mask = np.arange(T)[None, :] >= np.array([o for _, o in chunk])[:, None]  # [B, T]
            total += nll_sum(model.params, model.config, x, y, mask)
            scored += int(mask.sum())
            if progress:
                progress(min(i + batch, len(wins)), len(wins))
    else:
        for i, (s, o) in enumerate(wins):
            logits = forward(model.params, model.config, ids[s:s + T], layers=[])["logits"]  # [T, V]
            logp = log_softmax(logits.astype(np.float64))  # [T, V]
            tgt = ids[s + 1:s + T + 1]  # [T]
            total += float(-logp[np.arange(o, T), tgt[o:]].sum())
            scored += T - o
            if progress:
                progress(i + 1, len(wins))
    return total, scored


def evaluate(model: Model, text: str, batch: int = 32,
             progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score every token of `text` with `model`; `progress(done, total)` after each batch of windows."""
    n_words = len(words(text))
    if n_words == 0:
        raise UsageError("the text has no words to score (letters or . , ! ? ; : \"); give English text")
    ids = encode_text(model, text)  # [N]
    if ids.shape[0] < 2:
        raise UsageError("the text gives fewer than 2 tokens; give a longer text")
    n_ctx = model.config.n_ctx
    wins = windows(ids.shape[0], n_ctx)
    T = min(n_ctx, ids.shape[0] - 1)
    batch = max(1, min(batch, LOGIT_BUDGET // (T * model.config.vocab_size)))  # GPT-2's 50k vocab x 1024 tokens is big
    with np.errstate(over="ignore", invalid="ignore"):  # broken weights are reported below, not warned about
        total, scored = _score(model, ids, wins, T, batch, progress)
    if not math.isfinite(total):
        raise ModelError(f"{model.name}: the model gives non-finite log-likelihoods on this text; "
                         "its weights are broken, retrain or restore them")
    return EvalResult(tokens=scored, words=n_words, nll=total, loss_token=total / scored,
                      ppl_token=math.exp(total / scored), ppl_word=math.exp(total / n_words),
                      n_ctx=n_ctx, stride=stride(n_ctx))
