"""A long text's unseen layers run their attention a band of query rows at a time
(model.attention_in_bands): the same numbers as the whole matrix at once, for every kind of mask."""

from __future__ import annotations

import numpy as np
import pytest

from attncli import model as model_module
from attncli.config import ModelConfig
from attncli.model import attention_in_bands, forward
from known_models import random_params
from test_generate import CONFIGS


def naive_z(q, k, v, mask, scale):
    """Each head, each query row: softmax of its scores over the keys it may see, then the weighted sum."""
    H, T, dh = q.shape
    group = H // k.shape[0]
    z = np.zeros((H, T, v.shape[-1]))
    for h in range(H):
        kh, vh = k[h // group].astype(np.float64), v[h // group].astype(np.float64)
        for t in range(T):
            s = kh @ q[h, t].astype(np.float64) * scale
            if mask is not None:
                s = np.where(mask[t], -np.inf, s)
            w = np.exp(s - s.max())
            z[h, t] = (w / w.sum()) @ vh
    return z


@pytest.mark.parametrize("H, Hkv, T", [(4, 4, 37), (6, 2, 50), (3, 1, 1)])
@pytest.mark.parametrize("masked", [True, False])
def test_bands_equal_a_naive_loop(H, Hkv, T, masked, monkeypatch):
    monkeypatch.setattr(model_module, "ATTN_CHUNK_CELLS", 3 * T)  # bands of a few rows, one ragged
    rng = np.random.default_rng(T + H)
    q = rng.standard_normal((H, T, 8)).astype(np.float32)
    k = rng.standard_normal((Hkv, T, 8)).astype(np.float32)
    v = rng.standard_normal((Hkv, T, 8)).astype(np.float32)
    mask = np.triu(np.ones((T, T), dtype=bool), 1) if masked else None
    z = attention_in_bands(q, k, v, mask, 0.3)
    np.testing.assert_allclose(z, naive_z(q, k, v, mask, 0.3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_forward_with_banded_layers_equals_one_that_keeps_them_all(name, monkeypatch):
    cfg = ModelConfig(vocab_size=30, **CONFIGS[name])
    params = random_params(cfg, seed=11)
    ids = np.random.default_rng(5).integers(0, 30, 33)
    whole = forward(params, cfg, ids)  # every layer kept: the whole matrices
    monkeypatch.setattr(model_module, "ATTN_CHUNK_CELLS", 40)  # every other layer in bands of a few rows
    kept = cfg.n_layer - 1
    banded = forward(params, cfg, ids, layers=[kept])
    assert "blocks.0.attn.weights" not in banded
    for name_ in (f"blocks.{kept}.attn.weights", f"blocks.{kept}.resid_post", "logits"):
        np.testing.assert_allclose(banded[name_], whole[name_], atol=1e-5, rtol=1e-5)  # float32 rounding, not more
