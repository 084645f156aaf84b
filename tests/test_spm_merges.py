"""The SentencePiece merges found with numpy (spm_merges.py) are exactly vocab._score_merges's,
in the same order; the cache returns them again, and a damaged cache file is searched anew."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.checkpoints.gguf import spm_merges
from attncli.checkpoints.gguf.vocab import _score_merges


def vocabulary(seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    alphabet = list("ab▁c") + ["é", "🥦", "日", "<", ">"]
    tokens = list(dict.fromkeys(alphabet + ["".join(rng.choice(alphabet, rng.integers(2, 7))) for _ in range(600)]
                                + ["▁" * k for k in range(2, 9)]))
    scores = rng.choice([-1.0, -2.0, -3.5, 0.0], len(tokens)).astype(np.float32)  # many ties, as real vocabularies have
    return tokens, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_merges_in_the_same_order(seed: int) -> None:
    tokens, scores = vocabulary(seed)
    pairs = spm_merges.find(tokens, scores)
    assert [(tokens[a], tokens[b]) for a, b in pairs] == _score_merges(scores, {t: i for i, t in enumerate(tokens)})


def test_the_cache_is_used_and_a_damaged_one_ignored(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path))
    tokens, scores = vocabulary(3)
    want = spm_merges.merges(tokens, scores)
    (path,) = (tmp_path / "tokenizers").iterdir()
    assert np.array_equal(np.load(path), spm_merges.find(tokens, scores))
    assert spm_merges.merges(tokens, scores) == want
    np.save(path, np.full((3, 2), len(tokens) + 5, dtype=np.int32))  # ids out of range: not trusted
    assert spm_merges.merges(tokens, scores) == want
    path.write_bytes(b"not numpy")
    assert spm_merges.merges(tokens, scores) == want
