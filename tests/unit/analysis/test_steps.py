"""attn explain --steps: the walkthrough's numbers are the Trace's, and q·k/√d recomputed by hand matches."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from attncli.analysis.steps import resolve_token, walkthrough
from attncli.config import ModelConfig
from attncli.errors import UsageError
from attncli.model import forward
from helpers.run_cli import run
from helpers.schema import validate

TEXT = "I do not like spinach"


@pytest.fixture(scope="module")
def encoded(tiny_model):
    tokens, _ = tiny_model.encode(TEXT)
    return tokens, tiny_model.forward([t.id for t in tokens])


@pytest.mark.parametrize("layer,head,position", [(0, 0, -1), (1, 1, 2), (0, 1, 0)])
def test_numbers_are_the_traces_and_match_a_hand_computation(tiny_model, encoded, layer, head, position):
    tokens, trace = encoded
    i = position % len(tokens)
    w = walkthrough(trace, layer, head, i)
    q = trace[f"blocks.{layer}.attn.q"][head, i]
    k = trace[f"blocks.{layer}.attn.k"][head]
    v = trace[f"blocks.{layer}.attn.v"][head]
    np.testing.assert_array_equal(w.q, q)
    np.testing.assert_array_equal(w.k, k)
    np.testing.assert_array_equal(w.scores, trace[f"blocks.{layer}.attn.scores"][head, i])
    np.testing.assert_array_equal(w.weights, trace[f"blocks.{layer}.attn.weights"][head, i])
    np.testing.assert_array_equal(w.z, trace[f"blocks.{layer}.attn.z"][head, i])
    np.testing.assert_array_equal(w.embed, trace["embed"][i])
    np.testing.assert_array_equal(w.pos_embed, trace["pos_embed"][i])

    d_head = q.shape[0]
    by_hand = []
    for j in range(len(tokens)):
        dot = sum(float(a) * float(b) for a, b in zip(q, k[j]))
        if j > i:  # causal: later keys are hidden
            assert math.isnan(w.dots[j]) and w.scores[j] == -np.inf and w.masked[j]
            continue
        assert w.dots[j] == pytest.approx(dot, rel=1e-5, abs=1e-6)
        assert float(w.scores[j]) == pytest.approx(dot / math.sqrt(d_head), rel=1e-5, abs=1e-6)
        by_hand.append(dot / math.sqrt(d_head))
    exps = [math.exp(s - max(by_hand)) for s in by_hand]
    hand_w = [e / sum(exps) for e in exps]
    assert [float(x) for x in w.weights[: i + 1]] == pytest.approx(hand_w, rel=1e-5)
    assert w.entropy_bits == pytest.approx(-sum(p * math.log2(p) for p in hand_w), rel=1e-5)
    hand_z = [sum(hand_w[j] * float(v[j, c]) for j in range(i + 1)) for c in range(d_head)]
    assert [float(x) for x in w.z] == pytest.approx(hand_z, rel=1e-4, abs=1e-6)


def test_temperature_is_a_what_if_that_sharpens_or_flattens(encoded):
    tokens, trace = encoded
    i = len(tokens) - 1
    base = walkthrough(trace, 0, 0, i)
    assert base.what_if is None
    scores = [float(s) for s in trace["blocks.0.attn.scores"][0, i]]
    for T in (0.25, 4.0):
        w = walkthrough(trace, 0, 0, i, temperature=T)
        exps = [math.exp((s - max(scores)) / T) for s in scores]
        assert [float(x) for x in w.what_if.weights] == pytest.approx([e / sum(exps) for e in exps], rel=1e-6)
        np.testing.assert_array_equal(w.weights, base.weights)  # the model's own numbers do not move
        if T < 1:
            assert w.what_if.entropy_bits < base.entropy_bits
        else:
            assert w.what_if.entropy_bits > base.entropy_bits
    tiny = walkthrough(trace, 0, 0, i, temperature=1e-310)  # dividing by it overflows: all on the top key
    assert [float(x) for x in tiny.what_if.weights] == [1.0 if j == int(np.argmax(scores)) else 0.0 for j in range(len(scores))]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError):
            walkthrough(trace, 0, 0, i, temperature=bad)


def test_grouped_query_heads_read_their_shared_key_value_head(make_params):
    config = ModelConfig(vocab_size=50, n_layer=1, n_head=4, n_kv_head=2, d_model=16, n_ctx=8, norm="rmsnorm",
                         positions="rotary", attn_bias=False, mlp="swiglu", activation="silu")
    trace = forward(make_params(config, seed=3), config, [1, 2, 3, 4])
    w = walkthrough(trace, 0, 3, 3)
    assert w.kv_head == 1 and w.pos_embed is None
    np.testing.assert_array_equal(w.k, trace["blocks.0.attn.k"][1])
    q, k = trace["blocks.0.attn.q"][3, 3], trace["blocks.0.attn.k"][1]
    np.testing.assert_allclose(w.scores, (k @ q) / math.sqrt(4), rtol=1e-5)


def test_resolve_token(tiny_model):
    tokens, _ = tiny_model.encode(TEXT)
    texts = [t.text.strip() for t in tokens]
    assert resolve_token(None, tokens) == len(tokens) - 1
    assert resolve_token("like", tokens) == texts.index("like")
    assert resolve_token("LIKE", tokens) == texts.index("like")
    assert resolve_token("0", tokens) == 0 and resolve_token("-1", tokens) == len(tokens) - 1
    for bad in ("spinach-ish", "99", "-99"):
        with pytest.raises(UsageError):
            resolve_token(bad, tokens)


def test_cli_steps_shows_the_traces_scores(tiny_model, tiny_model_dir, encoded):
    tokens, trace = encoded
    i = [t.text.strip() for t in tokens].index("like")
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--steps", "--token", "like", "--layer", "1", "--head", "1")
    assert code == 0 and err == ""
    for title in ("1 · Embedding and position", "2 · Query, keys and values", "3 · Scores", "4 · Softmax into weights",
                  "5 · Weighted sum of values", "Then: the next-token prediction"):
        assert title in out
    for j in range(i + 1):
        assert f"{float(trace['blocks.1.attn.scores'][1, i, j]):+.3f}" in out


def test_cli_steps_json_matches_trace_and_schema(tiny_model_dir, encoded):
    tokens, trace = encoded
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--steps", "--head", "1", "--temperature", "0.5", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    validate(doc)
    i = len(tokens) - 1
    assert doc["query"]["index"] == i
    s = doc["steps"]
    np.testing.assert_allclose(s["softmax"]["blocks.0.attn.weights"], trace["blocks.0.attn.weights"][1, i], rtol=1e-6)
    np.testing.assert_allclose(s["qkv"]["blocks.0.attn.k"], trace["blocks.0.attn.k"][1], rtol=1e-6)
    assert doc["what_if"]["temperature"] == 0.5 and "what-if" in doc["what_if"]["note"]
    assert sum(doc["what_if"]["weights"]) == pytest.approx(1.0)


@pytest.mark.parametrize("args,needle", [
    (["--steps", "--token", "broccoli"], "--token"),
    (["--steps", "--temperature", "0"], "--temperature"),
    (["--steps", "--temperature", "-2"], "--temperature"),
    (["--steps", "--head", "mean"], "--head"),
    (["--token", "like", "--rollout"], "--steps"),
    (["--steps", "--rollout"], "cannot be combined"),
])
def test_cli_steps_bad_input_is_one_stderr_line(tiny_model_dir, args, needle):
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_steps_on_a_model_that_suggests_the_mean_uses_one_head(make_model_dir):
    path = make_model_dir(seed=5, card={"description": "test", "default_view": {"layer": 1, "head": "mean"}})
    code, out, err = run("explain", TEXT, "-m", str(path), "--steps", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["view"] == {"layer": 1, "head": 0, "kv_head": 0}
