"""llama.cpp's SentencePiece merging (llm_tokenizer_spm), as checkpoints/gguf/spm.py runs it, against
a naive loop written here: start from the characters, join the adjacent pair whose join is the
best-scoring token (the leftmost on a tie), until no adjacent pair joins into a token. Random
vocabularies with many tied scores (real ones have them: Llama's runs of "▁"), and the real
vocabulary of llama.cpp's llama-spm test file."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.checkpoints.gguf.spm import ScoreMerges
from helpers.llamacpp_data import meta_of

ALPHABET = list("ab▁c") + ["é", "🥦", "日", "<", ">"]


def naive_pieces(text: str, vocab: dict[str, int], scores: list[float]) -> list[str]:
    symbols = list(text)
    while True:
        best = None  # (score, position)
        for i in range(len(symbols) - 1):
            tok = vocab.get(symbols[i] + symbols[i + 1])
            if tok is not None and (best is None or scores[tok] > best[0]):  # strictly better: the leftmost wins ties
                best = (scores[tok], i)
        if best is None:
            return symbols
        i = best[1]
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]


def vocabulary(seed: int) -> tuple[dict[str, int], list[float]]:
    rng = np.random.default_rng(seed)
    tokens = list(dict.fromkeys(ALPHABET + ["".join(rng.choice(ALPHABET, rng.integers(2, 7))) for _ in range(600)]
                                + ["▁" * k for k in range(2, 9)]))
    scores = [float(x) for x in rng.choice([-1.0, -2.0, -3.5, 0.0], len(tokens))]  # many ties
    return {t: i for i, t in enumerate(tokens)}, scores


VOCABS = [vocabulary(seed) for seed in range(3)]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2), st.text(alphabet=ALPHABET + ["x"], max_size=40))
def test_the_pieces_are_the_naive_loops(which: int, text: str) -> None:
    vocab, scores = VOCABS[which]
    spans = ScoreMerges(vocab, scores).pieces(text)
    assert [text[a:b] for a, b in spans] == naive_pieces(text, vocab, scores)
    assert "".join(text[a:b] for a, b in spans) == text  # nothing lost, nothing added


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz  .,'ABCéü日本🥦\n", max_size=60))
def test_the_real_llama_spm_vocabulary(text: str) -> None:
    meta = meta_of("llama-spm")
    tokens = list(meta["tokenizer.ggml.tokens"])
    raw = meta["tokenizer.ggml.scores"]
    scores = [float(x) for x in (raw if isinstance(raw, list) else raw.tolist())]
    vocab = {t: i for i, t in enumerate(tokens)}
    normalized = "▁" + text.replace(" ", "▁")  # what the normalizer hands the pre-tokenizer
    spans = ScoreMerges(vocab, scores).pieces(normalized)
    assert [normalized[a:b] for a, b in spans] == naive_pieces(normalized, vocab, scores)
