"""Attention math: a hand-computed case, a naive loop reference, properties, and torch.

The references (the naive attention here, references.naive_forward for the whole forward
pass) are written from the definitions (pure Python loops and `math`), never from
attncli's own functions, so a shared mistake cannot make them agree.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attncli.config import ModelConfig
from attncli.model import attention, causal_mask, forward, top_k
from attncli.numerics import softmax
from attncli.trace import block_output
from helpers.references import naive_forward, need

NEG_INF = float("-inf")
E = math.e


# --- a 3-token, 1-head case worked out by hand --------------------------------------------
# d_head = 4, so the scale is 1/sqrt(4) = 1/2 and every score below is a small integer.
Q = [[2, 0, 0, 0], [0, 2, 0, 0], [2, 2, 0, 0]]
K = [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]]
V = [[1, 2, 0, 0], [3, -1, 0, 0], [0, 0, 4, 1]]
# q.k:  row 0: 2 0 2   row 1: 0 2 2   row 2: 2 2 4   -> halved: the scores.


def _hand(causal: bool):
    q, k, v = (np.array([m], dtype=np.float64) for m in (Q, K, V))  # [1, 3, 4]
    return attention(q, k, v, causal_mask(3) if causal else None)


def test_hand_case_causal():
    scores, weights, z = _hand(causal=True)
    exp_scores = [[1, NEG_INF, NEG_INF], [0, 1, NEG_INF], [1, 1, 2]]
    # row 1: softmax(0, 1) = (1, e)/(1+e); row 2: softmax(1, 1, 2) = (e, e, e^2)/(2e+e^2) = (1, 1, e)/(2+e)
    exp_weights = [[1, 0, 0], [1 / (1 + E), E / (1 + E), 0], [1 / (2 + E), 1 / (2 + E), E / (2 + E)]]
    # z = sum_j w_j v_j
    exp_z = [
        [1, 2, 0, 0],
        [(1 + 3 * E) / (1 + E), (2 - E) / (1 + E), 0, 0],
        [4 / (2 + E), 1 / (2 + E), 4 * E / (2 + E), E / (2 + E)],
    ]
    np.testing.assert_allclose(scores[0], exp_scores, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weights[0], exp_weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(z[0], exp_z, rtol=0, atol=1e-12)
    assert weights[0, 0, 1] == 0.0 and weights[0, 0, 2] == 0.0 and weights[0, 1, 2] == 0.0


def test_hand_case_bidirectional():
    scores, weights, z = _hand(causal=False)
    exp_scores = [[1, 0, 1], [0, 1, 1], [1, 1, 2]]
    exp_weights = [
        [E / (2 * E + 1), 1 / (2 * E + 1), E / (2 * E + 1)],
        [1 / (1 + 2 * E), E / (1 + 2 * E), E / (1 + 2 * E)],
        [1 / (2 + E), 1 / (2 + E), E / (2 + E)],
    ]
    exp_z = [
        [(E + 3) / (2 * E + 1), (2 * E - 1) / (2 * E + 1), 4 * E / (2 * E + 1), E / (2 * E + 1)],
        [(1 + 3 * E) / (1 + 2 * E), (2 - E) / (1 + 2 * E), 4 * E / (1 + 2 * E), E / (1 + 2 * E)],
        [4 / (2 + E), 1 / (2 + E), 4 * E / (2 + E), E / (2 + E)],
    ]
    np.testing.assert_allclose(scores[0], exp_scores, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weights[0], exp_weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(z[0], exp_z, rtol=0, atol=1e-12)


def test_hand_case_float32_keeps_dtype():
    q, k, v = (np.array([m], dtype=np.float32) for m in (Q, K, V))
    scores, weights, z = attention(q, k, v, causal_mask(3))
    assert scores.dtype == weights.dtype == z.dtype == np.float32
    np.testing.assert_allclose(weights[0, 2], [1 / (2 + E), 1 / (2 + E), E / (2 + E)], rtol=1e-6)


def test_causal_mask_hides_the_future():
    assert causal_mask(3).tolist() == [[False, True, True], [False, False, True], [False, False, False]]


# --- an independent naive reference ------------------------------------------------------

def naive_attention(q, k, v, mask):
    """Loops over heads, queries and keys; query head h reads kv head h // (H / Hkv)."""
    q, k, v = q.tolist(), k.tolist(), v.tolist()
    H, T, dh = len(q), len(q[0]), len(q[0][0])
    group = H // len(k)
    scores = [[[0.0] * T for _ in range(T)] for _ in range(H)]
    weights = [[[0.0] * T for _ in range(T)] for _ in range(H)]
    z = [[[0.0] * dh for _ in range(T)] for _ in range(H)]
    for h in range(H):
        g = h // group
        for i in range(T):
            for j in range(T):
                if mask is not None and mask[i][j]:
                    scores[h][i][j] = NEG_INF
                else:
                    scores[h][i][j] = sum(q[h][i][c] * k[g][j][c] for c in range(dh)) / math.sqrt(dh)
            top = max(s for s in scores[h][i] if s != NEG_INF)
            exps = [0.0 if s == NEG_INF else math.exp(s - top) for s in scores[h][i]]
            total = sum(exps)
            for j in range(T):
                weights[h][i][j] = exps[j] / total
            for c in range(dh):
                z[h][i][c] = sum(weights[h][i][j] * v[g][j][c] for j in range(T))
    return np.array(scores), np.array(weights), np.array(z)


