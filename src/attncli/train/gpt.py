"""Batched GPT-2 forward with a cache and its hand-written backward pass, for training.

Computes the same function as `attncli.model.forward` (pre-norm LayerNorm blocks, learned
positions, tanh GELU, causal attention with biases, tied embeddings) on a batch [B, T] of
ids, in the params' dtype (float32 to train, float64 for the gradient check). Q, K and V
are one fused matmul; heads and batch are matmul batch dimensions, never Python loops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import ModelConfig, param_shapes
from ..errors import TrainingError
from ..model import Params, causal_mask
from ..numerics import log_softmax, softmax

Cache = dict[str, Any]
GELU_C = np.sqrt(2.0 / np.pi)
GELU_A = 0.044715


def supported(config: ModelConfig) -> bool:
    """Whether the config is GPT-2's block, the only one this forward and backward implement."""
    return (config.norm == "layernorm" and config.positions == "learned" and config.mlp == "gelu"
            and config.activation == "gelu_tanh" and config.attn_bias and config.mlp_bias
            and config.tied_embeddings and config.causal and config.n_kv_head == config.n_head
            and config.n_head * config.d_head == config.d_model)


def check_supported(config: ModelConfig) -> None:
    """The trainer implements GPT-2's block only; say so instead of training something else."""
    if not supported(config):
        raise TrainingError("attn train builds GPT-2-style models only (layernorm, learned positions, gelu_tanh, "
                            "tied embeddings)")


def init_params(config: ModelConfig, rng: np.random.Generator) -> Params:
    """GPT-2's initialisation: N(0, 0.02), residual outputs scaled by 1/sqrt(2 * n_layer), norms 1, biases 0."""
    check_supported(config)
    params: Params = {}
    resid_std = 0.02 / np.sqrt(2 * config.n_layer)
    for name, shape in param_shapes(config).items():
        leaf = name.rsplit(".", 1)[1]
        if leaf == "w":  # a norm's gain
            arr = np.ones(shape)  # [d]
        elif leaf.startswith("b"):
            arr = np.zeros(shape)  # [n]
        elif leaf in ("W_O", "W_out"):
            arr = rng.normal(0.0, resid_std, size=shape)  # [in, out]
        else:
            arr = rng.normal(0.0, 0.02, size=shape)  # [in, out] or [V, d] or [n_ctx, d]
        params[name] = arr.astype(np.float32)
    return params


def _ln_fwd(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> tuple[np.ndarray, tuple]:
    """numerics.layer_norm's function, keeping xhat and 1/std for _ln_bwd."""
    mean = x.mean(axis=-1, keepdims=True)  # [..., 1]
    xc = x - mean  # [..., d]
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + np.asarray(eps, x.dtype))  # [..., 1]
    xhat = xc * rstd  # [..., d]
    return xhat * w + b, (xhat, rstd, w)  # [..., d]


def _ln_bwd(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xhat, rstd, w = cache
    d = dy.shape[-1]
    dw = (dy * xhat).reshape(-1, d).sum(axis=0)  # [d]
    db = dy.reshape(-1, d).sum(axis=0)  # [d]
    dxhat = dy * w  # [..., d]
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                 - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))  # [..., d]
    return dx, dw, db


