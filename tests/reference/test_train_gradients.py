"""The training forward computes model.forward's function, and its hand-written backward pass
agrees with central finite differences (float64) and with torch autograd, for every parameter."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.config import ModelConfig, param_shapes
from attncli.model import forward as model_forward
from attncli.train import gpt
from helpers.known_models import random_params
from helpers.references import need, torch_gpt2_logits

TINY = ModelConfig(vocab_size=19, n_layer=2, n_head=2, d_model=8, n_ctx=6)


def batch(config: ModelConfig, B: int = 3, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, config.vocab_size, size=(B, config.n_ctx))
    targets = rng.integers(0, config.vocab_size, size=(B, config.n_ctx))
    return ids, targets


def loss_of(params, config, ids, targets) -> float:
    """Mean next-token NLL, written out here with model.forward: one sequence at a time."""
    total = 0.0
    for b in range(ids.shape[0]):
        logits = model_forward(params, config, ids[b])["logits"].astype(np.float64)  # [T, V]
        m = logits.max(axis=-1, keepdims=True)
        logp = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
        total -= logp[np.arange(ids.shape[1]), targets[b]].sum()
    return total / ids.size


def test_training_forward_equals_model_forward():
    config = ModelConfig(vocab_size=37, n_layer=2, n_head=4, d_model=16, n_ctx=12)
    params = random_params(config, seed=3)
    ids, _ = batch(config, B=4)
    logits, _ = gpt.forward(params, config, ids)
    assert logits.shape == (4, 12, 37)
    for b in range(4):
        np.testing.assert_allclose(logits[b], model_forward(params, config, ids[b])["logits"], rtol=0, atol=1e-5)


def test_shorter_batches_use_the_first_positions():
    config = ModelConfig(vocab_size=37, n_layer=1, n_head=2, d_model=8, n_ctx=12)
    params = random_params(config, seed=4)
    ids, _ = batch(config, B=2)
    logits, _ = gpt.forward(params, config, ids[:, :5])
    np.testing.assert_allclose(logits[1], model_forward(params, config, ids[1, :5])["logits"], atol=1e-5)


def test_cross_entropy_equals_the_loss_written_out():
    params = random_params(TINY, seed=1, dtype=np.float64)
    ids, targets = batch(TINY)
    loss, _ = gpt.loss_and_grads(params, TINY, ids, targets)
    assert loss == pytest.approx(loss_of(params, TINY, ids, targets), rel=1e-12)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||) over the whole gradient of one parameter."""
    return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))


def numeric_gradient(params, config, ids, targets, name: str, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(params[name])
    flat, gflat = params[name].reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = loss_of(params, config, ids, targets)
        flat[i] = old - h
        down = loss_of(params, config, ids, targets)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("name", list(param_shapes(TINY)))
def test_gradient_matches_finite_differences(name):
    params = random_params(TINY, seed=2, dtype=np.float64)
    ids, targets = batch(TINY)
    _, grads = gpt.loss_and_grads(params, TINY, ids, targets)
    assert grads[name].shape == params[name].shape and grads[name].dtype == np.float64
    numeric = numeric_gradient(params, TINY, ids, targets, name)
    if name.endswith("attn.b_K"):
        # Adding c to every key adds q.c to a whole row of scores, which softmax ignores:
        # the loss does not depend on b_K, so both gradients must be 0 (a ratio would be 0/0).
        assert np.abs(numeric).max() < 1e-9
        assert np.abs(grads[name]).max() < 1e-12
    else:
        assert np.linalg.norm(numeric) > 1e-6  # a real signal, not 0 vs 0
        assert relative_error(grads[name], numeric) <= 1e-5


def test_gradients_match_torch_autograd():
    torch = need("torch")
    F = torch.nn.functional
    config = ModelConfig(vocab_size=23, n_layer=2, n_head=2, d_model=8, n_ctx=7)
    params = random_params(config, seed=9, dtype=np.float64)
    ids, targets = batch(config, B=4, seed=11)
    _, grads = gpt.loss_and_grads(params, config, ids, targets)

    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    B, T = ids.shape
    logits = torch_gpt2_logits(P, config, ids)
    F.cross_entropy(logits.reshape(B * T, -1), torch.tensor(targets).reshape(-1)).backward()
    for name, g in grads.items():
        np.testing.assert_allclose(g, P[name].grad.numpy(), rtol=1e-6, atol=1e-10, err_msg=name)
