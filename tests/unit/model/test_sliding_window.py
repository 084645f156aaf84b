"""Sliding-window layers (Mistral, Gemma 3's local layers): each layer's mask in the trace, and
every reader of a layer (tables, --json, --steps, --summary) taking that layer's mask, not the
causal one. The masks are written out by hand here."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.analysis.steps import walkthrough
from attncli.analysis.summary import head_summary
from attncli.config import ModelConfig
from attncli.errors import ModelError
from attncli.model import forward
from attncli.views import head_view
from helpers.run_cli import HOWS, Call, attn_all, ok
from helpers.schema import validate

T = 7
WINDOW = 3
# query i sees keys i-2, i-1 and i: hidden are later keys and keys 3 or more back
CAUSAL = np.array([[k > q for k in range(T)] for q in range(T)])
WINDOWED = np.array([[k > q or k <= q - WINDOW for k in range(T)] for q in range(T)])
# a Gemma-3-like block: layers 0 and 2 slide (with their own rotary base), layer 1 is global
SLIDING = dict(n_layer=3, n_head=2, d_model=8, norm="rmsnorm", positions="rotary", mlp="swiglu", activation="gelu_tanh",
               attn_bias=False, mlp_bias=False, sliding_window=WINDOW, sliding_layers=(0, 2), rope_local_theta=100.0)


@pytest.fixture(scope="module")
def trace(make_params):
    config = ModelConfig(vocab_size=13, n_ctx=16, **SLIDING)
    return forward(make_params(config), config, [1, 5, 2, 7, 3, 9, 4])


def test_each_layer_records_its_own_mask(trace):
    np.testing.assert_array_equal(trace["mask"], CAUSAL)  # the causal mask: hidden in every layer
    np.testing.assert_array_equal(trace.mask, CAUSAL)
    for L, want in ((0, WINDOWED), (1, CAUSAL), (2, WINDOWED)):
        np.testing.assert_array_equal(trace[f"blocks.{L}.attn.mask"], want, err_msg=f"layer {L}")
        np.testing.assert_array_equal(trace.layer_mask(L), want, err_msg=f"layer {L}")


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_masked_cells_are_exactly_zero_and_rows_sum_to_one(trace, layer):
    hidden = trace.layer_mask(layer)
    weights, scores = trace[f"blocks.{layer}.attn.weights"], trace[f"blocks.{layer}.attn.scores"]  # [H, T, T]
    assert (weights[:, hidden] == 0).all() and np.isneginf(scores[:, hidden]).all()
    assert (weights[:, ~hidden] > 0).all() and np.isfinite(scores[:, ~hidden]).all()
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)


def test_a_window_of_one_attends_to_itself_only(make_params):
    config = ModelConfig(vocab_size=13, n_ctx=16, **{**SLIDING, "sliding_window": 1})
    t = forward(make_params(config), config, [1, 5, 2, 7])
    np.testing.assert_array_equal(t["blocks.0.attn.weights"], np.broadcast_to(np.eye(4), (2, 4, 4)))
    np.testing.assert_allclose(t["blocks.0.attn.z"], t["blocks.0.attn.v"].repeat(1, axis=0))  # each token its own value


def test_readers_take_the_layers_mask(trace):
    for layer, want in ((0, WINDOWED), (1, CAUSAL)):
        np.testing.assert_array_equal(head_view(trace, layer, 1).masked, want)
        np.testing.assert_array_equal(head_view(trace, layer, "mean").masked, want)
        np.testing.assert_array_equal(walkthrough(trace, layer, 0, T - 1).masked, want[T - 1])
    s = head_summary(trace, T - 1)
    np.testing.assert_array_equal(s.masked, np.stack([WINDOWED[T - 1], CAUSAL[T - 1], WINDOWED[T - 1]]))


@pytest.mark.parametrize("bad,says", [
    (dict(sliding_window=3, sliding_layers=()), "go together"),
    (dict(sliding_window=0, sliding_layers=(0,)), "go together"),
    (dict(sliding_layers=(2, 0)), "in order"),
    (dict(sliding_layers=(0, 3)), "from 0 to 2"),
    (dict(causal=False), "causal"),
    (dict(rope_local_theta=-1.0), "rope_local_theta"),
])
def test_inconsistent_sliding_configs_are_refused(bad, says):
    with pytest.raises(ModelError, match=says):
        ModelConfig(vocab_size=13, n_ctx=16, **{**SLIDING, **bad})


# ---- the CLI, on a sliding-window model saved in attncli's own format (version 2) ------------------

TEXT = "I do not like spinach"


@pytest.fixture(scope="module", params=HOWS)
def runs(request, make_model_dir):
    path = make_model_dir(seed=3, name="sliding", **{**SLIDING, "n_head": 2, "d_model": 16})
    m = ["-m", str(path)]
    return attn_all(request.param, {
        "json": Call(["explain", TEXT, *m, "--json"]),
        "table0": Call(["explain", TEXT, *m, "--layer", "0"]),
        "table1": Call(["explain", TEXT, *m, "--layer", "1"]),
        "steps": Call(["explain", TEXT, *m, "--steps", "--layer", "0", "--token", "-1"]),
        "summary": Call(["explain", TEXT, *m, "--summary", "--json"]),
        "heads": Call(["explain", TEXT, *m, "--head", "all", "--layer", "2", "--json"]),
    })


def test_json_nulls_are_each_layers_mask(runs):
    doc = ok(runs["json"]).json()
    validate(doc)
    n = len(doc["tokens"])
    assert n > WINDOW + 1
    causal = [[k > q for k in range(n)] for q in range(n)]
    windowed = [[k > q or k <= q - WINDOW for k in range(n)] for q in range(n)]
    for layer in doc["attention"]:
        want = windowed if layer["layer"] in (0, 2) else causal
        for head in layer["heads"]:
            for name in ("weights", "scores"):
                assert [[c is None for c in row] for row in head[name]] == want, (layer["layer"], name)
            for row in head["weights"]:
                assert sum(c for c in row if c is not None) == pytest.approx(1.0, abs=1e-6)


def test_summary_and_heads_documents_use_the_layers_mask(runs):
    summary = ok(runs["summary"]).json()
    validate(summary)
    q = summary["query"]["index"]
    for layer in summary["layers"]:
        hidden = [k > q or (layer["layer"] in (0, 2) and k <= q - WINDOW) for k in range(len(summary["tokens"]))]
        for head in layer["heads"]:
            assert [c is None for c in head["weights"]] == hidden
    heads = ok(runs["heads"]).json()
    validate(heads)
    assert heads["heads"][0]["weights"][-1][0] is None  # layer 2 slides: the last query cannot see the first key


def test_the_tables_say_why_a_cell_is_hidden(runs):
    words = {name: " ".join(ok(runs[name]).stdout.replace("│", " ").split()) for name in ("table0", "table1", "steps")}
    assert "beyond the sliding window" in words["table0"]
    assert "(future) token" in words["table1"] and "sliding window" not in words["table1"]
    assert "beyond the window: hidden" in words["steps"] and "sliding window" in words["steps"]
