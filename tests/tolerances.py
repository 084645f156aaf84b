"""Tolerances from float32's rounding error, not from the machine a test was written on.

Two float32 computations of the same mathematics (banded and whole attention, a KV cache and a
full pass, BLAS with AVX2 or AVX-512 kernels) differ by rounding alone, and rounding has a bound
that depends on the sizes of the numbers summed and on how many are summed. Higham's classical
result: a float32 sum of n terms, in any order and any blocking, is within gamma(n) * sum(|terms|)
of the exact sum, with gamma(n) = n*u / (1 - n*u) and u = 2**-24. Every tolerance here is that
bound (worst case: the typical error is about sqrt(n)*u*sum|terms|, far below), so a test that
trips it has found a difference rounding cannot explain, on any machine.
"""

from __future__ import annotations

import numpy as np

from attncli.config import ModelConfig

U32 = 2.0**-24  # float32's unit roundoff: half the distance from 1.0 to the next float32


def gamma(n: int) -> float:
    """Higham's gamma_n: the relative error bound of a float32 sum or dot product of n terms."""
    return n * U32 / (1 - n * U32)


def product_tolerance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise bound on float32 rounding in a @ b: gamma(n) * (|a| @ |b|), n the inner size."""
    a64, b64 = np.abs(np.asarray(a, np.float64)), np.abs(np.asarray(b, np.float64))
    return gamma(a64.shape[-1]) * (a64 @ b64)


def attention_tolerance(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """Bound on rounding in one float32 attention z = softmax(q k^T * scale) v, per element of z.

    q [H, T, dh], k and v [Hkv, T, dh] (grouped heads share keys). The scores' error is
    gamma(dh) * scale * |q| |k|^T; softmax turns an absolute error e in the scores into at most a
    relative error 2e in the weights (exp, then the row's normalising sum: gamma(T) more); the
    weighted sum adds gamma(T) * |w| |v|. Since |w| |v| <= max|v|, max|v| bounds it from above.
    """
    group = q.shape[0] // k.shape[0]
    k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)  # [H, T, dh]
    T, dh = k.shape[1], q.shape[-1]
    qk = np.abs(q.astype(np.float64)) @ np.abs(k.astype(np.float64)).transpose(0, 2, 1)  # [H, T, T]
    score_err = gamma(dh) * abs(scale) * qk.max(axis=-1, keepdims=True)  # [H, T, 1] worst key per row
    weight_rel = 2 * score_err + gamma(T) + U32  # [H, T, 1]
    vmax = np.abs(v.astype(np.float64)).max(axis=1, keepdims=True)  # [H, 1, dh]
    return (weight_rel + gamma(T)) * vmax  # [H, T, dh]


def forward_relative_error(config: ModelConfig, n_tokens: int) -> float:
    """A first-order bound on the relative rounding error of a float32 forward pass's last sums.

    Each product or sum a block makes (the norm's statistics over d_model, Q/K/V over d_model,
    scores over d_head, softmax's and the weighted sum's over the tokens, the output projection
    over the heads' width, the MLP's two products) adds gamma(n) of its terms' size; norms and
    softmax are well conditioned, so to first order these add up along the layers. The final norm
    and the unembedding add two more.
    """
    d, dh, T = config.d_model, config.d_head, n_tokens
    per_block = d + d + dh + 2 * T + config.n_head * dh + d + config.d_mlp
    return sum(gamma(n) for n in [per_block] * config.n_layer + [d, d])


def logits_tolerance(config: ModelConfig, final: np.ndarray, unembed: np.ndarray) -> np.ndarray:
    """Bound on two float32 forward passes' logits [T, V] differing by rounding alone.

    `final` is the normed last residual [T, d_model] and `unembed` [d_model, V]: each logit is a
    sum of d_model terms whose absolute sizes |final| @ |unembed| carry the whole pass's relative
    error (forward_relative_error); either pass may err by that much, so twice it.
    """
    scale = np.abs(final.astype(np.float64)) @ np.abs(unembed.astype(np.float64))  # [T, V]
    return 2 * forward_relative_error(config, final.shape[0]) * scale


def weights_tolerance(config: ModelConfig, q: np.ndarray, k: np.ndarray, scale: float,
                      weights: np.ndarray) -> np.ndarray:
    """Bound on one layer's attention weights [H, T, T] from two float32 passes differing by rounding.

    q [H, T, dh] and k [Hkv, T, dh] as the trace keeps them. Each score is a sum of terms of size
    scale * |q_i| |k_j|, carrying the pass's relative error up to that layer (both passes: twice);
    softmax turns a score error e into at most 2e of relative error in the weights.
    """
    group = q.shape[0] // k.shape[0]
    k = np.repeat(k, group, axis=0)  # [H, T, dh]
    terms = np.abs(q.astype(np.float64)) @ np.abs(k.astype(np.float64)).transpose(0, 2, 1)  # [H, T, T]
    score_err = 2 * forward_relative_error(config, q.shape[1]) * abs(scale) * terms.max(axis=-1, keepdims=True)
    return (2 * score_err + gamma(q.shape[1])) * np.abs(weights.astype(np.float64))  # [H, T, T]


def assert_within(actual: np.ndarray, desired: np.ndarray, tolerance: np.ndarray | float, what: str = "") -> None:
    """Every |actual - desired| <= tolerance (elementwise), with the worst offender in the message."""
    actual64, desired64 = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    excess = np.abs(actual64 - desired64) - np.broadcast_to(tolerance, actual64.shape)
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
    assert excess.size == 0 or excess[worst] <= 0, (
        f"{what} at {worst}: {actual64[worst]!r} vs {desired64[worst]!r}, off by "
        f"{abs(actual64[worst] - desired64[worst]):.3g} > float32's bound "
        f"{np.broadcast_to(tolerance, actual64.shape)[worst]:.3g}")
