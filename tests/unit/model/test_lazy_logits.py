"""The logits are computed when read: Model.predict reads one row of [T, vocab], not all T; the
whole array is still there under its name, and a hook on it still runs."""

from __future__ import annotations

import numpy as np

from attncli.checkpoints import load
from attncli.trace import expected_shapes
from helpers.tolerances import assert_within, logits_tolerance, unembedding


def test_a_row_is_the_row_of_the_whole_array() -> None:
    model = load(None)
    ids = [t.id for t in model.encode("I do not like spinach")[0]]
    trace = model.forward(ids)
    assert "logits" in set(trace) and len(trace) == len(list(trace))
    last = trace.row("logits", -1)  # computed alone, before the whole array exists
    assert "logits" not in trace._arrays
    whole = trace["logits"]
    assert whole.shape == expected_shapes(model.config, len(ids))["logits"]
    bound = logits_tolerance(model.config, trace["ln_final"][-1:], unembedding(model))[0]
    assert_within(last, whole[-1], bound, "logits")  # the same sums, maybe blocked otherwise: rounding alone
    np.testing.assert_array_equal(trace.row("logits", 2), whole[2])  # once whole, rows are read from it
    assert [p.id for p in model.predict(model.forward(ids), 5)] == [int(i) for i in np.argsort(-whole[-1], kind="stable")[:5]]


def test_a_hook_on_the_logits_runs() -> None:
    model = load(None)
    ids = [t.id for t in model.encode("once upon a")[0]]
    trace = model.forward(ids, hooks={"logits": lambda x: x * 0})
    assert not trace["logits"].any() and not trace.row("logits", -1).any()
