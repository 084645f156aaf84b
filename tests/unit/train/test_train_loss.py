"""A short training run on a small made-up text lowers the loss, on the training and held-out text."""

from __future__ import annotations

import math

from attncli.train.trainer import TrainOptions, train
from helpers.train_helpers import TINY_OPTIONS, write_corpus


def test_short_run_lowers_the_loss(tmp_path):
    corpus = write_corpus(tmp_path, seed=0)
    valid = write_corpus(tmp_path, "valid.txt", n_stories=20, seed=1)
    seen = []
    result = train(TrainOptions(corpus=corpus, out=tmp_path / "m", valid=valid, steps=150, lr=1e-2, seed=0, **TINY_OPTIONS),
                   lambda p: seen.append(p) if p.phase == "train" else None)
    losses = [p.loss for p in seen]
    assert [p.step for p in seen] == list(range(1, 151))
    # A uniform guess over ~300 tokens costs ln(300) = 5.7 nats; the grammar is far more predictable.
    assert losses[0] > 5.0
    assert sum(losses[-10:]) / 10 < 2.0
    assert result.valid is not None and result.valid.loss_token < 2.0
    assert result.valid.ppl_token == math.exp(result.valid.loss_token)
    valid_losses = [p.valid_loss for p in seen if p.valid_loss is not None]
    assert valid_losses[-1] < valid_losses[0]
