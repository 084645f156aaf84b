"""Where attn heads' census runs (analysis/heads_run.py): --workers N is this process and N - 1 spawned
workers, which get batches once they say they are ready; the merged sums do not depend on who counted
which batch."""

from __future__ import annotations

import time

import numpy as np

from attncli.analysis import heads_run
from attncli.analysis.heads import Options
from helpers.census import TEXTS
from helpers.tolerances import gamma


def _same(a, b) -> None:
    """The two censuses' counts equal, and their sums within float32 rounding: each sum adds at most
    `positions` values that each process computed in float32 (the same code in the same order makes
    them equal bit for bit on one machine; the bound is what any machine must meet)."""
    assert (a.texts, a.tokens, a.positions, a.skipped, a.cut) == (b.texts, b.tokens, b.positions, b.skipped, b.cut)
    bound = gamma(a.positions + 2)  # a text's sum of its positions, then the sum of the texts

    def close(x, y) -> None:
        np.testing.assert_allclose(x, y, rtol=0, atol=bound * max(float(np.abs(x).max()), 1.0))

    close(a.sums, b.sums)
    close(a.boot_sums, b.boot_sums)
    close(a.boot_n, b.boot_n)
    np.testing.assert_array_equal(a.best_index, b.best_index)
    assert a.best_text == b.best_text and sorted(a.repeats) == sorted(b.repeats)
    for k in a.repeats:
        close(a.repeats[k], b.repeats[k])


def test_a_spawned_worker_counts_batches_and_the_sums_are_one_process_s(bundled_model, monkeypatch):
    options = Options(induction_samples=3)
    texts = [(i, t) for i, t in enumerate(TEXTS * 40)]
    alone = heads_run.run(bundled_model, None, None, options, iter(texts), workers=1)

    pools: list[heads_run._Workers] = []
    given: list[bool] = []

    class Watched(heads_run._Workers):  # the real pool, with who counted each batch written down
        def __init__(self, *args) -> None:
            super().__init__(*args)
            pools.append(self)

        def send(self, ticket, job) -> bool:
            sent = super().send(ticket, job)
            given.append(sent)
            return sent

    def corpus():
        for i, item in enumerate(texts):
            if i == 8 * heads_run.BATCH:  # hold the corpus until the worker's "ready" is in its pipe
                deadline = time.monotonic() + 120
                while not pools[0].pipes[0].poll(0.05):
                    assert time.monotonic() < deadline, "the spawned worker never became ready"
            yield item

    monkeypatch.setattr(heads_run, "_Workers", Watched)
    shared = heads_run.run(bundled_model, None, None, options, corpus(), workers=2)
    assert any(given), "the spawned worker was never given a batch"
    assert not all(given), "this process never counted a batch itself"
    _same(alone, shared)
    assert not any(p.is_alive() for p in pools[0].processes)  # ended with the run
