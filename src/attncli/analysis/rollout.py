"""Attention rollout (Abnar and Zuidema, 2020, "Quantifying Attention Flow in Transformers").

Per layer: average the heads' weights, add the identity for the residual connection and
renormalize the rows; then multiply the layers, the last on the left. Row i says how much
of token i's representation after the last layer traces back to each input token. It is
an approximation that ignores the MLPs and the values' sizes, not what the model computes.
Its mask is the causal one (Trace.mask): composed over layers, attention reaches keys beyond
any one layer's sliding window.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..trace import Trace


def rollout(trace: Trace) -> np.ndarray:
    """[T, T] rollout over every layer of the trace (which must keep all of them)."""
    n_layer = trace.config.n_layer
    if trace.layers != list(range(n_layer)):
        raise UsageError("attention rollout needs every layer's weights; this text is too long to keep them all")
    T = trace.ids.shape[0]
    result = np.eye(T)  # [T, T]
    for L in range(n_layer):
        a = trace.block(L, "attn.weights").astype(np.float64).mean(axis=0)  # [H, T, T] -> [T, T]
        a = a + np.eye(T)  # [T, T]: the residual stream carries each token past attention
        a = a / a.sum(axis=-1, keepdims=True)  # [T, T], rows sum to 1
        result = a @ result  # [T, T] @ [T, T] -> [T, T]
    return result