def _gelu_fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numerics.gelu_tanh, same operations, also returning the tanh that _gelu_bwd needs."""
    c, a = np.asarray(GELU_C, x.dtype), np.asarray(GELU_A, x.dtype)
    t = np.tanh(c * (x + a * (x * x * x)))  # [..., m]
    return 0.5 * x * (1.0 + t), t  # [..., m]


def _gelu_bwd(x: np.ndarray, t: np.ndarray, dout: np.ndarray) -> np.ndarray:
    """d gelu_tanh(x) given t = tanh(c (x + a x^3)) from the forward pass."""
    c, a = np.asarray(GELU_C, x.dtype), np.asarray(GELU_A, x.dtype)
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * a * x * x))  # [N, m]


def fused_qkv(params: Params, L: int) -> tuple[np.ndarray, np.ndarray]:
    b = f"blocks.{L}.attn"
    W = np.concatenate([params[f"{b}.W_Q"], params[f"{b}.W_K"], params[f"{b}.W_V"]], axis=1)  # [d, 3d]
    bias = np.concatenate([params[f"{b}.b_Q"], params[f"{b}.b_K"], params[f"{b}.b_V"]])  # [3d]
    return W, bias


def forward(params: Params, config: ModelConfig, ids: np.ndarray, keep_cache: bool = True) -> tuple[np.ndarray, Cache]:
    """Logits [B, T, V] for ids [B, T], and the cache the backward pass needs.

    Activations are kept flat as [B*T, d]: numpy runs a 2-D matmul as one BLAS call, a
    [B, T, d] @ [d, n] one as B calls (5x slower here).
    """
    B, T = ids.shape
    N = B * T
    H, dh, d, eps = config.n_head, config.d_head, config.d_model, config.norm_eps
    dtype = params["embed.W_E"].dtype
    scale = np.asarray(1.0 / np.sqrt(dh), dtype)
    hidden_mask = causal_mask(T)  # [T, T]
    cache: Cache = {"ids": ids, "blocks": []}
    x = (params["embed.W_E"][ids] + params["pos_embed.W_pos"][:T]).reshape(N, d)  # [N, d]
    for L in range(config.n_layer):
        p = f"blocks.{L}"
        h1, ln1 = _ln_fwd(x, params[f"{p}.ln1.w"], params[f"{p}.ln1.b"], eps)  # [N, d]
        W_qkv, b_qkv = fused_qkv(params, L)  # [d, 3d], [3d]
        qkv = (h1 @ W_qkv + b_qkv).reshape(B, T, 3, H, dh).transpose(2, 0, 3, 1, 4)  # [3, B, H, T, dh]
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, T, dh] each
        scores = np.where(hidden_mask, np.asarray(-np.inf, dtype),
                          (q @ k.transpose(0, 1, 3, 2)) * scale)  # [B, H, T, T]
        weights = softmax(scores, axis=-1)  # [B, H, T, T]
        z = weights @ v  # [B, H, T, dh]
        merged = z.transpose(0, 2, 1, 3).reshape(N, d)  # [N, d]
        x = x + (merged @ params[f"{p}.attn.W_O"] + params[f"{p}.attn.b_O"])  # [N, d]
        h2, ln2 = _ln_fwd(x, params[f"{p}.ln2.w"], params[f"{p}.ln2.b"], eps)  # [N, d]
        pre = h2 @ params[f"{p}.mlp.W_in"] + params[f"{p}.mlp.b_in"]  # [N, m]
        act, tanh = _gelu_fwd(pre)  # [N, m], [N, m]
        x = x + (act @ params[f"{p}.mlp.W_out"] + params[f"{p}.mlp.b_out"])  # [N, d]
        if keep_cache:
            cache["blocks"].append({"ln1": ln1, "h1": h1, "W_qkv": W_qkv, "q": q, "k": k, "v": v, "weights": weights,
                                    "merged": merged, "ln2": ln2, "h2": h2, "pre": pre, "tanh": tanh, "act": act})
    hf, lnf = _ln_fwd(x, params["ln_final.w"], params["ln_final.b"], eps)  # [N, d]
    logits = (hf @ params["embed.W_E"].T).reshape(B, T, -1)  # [B, T, V]
    cache.update({"lnf": lnf, "hf": hf})
    return logits, cache


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean NLL of targets [B, T] under logits [B, T, V], and dloss/dlogits [B, T, V].

    A stable log-softmax written out (not numerics.log_softmax): its exp and row sums are
    also the softmax the gradient needs.
    """
    B, T, V = logits.shape
    z = logits.reshape(B * T, V)  # [N, V]
    shifted = z - z.max(axis=-1, keepdims=True)  # [N, V]
    e = np.exp(shifted)  # [N, V]
    s = e.sum(axis=-1, keepdims=True)  # [N, 1]
    rows, tgt = np.arange(B * T), targets.reshape(-1)  # [N], [N]
    nll = np.log(s[:, 0]) - shifted[rows, tgt]  # [N]
    grad = e / s  # [N, V]; softmax
    grad[rows, tgt] -= 1.0
    grad /= B * T
    return float(nll.mean()), grad.reshape(B, T, V)  # [B, T, V]



def attention_bwd(dz: np.ndarray, c: dict[str, np.ndarray], x_in: np.ndarray, scale: np.ndarray, grads: Params,
                  p: str) -> np.ndarray:
    """Back through z = softmax(q k^T * scale) v with q, k, v = x_in @ W_qkv + b_qkv (cache `c`: q, k, v,
    weights, W_qkv): writes blocks' W_Q/K/V and b_Q/K/V gradients under `p` into `grads`, returns d x_in.
    dz [B, H, T, dh]; x_in [N, d] with N = B*T. Masked cells have weight 0, so they pass no gradient."""
    N, d = x_in.shape
    w = c["weights"]  # [B, H, T, T]
    dw = dz @ c["v"].transpose(0, 1, 3, 2)  # [B, H, T, T]
    dv = w.transpose(0, 1, 3, 2) @ dz  # [B, H, T, dh]
    dscores = w * (dw - (dw * w).sum(axis=-1, keepdims=True)) * scale  # [B, H, T, T]: softmax's backward
    dq = dscores @ c["k"]  # [B, H, T, dh]
    dk = dscores.transpose(0, 1, 3, 2) @ c["q"]  # [B, H, T, dh]
    dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(N, 3 * d)  # [N, 3d]
    dW_qkv = x_in.T @ dqkv  # [d, 3d]
    db_qkv = dqkv.sum(axis=0)  # [3d]
    for i, name in enumerate("QKV"):
        grads[f"{p}.attn.W_{name}"] = dW_qkv[:, i * d:(i + 1) * d]  # [d, d]
        grads[f"{p}.attn.b_{name}"] = db_qkv[i * d:(i + 1) * d]  # [d]
    return dqkv @ c["W_qkv"].T  # [N, d]

