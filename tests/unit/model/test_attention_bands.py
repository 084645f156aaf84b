"""A long text's unseen layers run their attention a band of query rows at a time
(model.attention_in_bands): the same numbers as the whole matrix at once, for every kind of mask."""

from __future__ import annotations

import numpy as np
import pytest

from attncli import model as model_module
from attncli.config import ModelConfig
from attncli.model import attention_in_bands, forward
from helpers.known_models import CONFIGS, random_params
from helpers.tolerances import assert_within, attention_tolerance, logits_tolerance, weights_tolerance


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
    assert_within(z, naive_z(q, k, v, mask, 0.3), attention_tolerance(q, k, v, 0.3), "z")


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
    # Banding changes only the order of float32 sums, so the two passes differ by rounding alone:
    # the logits within the bound rounding allows for sums of their size and length (tolerances.py).
    unembed = params["embed.W_E"].T if cfg.tied_embeddings else params["unembed.W_U"]  # [d, V]
    final = whole["ln_final"] if "ln_final" in whole else whole[f"blocks.{kept}.resid_post"]  # [T, d]
    assert_within(banded["logits"], whole["logits"], logits_tolerance(cfg, final, unembed), "logits")
    # and the kept layer's weights, each within what rounding allows for its row of scores
    at = f"blocks.{kept}.attn."
    scale = cfg.query_pre_attn_scalar ** -0.5  # the scores are q.k / sqrt(this)
    bound = weights_tolerance(cfg, whole[at + "q"], whole[at + "k"], scale, whole[at + "weights"])
    assert_within(banded[at + "weights"], whole[at + "weights"], bound, "weights")
