"""AdamW, the warmup-then-cosine learning rate and gradient clipping, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attncli.train.optim import AdamW, clip_grads, decays, lr_at


def test_learning_rate_schedule():
    assert lr_at(50, 1.0, 100, 1100) == pytest.approx(0.5)
    assert lr_at(100, 1.0, 100, 1100) == pytest.approx(1.0)
    assert lr_at(600, 1.0, 100, 1100) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert lr_at(1100, 1.0, 100, 1100) == pytest.approx(0.1)


def test_clipping_scales_all_gradients_together():
    grads = {"a": np.array([3.0, 0.0], dtype=np.float32), "b": np.array([[4.0]], dtype=np.float32)}
    assert clip_grads(grads, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(grads["b"], [[0.8]], rtol=1e-5)
    small = {"a": np.array([0.3, 0.4])}
    clip_grads(small, 1.0)
    np.testing.assert_allclose(small["a"], [0.3, 0.4])


def test_weight_decay_only_on_block_matrices():
    assert decays("blocks.0.attn.W_Q") and decays("blocks.1.mlp.W_out")
    for name in ("embed.W_E", "pos_embed.W_pos", "blocks.0.ln1.w", "blocks.0.attn.b_Q", "ln_final.b"):
        assert not decays(name)


def test_first_adamw_step_by_hand():
    # After one step the bias-corrected m/sqrt(v) is g/|g| = sign(g) (up to eps).
    params = {"blocks.0.attn.W_Q": np.array([[1.0, -2.0]]), "blocks.0.ln1.w": np.array([1.0, 1.0])}
    grads = {"blocks.0.attn.W_Q": np.array([[0.5, -0.1]]), "blocks.0.ln1.w": np.array([-3.0, 2.0])}
    opt = AdamW(lr=0.1, weight_decay=0.5, eps=0.0)
    opt.update(params, grads, lr=0.1)
    np.testing.assert_allclose(params["blocks.0.attn.W_Q"], [[1.0 * 0.95 - 0.1, -2.0 * 0.95 + 0.1]])
    np.testing.assert_allclose(params["blocks.0.ln1.w"], [1.1, 0.9])
    # second step with the same gradient: m_hat = g, v_hat = g^2 again
    opt.update(params, grads, lr=0.1)
    np.testing.assert_allclose(params["blocks.0.ln1.w"], [1.2, 0.8])
    assert opt.step == 2 and math.isclose(opt.m["blocks.0.ln1.w"][0], -3.0 * (1 - 0.9**2))