def random_mask(rng, T):
    """A random mask that always leaves a query its own key (so no row is all hidden)."""
    m = rng.random((T, T)) < 0.4
    np.fill_diagonal(m, False)
    return m


@settings(max_examples=60, deadline=None)
@given(
    n_kv=st.integers(1, 3),
    group=st.integers(1, 3),
    dh=st.integers(1, 8),
    T=st.integers(1, 7),
    mask_kind=st.sampled_from(["causal", "none", "random"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_attention_matches_naive_loops(n_kv, group, dh, T, mask_kind, seed):
    rng = np.random.default_rng(seed)
    H = n_kv * group
    q = rng.standard_normal((H, T, dh))  # [H, T, dh]
    k = rng.standard_normal((n_kv, T, dh))  # [Hkv, T, dh]
    v = rng.standard_normal((n_kv, T, dh))  # [Hkv, T, dh]
    mask = {"causal": causal_mask(T), "none": None, "random": random_mask(rng, T)}[mask_kind]
    scores, weights, z = attention(q, k, v, mask)
    rs, rw, rz = naive_attention(q, k, v, mask)
    assert scores.shape == weights.shape == (H, T, T) and z.shape == (H, T, dh)
    np.testing.assert_allclose(scores, rs, rtol=1e-6, atol=1e-6)  # -inf must match -inf
    np.testing.assert_allclose(weights, rw, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(z, rz, rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(n_kv=st.integers(1, 2), group=st.integers(1, 3), dh=st.integers(1, 8), T=st.integers(1, 7),
       seed=st.integers(0, 2**32 - 1))
def test_attention_float32_matches_naive_loops(n_kv, group, dh, T, seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_kv * group, T, dh)).astype(np.float32)
    k = rng.standard_normal((n_kv, T, dh)).astype(np.float32)
    v = rng.standard_normal((n_kv, T, dh)).astype(np.float32)
    _, weights, z = attention(q, k, v, causal_mask(T))
    _, rw, rz = naive_attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), causal_mask(T))
    assert weights.dtype == z.dtype == np.float32
    np.testing.assert_allclose(weights, rw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z, rz, rtol=1e-5, atol=1e-5)


# --- the forward pass against the naive reference -----------------------------------------

configs = st.fixed_dictionaries({
    "n_kv_head": st.integers(1, 2),
    "group": st.integers(1, 3),
    "d_head": st.sampled_from([2, 4, 6]),
    "d_model": st.sampled_from([8, 12]),
    "n_layer": st.integers(1, 2),
    "norm": st.sampled_from(["layernorm", "rmsnorm"]),
    "positions": st.sampled_from(["learned", "rotary", "none"]),
    "mlp": st.sampled_from(["gelu", "swiglu"]),
    "activation": st.sampled_from(["gelu_tanh", "gelu", "silu"]),
    "attn_bias": st.booleans(),
    "mlp_bias": st.booleans(),
    "tied_embeddings": st.booleans(),
    "causal": st.booleans(),
})


def _make_config(c) -> ModelConfig:
    c = dict(c)
    group = c.pop("group")
    return ModelConfig(vocab_size=11, n_ctx=8, n_head=c["n_kv_head"] * group, d_mlp=16, **c)


def _forward_and_reference(make_params, c, T: int, seed: int, dtype):
    """forward() on random weights of `dtype`, and the naive reference on the same weights in float64.

    The reference's logits, and per layer its weights and z; the trace holds 0 where a key is
    masked and the reference NaN, so the reference's masked weights are read as 0.
    """
    cfg = _make_config(c)
    P = make_params(cfg, seed=seed % 1000, dtype=dtype)
    ids = np.random.default_rng(seed).integers(0, cfg.vocab_size, size=T)
    ref = naive_forward(cfg.to_dict(), {n: a.astype(np.float64) for n, a in P.items()}, ids.tolist())
    per_layer = [(np.nan_to_num(w, nan=0.0), z) for w, z in zip(ref.weights, ref.z)]
    return forward(P, cfg, ids), ref.logits, per_layer


@settings(max_examples=40, deadline=None)
@given(c=configs, T=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_forward_matches_naive_reference(make_params, c, T, seed):
    trace, logits, per_layer = _forward_and_reference(make_params, c, T, seed, np.float64)
    np.testing.assert_allclose(trace["logits"], logits, rtol=1e-6, atol=1e-6)
    for L, (w, z) in enumerate(per_layer):
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.weights"], w, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.z"], z, rtol=1e-6, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(c=configs, T=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_forward_float32_close_to_float64_reference(make_params, c, T, seed):
    """What the loader hands forward (float32 weights) stays within float32 rounding of exact."""
    trace, logits, per_layer = _forward_and_reference(make_params, c, T, seed, np.float32)
    assert trace["logits"].dtype == np.float32
    np.testing.assert_allclose(trace["logits"], logits, rtol=1e-4, atol=1e-4)
    for L, (w, _) in enumerate(per_layer):
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.weights"], w, rtol=1e-5, atol=1e-5)


@st.composite
def variant_configs(draw) -> ModelConfig:
    """Llama-family blocks with any mix of the variants of Mistral, Qwen2/3, Gemma 3 and Phi-3."""
    n_kv, group, dh = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.sampled_from([4, 6, 8]))
    n_layer = draw(st.integers(1, 3))
    rope_dims = draw(st.sampled_from([r for r in (2, 4, 6, 8) if r <= dh]))
    window = draw(st.integers(0, 4))
    layers = tuple(L for L in range(n_layer) if draw(st.booleans())) if window else ()
    attn_bias = draw(st.booleans())
    return ModelConfig(
        vocab_size=11, n_ctx=8, n_layer=n_layer, n_head=n_kv * group, n_kv_head=n_kv, d_head=dh, d_model=8, d_mlp=12,
        norm="rmsnorm", positions="rotary", mlp="swiglu", activation=draw(st.sampled_from(["silu", "gelu_tanh"])),
        attn_bias=attn_bias, attn_out_bias=draw(st.booleans()), mlp_bias=False, tied_embeddings=draw(st.booleans()),
        qk_norm=draw(st.booleans()), norm_plus_one=draw(st.booleans()), sandwich_norms=draw(st.booleans()),
        scale_embed=draw(st.booleans()), query_pre_attn_scalar=draw(st.sampled_from([0.0, 3.0, 20.0])),
        rope_dims=rope_dims, rope_theta=draw(st.sampled_from([100.0, 10000.0])),
        rope_freq_factors=tuple(draw(st.lists(st.floats(0.5, 8.0), min_size=rope_dims // 2, max_size=rope_dims // 2)))
        if draw(st.booleans()) else (),
        sliding_window=window if layers else 0, sliding_layers=layers,
        rope_local_theta=draw(st.sampled_from([0.0, 50.0])) if layers else 0.0)


@settings(max_examples=40, deadline=None)
@given(cfg=variant_configs(), T=st.integers(1, 7), seed=st.integers(0, 2**32 - 1))
def test_every_family_variant_matches_the_naive_reference(make_params, cfg, T, seed):
    """Sliding windows, Q/K norms, (1 + w) and sandwich norms, scaled embeddings, the attention scale,
    partial and scaled rotary: the trace against the naive pass's reading of the same config."""
    P = make_params(cfg, seed=seed % 1000, dtype=np.float64)
    ids = np.random.default_rng(seed).integers(0, cfg.vocab_size, size=T)
    ref = naive_forward(cfg.to_dict(), P, ids.tolist())
    trace = forward(P, cfg, ids)
    np.testing.assert_allclose(trace["logits"], ref.logits, rtol=1e-6, atol=1e-6)
    for L in range(cfg.n_layer):
        hidden = np.isnan(ref.weights[L][0])  # [T, T]: what the reference never looked at
        np.testing.assert_array_equal(trace.layer_mask(L), hidden, err_msg=f"layer {L} mask")
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.weights"], np.nan_to_num(ref.weights[L]), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.z"], ref.z[L], rtol=1e-6, atol=1e-6)


@st.composite
def encoder_configs(draw) -> ModelConfig:
    """BERT-style encoders: post-norm blocks, embedding LayerNorm, token types, RoBERTa's position
    offset, erf GELU, and each of the three heads (masked-LM transform, plain unembedding, none)."""
    return ModelConfig(
        vocab_size=11, n_ctx=8, n_layer=draw(st.integers(1, 3)), n_head=draw(st.sampled_from([1, 2])), d_model=8,
        d_mlp=12, causal=False, activation=draw(st.sampled_from(["gelu", "gelu_tanh"])),
        block_norm=draw(st.sampled_from(["pre", "post"])), embed_norm=draw(st.booleans()), type_vocab_size=draw(st.sampled_from([0, 1, 2])),
        position_offset=draw(st.sampled_from([0, 2])), head=draw(st.sampled_from(["mlm", "lm", "none"])),
        tied_embeddings=draw(st.booleans()), attn_bias=draw(st.booleans()), mlp_bias=draw(st.booleans()))


@settings(max_examples=40, deadline=None)
@given(cfg=encoder_configs(), T=st.integers(1, 7), seed=st.integers(0, 2**32 - 1))
def test_every_encoder_variant_matches_the_naive_reference(make_params, cfg, T, seed):
    """Post-norm blocks, the embedding norm, token types, shifted positions, the MLM transform and its
    bias, or no head at all: the trace against the naive pass's reading of the same config."""
    P = make_params(cfg, seed=seed % 1000, dtype=np.float64)
    ids = np.random.default_rng(seed).integers(0, cfg.vocab_size, size=T)
    ref = naive_forward(cfg.to_dict(), P, ids.tolist())
    trace = forward(P, cfg, ids)
    if cfg.head == "none":
        assert "logits" not in trace
    else:
        np.testing.assert_allclose(trace["logits"], ref.logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(trace[block_output(cfg, cfg.n_layer - 1)], ref.hidden, rtol=1e-6, atol=1e-6)
    for L in range(cfg.n_layer):
        assert not np.isnan(ref.weights[L]).any()  # nothing masked: every query sees every key
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.weights"], ref.weights[L], rtol=1e-6, atol=1e-6)
    assert "mask" not in trace


def test_forward_bidirectional_lets_the_first_token_see_the_last(make_params):
    cfg = ModelConfig(vocab_size=11, n_layer=1, n_head=2, d_model=8, n_ctx=8, causal=False)
    trace = forward(make_params(cfg), cfg, [1, 2, 3])
    assert (trace["blocks.0.attn.weights"][:, 0, 2] > 0).all()
    assert np.isfinite(trace["blocks.0.attn.scores"]).all()


# --- properties ---------------------------------------------------------------------------

@st.composite
def qkv_and_mask(draw, elements=st.floats(-10, 10, allow_nan=False, width=64)):
    n_kv, group = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    T, dh = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    q = draw(hnp.arrays(np.float64, (n_kv * group, T, dh), elements=elements))
    k = draw(hnp.arrays(np.float64, (n_kv, T, dh), elements=elements))
    v = draw(hnp.arrays(np.float64, (n_kv, T, dh), elements=elements))
    mask = draw(hnp.arrays(np.bool_, (T, T)))
    np.fill_diagonal(mask, False)  # every query sees at least itself
    return q, k, v, mask


@settings(max_examples=100, deadline=None)
@given(qkv_and_mask())
def test_rows_of_weights_sum_to_one(case):
    q, k, v, mask = case
    for m in (mask, causal_mask(q.shape[1]), None):
        _, weights, _ = attention(q, k, v, m)
        assert (weights >= 0).all()
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(qkv_and_mask())
def test_masked_cells_are_exactly_zero_and_scores_minus_inf(case):
    q, k, v, mask = case
    scores, weights, z = attention(q, k, v, mask)
    assert (weights[:, mask] == 0.0).all()
    assert np.isneginf(scores[:, mask]).all()
    assert np.isfinite(scores[:, ~mask]).all()
    assert np.isfinite(z).all()
    # hidden keys do not reach the output: changing their values changes nothing
    T = q.shape[1]
    if T > 1 and mask.any():
        hidden_everywhere = mask.all(axis=0)  # keys no query may see
        v2 = v.copy()
        v2[:, hidden_everywhere, :] += 1000.0
        np.testing.assert_array_equal(attention(q, k, v2, mask)[2], z)


@settings(max_examples=100, deadline=None)
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
                 elements=st.floats(-50, 50, allow_nan=False)),
    c=st.floats(-1e3, 1e3, allow_nan=False),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_ignores_a_constant_added_to_a_row(x, c, seed):
    rng = np.random.default_rng(seed)
    hidden = rng.random(x.shape) < 0.3
    hidden[..., 0] = False  # keep one visible cell per row
    x = np.where(hidden, -np.inf, x)
    shifts = c * rng.random(x.shape[:-1] + (1,))  # a different constant for every row
    base, shifted = softmax(x), softmax(x + shifts)
    np.testing.assert_allclose(shifted, base, rtol=1e-9, atol=1e-12)
    assert (shifted[hidden] == 0.0).all()


@settings(max_examples=60, deadline=None)
@given(qkv_and_mask(), st.integers(0, 2**32 - 1))
def test_attention_ignores_a_constant_added_to_a_row_of_scores(case, seed):
    """Adding one vector u to every key adds q_i.u/sqrt(dh) to every score of row i."""
    q, k, v, mask = case
    u = np.random.default_rng(seed).standard_normal(k.shape[-1]) * 5  # [dh]
    _, w1, z1 = attention(q, k, v, mask)
    s2, w2, z2 = attention(q, k + u, v, mask)
    np.testing.assert_allclose(w2, w1, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(z2, z1, rtol=1e-8, atol=1e-8)


@settings(max_examples=100, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 8)),
                 elements=st.floats(-1e4, 1e4, allow_nan=False)),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_softmax_no_nan_at_scores_of_1e4(x, dtype):
    x = x.astype(dtype)
    x[:, 1:][np.abs(x[:, 1:]) < 1] = -np.inf  # some masked cells too
    w = softmax(x)
    assert np.isfinite(w).all()
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=0, atol=1e-5)
    rows = np.arange(x.shape[0])
    assert (w[rows, np.argmax(x, axis=-1)] == w.max(axis=-1)).all()


@settings(max_examples=60, deadline=None)
@given(case=qkv_and_mask(elements=st.floats(-100, 100, allow_nan=False, width=64)),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_attention_no_nan_at_scores_of_1e4(case, dtype):
    q, k, v, mask = (a.astype(dtype) if a.dtype != bool else a for a in case)
    q = q * np.asarray(np.sqrt(q.shape[-1]), dtype=dtype)  # scores up to ~1e4 in magnitude
    scores, weights, z = attention(q, k, v, mask)
    assert np.isfinite(weights).all() and np.isfinite(z).all()
    assert not np.isnan(scores).any()
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=0, atol=1e-5)


def test_scores_of_1e4_exactly():
    """The brief's worst case written out: one row with scores of +-1e4 and a hidden cell."""
    w = softmax(np.array([[1e4, -1e4, 1e4 - 1.0, -np.inf]]))
    assert np.isfinite(w).all()
    np.testing.assert_allclose(w[0], [1 / (1 + math.exp(-1)), 0.0, math.exp(-1) / (1 + math.exp(-1)), 0.0], atol=1e-15)


def test_top_k_by_hand():
    # probabilities of logits (1, 3, 3, 0): e^3, e^3, e, 1 over their sum; the tie goes to the lower id
    logits = np.array([1.0, 3.0, 3.0, 0.0], dtype=np.float32)
    total = 2 * math.exp(3) + math.exp(1) + 1
    got = top_k(logits, 3)
    assert [i for i, _, _ in got] == [1, 2, 0]
    np.testing.assert_allclose([p for _, p, _ in got], [math.exp(3) / total, math.exp(3) / total, E / total], rtol=1e-6)
    assert [lg for _, _, lg in got] == [3.0, 3.0, 1.0]
    assert len(top_k(logits, 99)) == 4


# --- torch, when installed ----------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return need("torch")


def _torch_reference(torch, q, k, v, mask, mode):
    """z from scaled_dot_product_attention and weights from torch.softmax, k/v repeated for GQA."""
    import torch.nn.functional as F

    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    group = q.shape[0] // k.shape[0]
    tk, tv = tk.repeat_interleave(group, dim=0), tv.repeat_interleave(group, dim=0)  # [H, T, dh]
    if mode == "causal":
        z = F.scaled_dot_product_attention(tq[None], tk[None], tv[None], is_causal=True)[0]
    elif mode == "mask":
        z = F.scaled_dot_product_attention(tq[None], tk[None], tv[None], attn_mask=torch.from_numpy(~mask))[0]  # torch: True = may attend
    else:
        z = F.scaled_dot_product_attention(tq[None], tk[None], tv[None])[0]
    s = tq @ tk.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(torch.from_numpy(mask), float("-inf"))
    return z.numpy(), torch.softmax(s, dim=-1).numpy()


@settings(max_examples=40, deadline=None)
@given(n_kv=st.integers(1, 3), group=st.integers(1, 3), dh=st.integers(1, 16), T=st.integers(1, 9),
       mode=st.sampled_from(["causal", "mask", "none"]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_agrees_with_torch_sdpa(torch, n_kv, group, dh, T, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_kv * group, T, dh)).astype(dtype)
    k = rng.standard_normal((n_kv, T, dh)).astype(dtype)
    v = rng.standard_normal((n_kv, T, dh)).astype(dtype)
    mask = {"causal": causal_mask(T), "mask": random_mask(rng, T), "none": None}[mode]
    _, weights, z = attention(q, k, v, mask)
    tz, tw = _torch_reference(torch, q, k, v, mask, mode)
    np.testing.assert_allclose(z, tz, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights, tw, rtol=1e-5, atol=1e-5)


def test_agrees_with_torch_native_gqa(torch):
    import torch.nn.functional as F

    rng = np.random.default_rng(7)
    q = rng.standard_normal((6, 5, 4)).astype(np.float32)  # H = 6
    k = rng.standard_normal((2, 5, 4)).astype(np.float32)  # Hkv = 2: groups of 3
    v = rng.standard_normal((2, 5, 4)).astype(np.float32)
    try:
        tz = F.scaled_dot_product_attention(*(torch.from_numpy(a)[None] for a in (q, k, v)), is_causal=True, enable_gqa=True)[0]
    except TypeError:
        pytest.skip("this torch has no enable_gqa")
    np.testing.assert_allclose(attention(q, k, v, causal_mask(5))[2], tz.numpy(), rtol=1e-5, atol=1e-5)
