"""attn explain --rollout: equal to a direct implementation of Abnar and Zuidema (2020)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attncli.analysis.rollout import rollout
from attncli.config import ModelConfig
from attncli.errors import UsageError
from attncli.model import forward
from helpers.run_cli import run
from helpers.schema import validate


def direct_rollout(weights_per_layer: list[np.ndarray]) -> np.ndarray:
    """Loops, as the paper writes it: Ã = 0.5·mean_heads(A) + 0.5·I, rollout_l = Ã_l · rollout_(l-1)."""
    T = weights_per_layer[0].shape[-1]
    r = [[1.0 if i == j else 0.0 for j in range(T)] for i in range(T)]
    for w in weights_per_layer:
        H = w.shape[0]
        a = [[0.5 * sum(float(w[h, i, j]) for h in range(H)) / H + (0.5 if i == j else 0.0) for j in range(T)] for i in range(T)]
        r = [[sum(a[i][m] * r[m][j] for m in range(T)) for j in range(T)] for i in range(T)]
    return np.array(r)


@pytest.mark.parametrize("causal,seed", [(True, 0), (False, 1), (True, 2)])
def test_equals_a_direct_implementation(make_params, causal, seed):
    config = ModelConfig(vocab_size=40, n_layer=3, n_head=3, d_model=12, n_ctx=10, causal=causal)
    ids = np.random.default_rng(seed).integers(0, 40, size=7)
    trace = forward(make_params(config, seed=seed, scale=1.0), config, ids)
    r = rollout(trace)
    expected = direct_rollout([trace[f"blocks.{L}.attn.weights"] for L in range(3)])
    np.testing.assert_allclose(r, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=1e-9)
    if causal:
        assert np.all(np.triu(r, 1) == 0)


def test_needs_every_layer(make_params):
    config = ModelConfig(vocab_size=40, n_layer=2, n_head=2, d_model=8, n_ctx=10)
    trace = forward(make_params(config), config, [1, 2, 3], layers=[1])
    with pytest.raises(UsageError):
        rollout(trace)


def test_cli_rollout(tiny_model_dir, tiny_model):
    text = "I do not like spinach"
    code, out, err = run("explain", text, "-m", str(tiny_model_dir), "--rollout", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    validate(doc)
    assert "Abnar and Zuidema" in doc["method"]
    trace = tiny_model.forward([t.id for t in tiny_model.encode(text)[0]])
    expected = direct_rollout([trace[f"blocks.{L}.attn.weights"] for L in range(2)])
    got = np.array([[0.0 if x is None else x for x in row] for row in doc["rollout"]])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    assert all(x is None for i, row in enumerate(doc["rollout"]) for x in row[i + 1:])
    code, out, err = run("explain", text, "-m", str(tiny_model_dir), "--rollout")
    assert code == 0 and "Attention rollout" in out and "Abnar and Zuidema, 2020" in out
