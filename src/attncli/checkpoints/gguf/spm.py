"""llama.cpp's SentencePiece merging (llm_tokenizer_spm), run on the text itself, as a `tokenizers`
pre-tokenizer: no merge table is built, so a 262k-token vocabulary (Gemma's) loads in a fraction
of the time a BPE of its 515k score-ranked merges takes.

Each stretch of normalized text starts as one symbol per character; the adjacent pair whose join
is the best-scoring token is joined, the leftmost on a tie, until no join is a token. The
pieces are then whole tokens, or single characters the vocabulary lacks, which the BPE model
behind it (no merges, ignore_merges, byte fallback) spells as <0xXX> byte tokens, as llama.cpp does.
"""

from __future__ import annotations

import heapq
from typing import Any


class ScoreMerges:
    """The pre-tokenizer: split(i, normalized) cuts a NormalizedString into llama.cpp's pieces."""

    def __init__(self, vocab: dict[str, int], scores: list[float]) -> None:
        self.vocab = vocab  # token -> id
        self.scores = scores  # id -> score

    def pieces(self, text: str) -> list[tuple[int, int]]:
        """The (start, end) character spans llama.cpp's merging leaves of `text`, in order."""
        n = len(text)
        if n < 2:
            return [(0, n)] if n else []
        vocab, scores = self.vocab, self.scores
        size = [1] * n  # characters in the symbol starting at each position; 0 once joined to its left
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        heap: list[tuple[float, int, int, int]] = []

        def pair(left: int, right: int) -> None:
            if left < 0 or right < 0:
                return
            joined = size[left] + size[right]
            tok = vocab.get(text[left:left + joined])
            if tok is not None:
                heapq.heappush(heap, (-scores[tok], left, right, joined))  # best score first, then leftmost

        for i in range(n - 1):
            pair(i, i + 1)
        while heap:
            _, left, right, joined = heapq.heappop(heap)
            if size[left] == 0 or size[right] == 0 or size[left] + size[right] != joined:
                continue  # one side was joined elsewhere since: llama.cpp's same check
            size[left], size[right] = joined, 0
            nxt[left] = nxt[right]
            if nxt[left] >= 0:
                prev[nxt[left]] = left
            pair(prev[left], left)
            pair(left, nxt[left])
        spans, i = [], 0
        while i >= 0:
            spans.append((i, i + size[i]))
            i = nxt[i]
        return spans

    def split(self, i: int, normalized: Any) -> list[Any]:
        return [normalized[a:b] for a, b in self.pieces(str(normalized))]

    def pre_tokenize(self, pretok: Any) -> None:
        pretok.split(self.split)
