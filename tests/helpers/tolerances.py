"""Tolerances from float32's rounding error, not from the machine a test was written on.

Two float32 computations of the same mathematics (banded and whole attention, a KV cache and a
full pass, BLAS with AVX2 or AVX-512 kernels, attncli and transformers) differ by rounding alone,
and rounding has a bound that depends on the sizes of the numbers summed and on how many are
summed. For a float32 sum of n terms, in whatever order and blocking a kernel picks, the error is
at most gamma(n) * sum(|terms|). The classical worst case is n*u (Higham, 2002); for the sums of
real data, Higham and Mary (2019) prove lambda*sqrt(n)*u holds with probability at least
1 - 2*exp(-lambda**2 / 2): with lambda = 6, every entry of every test here has less than a
1e-7 chance of exceeding it. A test that trips a bound built from these has found a difference
rounding cannot explain, on any machine.
"""

from __future__ import annotations

import numpy as np

from attncli.config import ModelConfig

U32 = 2.0**-24  # float32's unit roundoff: half the distance from 1.0 to the next float32
LAMBDA = 6.0  # Higham and Mary's lambda: a bound exceeded with probability < 2*exp(-18), about 3e-8


def gamma(n: int) -> float:
    """The relative error bound of a float32 sum or dot product of n terms (Higham and Mary's
    probabilistic gamma: lambda * sqrt(n) * u, first order)."""
    return LAMBDA * (max(n, 1) ** 0.5) * U32


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


def final_stream(trace, config: ModelConfig) -> np.ndarray:
    """What the unembedding reads in a trace: the final norm's output, or a post-norm model's last block's."""
    return trace["ln_final"] if config.block_norm == "pre" else trace[f"blocks.{config.n_layer - 1}.ln_out"]


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


def trace_weights_tolerance(config: ModelConfig, trace, layer: int) -> np.ndarray:
    """weights_tolerance for layer `layer` of a trace (a pass that kept that layer)."""
    at = f"blocks.{layer}.attn."
    return weights_tolerance(config, trace[at + "q"], trace[at + "k"], config.query_pre_attn_scalar ** -0.5,
                             trace[at + "weights"])


def array_tolerance(config: ModelConfig, n_tokens: int, want: np.ndarray) -> float:
    """Bound on any other intermediate of two float32 passes differing by rounding alone.

    Each entry is taken as a sum of at most d_model terms, none larger than the array's largest
    entry, carrying the pass's relative error (either pass: twice). Generous for a single entry,
    and still far below what a wrong position, mask or cache row changes.
    """
    finite = np.abs(want[np.isfinite(want)])  # masked scores are -inf in both: compared as equal
    return 2 * forward_relative_error(config, n_tokens) * config.d_model * float(finite.max(initial=0.0))


def unembedding(model) -> np.ndarray:
    """The model's unembedding as [d_model, vocab] (the embedding's transpose when tied)."""
    from attncli.weights import dense  # a weight may be kept quantized or as float16: read it as float32

    return dense(model.params["embed.W_E"]).T if model.config.tied_embeddings else dense(model.params["unembed.W_U"])


def assert_within(actual: np.ndarray, desired: np.ndarray, tolerance: np.ndarray | float, what: str = "") -> None:
    """Every |actual - desired| <= tolerance (elementwise), with the worst offender in the message."""
    actual64, desired64 = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual64.shape == desired64.shape, f"{what}: shapes {actual64.shape} and {desired64.shape}"
    same = (actual64 == desired64) | (np.isnan(actual64) & np.isnan(desired64))  # equal infinities included
    with np.errstate(invalid="ignore"):
        excess = np.where(same, -np.inf, np.abs(actual64 - desired64) - np.broadcast_to(tolerance, actual64.shape))
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
    assert excess.size == 0 or excess[worst] <= 0, (
        f"{what} at {worst}: {actual64[worst]!r} vs {desired64[worst]!r}, off by "
        f"{abs(actual64[worst] - desired64[worst]):.3g} > float32's bound "
        f"{np.broadcast_to(tolerance, actual64.shape)[worst]:.3g}")
