"""The masked-LM trainer's encoder computes model.forward's function (post-norm blocks, embedding
norm, MLM head), and its hand-written backward pass agrees with central finite differences
(float64) and with torch autograd, for every parameter."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.config import param_shapes
from attncli.errors import TrainingError
from attncli.model import forward as model_forward
from attncli.train import mlm
from helpers.known_models import random_params
from helpers.references import need

TINY = mlm.encoder_config(vocab_size=19, n_layer=2, n_head=2, d_model=8, n_ctx=6)


def batch(config, B: int = 3, seed: int = 5, m: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids [B, T], m distinct flat positions, and a target id for each."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, config.vocab_size, size=(B, config.n_ctx))
    positions = np.sort(rng.choice(ids.size, size=m, replace=False))
    targets = rng.integers(0, config.vocab_size, size=m)
    return ids, positions, targets


def loss_of(params, config, ids, positions, targets) -> float:
    """Mean NLL of the targets at the positions, written out here with model.forward: one sequence at a time."""
    T = ids.shape[1]
    total = 0.0
    for p, tgt in zip(positions, targets):
        logits = model_forward(params, config, ids[p // T])["logits"][p % T].astype(np.float64)  # [V]
        m = logits.max()
        total -= logits[tgt] - m - np.log(np.exp(logits - m).sum())
    return total / positions.size


def test_the_config_is_an_encoder_with_an_mlm_head():
    assert TINY.is_encoder and TINY.block_norm == "post" and TINY.embed_norm and TINY.head == "mlm"
    assert TINY.format_version == 4 and mlm.supported(TINY)  # block_norm, format 4
    names = set(param_shapes(TINY))
    assert {"embed_ln.w", "mlm.W", "mlm.ln.b", "unembed.b"} <= names and "ln_final.w" not in names


def test_a_causal_config_is_refused():
    from attncli.config import ModelConfig

    with pytest.raises(TrainingError, match="BERT-style"):
        mlm.init_params(ModelConfig(vocab_size=19, n_layer=1, n_head=2, d_model=8, n_ctx=6), np.random.default_rng(0))


def test_training_forward_equals_model_forward():
    config = mlm.encoder_config(vocab_size=37, n_layer=2, n_head=4, d_model=16, n_ctx=12)
    params = random_params(config, seed=3)
    ids = np.random.default_rng(1).integers(0, 37, size=(4, 12))
    positions = np.arange(ids.size)  # every position
    logits, _ = mlm.forward(params, config, ids, positions)
    assert logits.shape == (48, 37) and logits.dtype == np.float32
    for b in range(4):
        np.testing.assert_allclose(logits[b * 12:(b + 1) * 12], model_forward(params, config, ids[b])["logits"],
                                   rtol=0, atol=2e-5)


def test_shorter_batches_use_the_first_positions():
    config = mlm.encoder_config(vocab_size=37, n_layer=1, n_head=2, d_model=8, n_ctx=12)
    params = random_params(config, seed=4)
    ids = np.random.default_rng(2).integers(0, 37, size=(2, 5))
    logits, _ = mlm.forward(params, config, ids, np.array([5, 7]))
    np.testing.assert_allclose(logits, model_forward(params, config, ids[1])["logits"][[0, 2]], atol=1e-5)


def test_cross_entropy_equals_the_loss_written_out():
    params = random_params(TINY, seed=1, dtype=np.float64)
    ids, positions, targets = batch(TINY)
    loss, _ = mlm.loss_and_grads(params, TINY, ids, positions, targets)
    assert loss == pytest.approx(loss_of(params, TINY, ids, positions, targets), rel=1e-12)
    total = mlm.nll_sum(params, TINY, ids, positions, targets)
    assert total == pytest.approx(loss * positions.size, rel=1e-12)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||) over the whole gradient of one parameter."""
    return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))