def backward(params: Params, config: ModelConfig, cache: Cache, dlogits: np.ndarray) -> Params:
    """Gradients of every parameter from dloss/dlogits [B, T, V]; names as in `param_shapes`."""
    B, T, V = dlogits.shape
    H, dh, d = config.n_head, config.d_head, config.d_model
    dtype = params["embed.W_E"].dtype
    scale = np.asarray(1.0 / np.sqrt(dh), dtype)
    grads: Params = {}
    N = B * T
    dl = dlogits.reshape(N, V)  # [N, V]
    # Tied embeddings: the unembedding's gradient lands in W_E, and so does the embedding's below.
    dW_E = dl.T @ cache["hf"]  # [V, d]
    dhf = dl @ params["embed.W_E"]  # [N, d]
    dx, grads["ln_final.w"], grads["ln_final.b"] = _ln_bwd(dhf, cache["lnf"])  # [N, d]
    for L in reversed(range(config.n_layer)):
        p, c = f"blocks.{L}", cache["blocks"][L]
        # MLP: x += gelu(ln2(x) @ W_in + b_in) @ W_out + b_out
        grads[f"{p}.mlp.W_out"] = c["act"].T @ dx  # [m, d]
        grads[f"{p}.mlp.b_out"] = dx.sum(axis=0)  # [d]
        dpre = _gelu_bwd(c["pre"], c["tanh"], dx @ params[f"{p}.mlp.W_out"].T)  # [N, m]
        grads[f"{p}.mlp.W_in"] = c["h2"].T @ dpre  # [d, m]
        grads[f"{p}.mlp.b_in"] = dpre.sum(axis=0)  # [m]
        dh2 = dpre @ params[f"{p}.mlp.W_in"].T  # [N, d]
        dln, grads[f"{p}.ln2.w"], grads[f"{p}.ln2.b"] = _ln_bwd(dh2, c["ln2"])  # [N, d]
        dx = dx + dln  # [N, d]
        # Attention: x += merge(softmax(q k^T / sqrt(dh)) v) @ W_O + b_O
        grads[f"{p}.attn.W_O"] = c["merged"].T @ dx  # [d, d]
        grads[f"{p}.attn.b_O"] = dx.sum(axis=0)  # [d]
        dz = (dx @ params[f"{p}.attn.W_O"].T).reshape(B, T, H, dh).transpose(0, 2, 1, 3)  # [B, H, T, dh]
        dh1 = attention_bwd(dz, c, c["h1"], scale, grads, p)  # [N, d]
        dln, grads[f"{p}.ln1.w"], grads[f"{p}.ln1.b"] = _ln_bwd(dh1, c["ln1"])  # [N, d]
        dx = dx + dln  # [N, d]
    grads["pos_embed.W_pos"] = np.zeros_like(params["pos_embed.W_pos"])  # [n_ctx, d]
    grads["pos_embed.W_pos"][:T] = dx.reshape(B, T, d).sum(axis=0)
    np.add.at(dW_E, cache["ids"].reshape(-1), dx)  # [V, d]
    grads["embed.W_E"] = dW_E
    return grads


def loss_and_grads(params: Params, config: ModelConfig, ids: np.ndarray, targets: np.ndarray) -> tuple[float, Params]:
    """Mean next-token cross-entropy of a batch and the gradient of every parameter."""
    logits, cache = forward(params, config, ids)  # [B, T, V]
    loss, dlogits = cross_entropy(logits, targets)  # [B, T, V]
    return loss, backward(params, config, cache, dlogits)


def nll_sum(params: Params, config: ModelConfig, ids: np.ndarray, targets: np.ndarray, scored: np.ndarray) -> float:
    """Total NLL over the positions where scored [B, T] is True; no gradients, no cache kept."""
    logits, _ = forward(params, config, ids, keep_cache=False)  # [B, T, V]
    logp = log_softmax(logits)  # [B, T, V]
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]  # [B, T]
    return float((-picked * scored).sum(dtype=np.float64))
