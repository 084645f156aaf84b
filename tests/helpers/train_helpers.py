"""Shared by the training tests: a small made-up corpus and tiny, fast training options."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SUBJECTS = ["the cat", "the dog", "a little girl", "tom", "the bird", "mom"]
VERBS = ["saw", "liked", "found", "wanted", "had"]
OBJECTS = ["a ball", "the red box", "a big tree", "some cake", "the park"]


def story_text(n_stories: int = 120, seed: int = 0) -> str:
    """Stories of simple sentences, separated by blank lines: a corpus a tiny model can learn."""
    rng = np.random.default_rng(seed)
    stories = []
    for _ in range(n_stories):
        sentences = []
        for _ in range(int(rng.integers(3, 7))):
            s, v, o = (words[int(rng.integers(len(words)))] for words in (SUBJECTS, VERBS, OBJECTS))
            sentences.append(f"{s} {v} {o}.")
        stories.append("once upon a time " + " ".join(sentences))
    return "\n\n".join(stories) + "\n"


def write_corpus(dir: Path, name: str = "corpus.txt", **kw) -> Path:
    path = dir / name
    path.write_text(story_text(**kw), encoding="utf-8")
    return path


# attn train flags for a model that trains in about a second.
TINY_FLAGS = ["--vocab-size", "300", "--layers", "2", "--heads", "2", "--d-model", "16", "--context", "16", "--batch", "8"]
TINY_OPTIONS = dict(vocab_size=300, n_layer=2, n_head=2, d_model=16, n_ctx=16, batch=8)