def numeric_gradient(params, config, data, name: str, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(params[name])
    flat, gflat = params[name].reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = loss_of(params, config, *data)
        flat[i] = old - h
        down = loss_of(params, config, *data)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("name", list(param_shapes(TINY)))
def test_gradient_matches_finite_differences(name):
    params = random_params(TINY, seed=2, dtype=np.float64)
    data = batch(TINY)
    _, grads = mlm.loss_and_grads(params, TINY, *data)
    assert grads[name].shape == params[name].shape and grads[name].dtype == np.float64
    numeric = numeric_gradient(params, TINY, data, name)
    if name.endswith("attn.b_K"):
        # Adding c to every key adds q.c to a whole row of scores, which softmax ignores:
        # the loss does not depend on b_K, so both gradients must be 0 (a ratio would be 0/0).
        assert np.abs(numeric).max() < 1e-9
        assert np.abs(grads[name]).max() < 1e-12
    else:
        assert np.linalg.norm(numeric) > 1e-6  # a real signal, not 0 vs 0
        assert relative_error(grads[name], numeric) <= 1e-5


def torch_mlm_logits(P, config, ids, positions):
    """The same encoder and head written in torch from the lesson's description (not from mlm.py)."""
    torch = need("torch")
    F = torch.nn.functional
    B, T = ids.shape
    d, H, eps = config.d_model, config.n_head, config.norm_eps

    def ln(x, prefix):
        return F.layer_norm(x, (d,), P[f"{prefix}.w"], P[f"{prefix}.b"], eps)

    def gelu(x):
        return F.gelu(x, approximate="tanh")

    x = ln(P["embed.W_E"][torch.tensor(ids)] + P["pos_embed.W_pos"][:T], "embed_ln")  # [B, T, d]
    for L in range(config.n_layer):
        a = f"blocks.{L}.attn"

        def heads(t):
            return t.reshape(B, T, H, d // H).transpose(1, 2)  # [B, H, T, dh]

        q, k, v = (heads(x @ P[f"{a}.W_{n}"] + P[f"{a}.b_{n}"]) for n in "QKV")
        z = torch.softmax(q @ k.transpose(-1, -2) / (d // H) ** 0.5, dim=-1) @ v  # [B, H, T, dh]
        x = ln(x + z.transpose(1, 2).reshape(B, T, d) @ P[f"{a}.W_O"] + P[f"{a}.b_O"], f"blocks.{L}.ln1")
        m = f"blocks.{L}.mlp"
        x = ln(x + gelu(x @ P[f"{m}.W_in"] + P[f"{m}.b_in"]) @ P[f"{m}.W_out"] + P[f"{m}.b_out"], f"blocks.{L}.ln2")
    h = x.reshape(B * T, d)[torch.tensor(positions)]  # [M, d]
    u = ln(gelu(h @ P["mlm.W"] + P["mlm.b"]), "mlm.ln")
    return u @ P["embed.W_E"].T + P["unembed.b"]  # [M, V]


def test_gradients_match_torch_autograd():
    torch = need("torch")
    config = mlm.encoder_config(vocab_size=23, n_layer=2, n_head=2, d_model=8, n_ctx=7)
    params = random_params(config, seed=9, dtype=np.float64)
    ids, positions, targets = batch(config, B=4, seed=11, m=9)
    loss, grads = mlm.loss_and_grads(params, config, ids, positions, targets)

    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    logits = torch_mlm_logits(P, config, ids, positions)
    ref = torch.nn.functional.cross_entropy(logits, torch.tensor(targets))
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-12)
    assert set(grads) == set(params)
    for name, g in grads.items():
        np.testing.assert_allclose(g, P[name].grad.numpy(), rtol=1e-6, atol=1e-10, err_msg=name)


# ---- masking -----------------------------------------------------------------------------------

def test_masking_chooses_fifteen_percent_of_ordinary_tokens_and_splits_80_10_10():
    rng = np.random.default_rng(0)
    V, n_special, mask_id = 500, 5, 4
    ids = rng.integers(n_special, V, size=(400, 64))
    ids[:, 0] = 2  # [CLS]
    ids[::3, 40] = 3  # a [SEP] in some rows
    m = mlm.mask_batch(ids, V, n_special, mask_id, np.random.default_rng(1))
    rows = m.positions // 64
    n_ordinary = (ids >= n_special).sum(axis=1)
    np.testing.assert_array_equal(np.bincount(rows, minlength=400), np.rint(0.15 * n_ordinary))
    assert (m.targets >= n_special).all() and np.array_equal(m.targets, ids.reshape(-1)[m.positions])
    after = m.ids.reshape(-1)[m.positions]
    masked, kept = (after == mask_id).mean(), (after == m.targets).mean()
    assert masked == pytest.approx(0.8, abs=0.02)
    assert kept == pytest.approx(0.1 + 0.1 / (V - n_special), abs=0.02)  # a random token is rarely the same
    assert (after >= n_special).sum() == pytest.approx(0.2 * after.size, rel=0.1) and (after != 0).all()
    untouched = np.ones(ids.size, dtype=bool)
    untouched[m.positions] = False
    np.testing.assert_array_equal(m.ids.reshape(-1)[untouched], ids.reshape(-1)[untouched])


def test_masking_is_seeded():
    ids = np.random.default_rng(0).integers(5, 50, size=(8, 20))
    a = mlm.mask_batch(ids, 50, 5, 4, np.random.default_rng(7))
    b = mlm.mask_batch(ids, 50, 5, 4, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
