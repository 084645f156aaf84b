"""Softmax, norms, activations and rotary positions: pure functions over numpy arrays."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax that accepts -inf (masked) entries: they get exactly 0.

    Subtracting the row maximum keeps exp() from overflowing at any score magnitude;
    a row that is entirely -inf would be 0/0, and the model never makes one (a causal
    query always sees itself).
    """
    m = np.max(x, axis=axis, keepdims=True)  # [..., 1]
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.subtract(x, m)  # [...]
    np.exp(e, out=e)  # exp(-inf) == 0; in place, as are the steps below: one [...] array in all
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)  # [..., 1]
    s = x - m  # [...]
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)  # [..., 1]
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # [..., 1]; biased, as in PyTorch
    return (x - mean) / np.sqrt(var + eps) * w + b  # [..., d]


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    ms = (x * x).mean(axis=-1, keepdims=True)  # [..., 1]
    y = x / np.sqrt(ms + eps)  # [..., d]
    y *= w  # in place: the same product as x / rms * w, without a second [..., d] array
    return y


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GPT-2's GELU: the tanh approximation."""
    c = np.asarray(np.sqrt(2.0 / np.pi), dtype=x.dtype)
    t = x * x  # the same operations in the same order as 0.5 * x * (1 + tanh(c * (x + 0.044715 * x*x*x))),
    t *= x  # in place (x*x*x: as torch, and far faster than x**3)
    t *= np.asarray(0.044715, dtype=x.dtype)
    t += x
    t *= c
    np.tanh(t, out=t)
    t += np.asarray(1.0, dtype=x.dtype)
    y = x * np.asarray(0.5, dtype=x.dtype)
    y *= t
    return y


def erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.2e-7 absolute error (Numerical Recipes' erfc Chebyshev fit): float32-exact."""
    z = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    r = 1.0 - t * np.exp(poly)
    return np.where(x >= 0, r, -r).astype(x.dtype)


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact GELU, x * Phi(x)."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0).astype(x.dtype)))


def silu(x: np.ndarray) -> np.ndarray:
    """x / (1 + exp(-x)), in one new array."""
    y = np.negative(x)
    np.exp(y, out=y)
    y += np.asarray(1.0, dtype=x.dtype)
    np.divide(x, y, out=y)
    return y


ACTIVATIONS = {"gelu_tanh": gelu_tanh, "gelu": gelu, "silu": silu}


def rope_angles(n_pos: int, dims: int, theta: float, factors: tuple[float, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the rotary angles of `dims` dimensions, in the 'rotate half' layout of
    Hugging Face Llama. `factors` divide the frequencies, one each (rope scaling); none if empty."""
    inv_freq = 1.0 / (theta ** (np.arange(0, dims, 2, dtype=np.float64) / dims))  # [dims/2]
    if factors:
        inv_freq = inv_freq / np.asarray(factors, dtype=np.float64)  # [dims/2]
    ang = np.arange(n_pos, dtype=np.float64)[:, None] * inv_freq[None, :]  # [T, dims/2]
    ang = np.concatenate([ang, ang], axis=-1)  # [T, dims]
    return np.cos(ang), np.sin(ang)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate [..., T, d_head] by position: x*cos + rotate_half(x)*sin over the first cos.shape[-1]
    dimensions (all of them, except under partial rotary), the rest passed through."""
    r = cos.shape[-1]
    if r < x.shape[-1]:  # partial rotary (Phi-3): only the first r dimensions turn
        return np.concatenate([apply_rope(x[..., :r], cos, sin), x[..., r:]], axis=-1)  # [..., T, d_head]
    half = r // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # [..., T, d_head]
    rot *= sin  # x*cos + rot*sin, the same products, with no further [..., T, d_head] temporaries
    y = x * cos  # [..., T, d_head]
    y += rot
    return y.astype(x.dtype, copy=False)
