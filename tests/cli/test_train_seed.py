"""The same --seed on the same machine gives the same weights; another seed gives others."""

from __future__ import annotations

import numpy as np
from safetensors.numpy import load_file

from attncli.train.trainer import TrainOptions, train
from helpers.train_helpers import TINY_OPTIONS, write_corpus


def run(tmp_path, corpus, name: str, seed: int) -> dict[str, np.ndarray]:
    train(TrainOptions(corpus=corpus, out=tmp_path / name, steps=20, seed=seed, **TINY_OPTIONS))
    return load_file(str(tmp_path / name / "model.safetensors"))


def test_same_seed_same_weights(tmp_path):
    corpus = write_corpus(tmp_path)
    a, b, c = run(tmp_path, corpus, "a", 7), run(tmp_path, corpus, "b", 7), run(tmp_path, corpus, "c", 8)
    assert a.keys() == b.keys() == c.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    assert any(not np.array_equal(a[n], c[n]) for n in a)
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()
