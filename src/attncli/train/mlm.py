"""Batched BERT-style encoder forward with a cache, its hand-written backward pass, and masking.

Computes the same function as `attncli.model.forward` for a config with block_norm "post", embed_norm
and head "mlm" (learned positions, bidirectional attention with biases, tanh GELU, tied
embeddings): x = LN(W_E[ids] + W_pos); per block x = LN1(x + attn(x)), x = LN2(x + mlp(x));
then, at the positions asked for only, BERT's transform LN(gelu(x W + b)) and the tied
decoder with its bias. Logits are computed where the loss is (the masked 15%), never for
the whole batch: the [V, d] decoder is the largest matmul of a small model.

The masked-LM objective (Devlin et al., 2019): 15% of the ordinary tokens of each window are
chosen; of those 80% become [MASK], 10% a random ordinary token, 10% stay; the loss is the
mean cross-entropy of the original tokens at the chosen positions only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..config import ModelConfig, param_shapes
from ..errors import TrainingError
from ..model import Params
from ..numerics import log_softmax, softmax
from .gpt import _gelu_bwd, _gelu_fwd, _ln_bwd, _ln_fwd, attention_bwd, cross_entropy, fused_qkv

Cache = dict[str, Any]
MASK_RATE = 0.15  # of a window's ordinary tokens, chosen for the loss
MASK_SPLIT = (0.8, 0.1)  # of the chosen: replaced by [MASK], by a random token; the rest kept as they are


def encoder_config(vocab_size: int, n_layer: int, n_head: int, d_model: int, n_ctx: int) -> ModelConfig:
    """The encoder this module trains: BERT's block and MLM head, without token types (one text,
    one segment), GPT-2's tanh GELU (see `supported`)."""
    return ModelConfig(vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, d_model=d_model, n_ctx=n_ctx,
                       norm_eps=1e-12, causal=False, architecture="bert", block_norm="post", embed_norm=True,
                       head="mlm")


def supported(config: ModelConfig) -> bool:
    """Whether the config is the encoder this forward and backward implement.

    The activation is gelu_tanh: its derivative is exact in the tanh the forward pass already
    has, and it is op for op numerics.gelu_tanh; the core's erf GELU is a 1.2e-7 polynomial fit
    computed in float64, whose derivative is not the analytic one's and costs more per element.
    """
    return bool(config.norm == "layernorm" and config.positions == "learned" and config.mlp == "gelu"
            and config.activation == "gelu_tanh" and config.attn_bias and config.attn_out_bias and config.mlp_bias
            and config.tied_embeddings and not config.causal and config.block_norm == "post" and config.embed_norm
            and config.head == "mlm" and config.type_vocab_size == 0 and config.position_offset == 0
            and config.n_kv_head == config.n_head and config.n_head * config.d_head == config.d_model
            and not (config.qk_norm or config.sandwich_norms or config.scale_embed or config.sliding_layers)
            and config.query_pre_attn_scalar == config.d_head)


def check_supported(config: ModelConfig) -> None:
    if not supported(config):
        raise TrainingError("attn train --objective mlm builds BERT-style encoders only (post-norm blocks, "
                            "embedding norm, learned positions, gelu_tanh, tied embeddings, an mlm head)")


def init_params(config: ModelConfig, rng: np.random.Generator) -> Params:
    """BERT's initialisation: N(0, 0.02) for every matrix and embedding, norms 1, biases 0.

    No 1/sqrt(2 * n_layer) on the residual outputs as in GPT-2: a post-norm block renormalises
    the stream after every sum, so it does not grow with depth.
    """
    check_supported(config)
    params: Params = {}
    for name, shape in param_shapes(config).items():
        leaf = name.rsplit(".", 1)[1]
        if leaf == "w":  # a norm's gain
            arr = np.ones(shape)  # [d]
        elif leaf.startswith("b"):
            arr = np.zeros(shape)  # [n]
        else:
            arr = rng.normal(0.0, 0.02, size=shape)  # [in, out] or [V, d] or [n_ctx, d]
        params[name] = arr.astype(np.float32)
    return params


# ---- forward and backward ---------------------------------------------------------------------

def encode(params: Params, config: ModelConfig, ids: np.ndarray, positions: np.ndarray,
           keep_cache: bool = True) -> tuple[np.ndarray, Cache]:
    """The last block's vectors [M, d] at flat positions [M] of ids [B, T], and the cache.

    Activations are flat, [B*T, d] (one BLAS call per matmul). The last block's attention reads
    every token, but what follows it (W_O, norms, MLP) only has to run at the M positions the
    head reads: 15% of the rows, a third less work in a two-block model.
    """
    B, T = ids.shape
    N = B * T
    H, dh, d, eps = config.n_head, config.d_head, config.d_model, config.norm_eps
    dtype = params["embed.W_E"].dtype
    scale = np.asarray(1.0 / np.sqrt(dh), dtype)
    cache: Cache = {"ids": ids, "positions": positions, "blocks": []}
    e = (params["embed.W_E"][ids] + params["pos_embed.W_pos"][:T]).reshape(N, d)  # [N, d]
    x, cache["embed_ln"] = _ln_fwd(e, params["embed_ln.w"], params["embed_ln.b"], eps)  # [N, d]
    for L in range(config.n_layer):
        p = f"blocks.{L}"
        W_qkv, b_qkv = fused_qkv(params, L)  # [d, 3d], [3d]
        qkv = (x @ W_qkv + b_qkv).reshape(B, T, 3, H, dh).transpose(2, 0, 3, 1, 4)  # [3, B, H, T, dh]
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, T, dh] each
        weights = softmax((q @ k.transpose(0, 1, 3, 2)) * scale, axis=-1)  # [B, H, T, T]; nothing hidden
        merged = (weights @ v).transpose(0, 2, 1, 3).reshape(N, d)  # [B, H, T, dh] -> [N, d]
        x_in = x  # [N, d]
        if L == config.n_layer - 1:  # from here on, only the rows the head reads
            merged, x = merged[positions], x[positions]  # [M, d] each
        x, ln1 = _ln_fwd(x + (merged @ params[f"{p}.attn.W_O"] + params[f"{p}.attn.b_O"]),
                         params[f"{p}.ln1.w"], params[f"{p}.ln1.b"], eps)  # [R, d]: R = N, or M in the last block
        pre = x @ params[f"{p}.mlp.W_in"] + params[f"{p}.mlp.b_in"]  # [R, m]
        act, tanh = _gelu_fwd(pre)  # [R, m], [R, m]
        h1 = x  # [R, d]
        x, ln2 = _ln_fwd(x + (act @ params[f"{p}.mlp.W_out"] + params[f"{p}.mlp.b_out"]),
                         params[f"{p}.ln2.w"], params[f"{p}.ln2.b"], eps)  # [R, d]
        if keep_cache:
            cache["blocks"].append({"x_in": x_in, "W_qkv": W_qkv, "q": q, "k": k, "v": v, "weights": weights,
                                    "merged": merged, "ln1": ln1, "h1": h1, "pre": pre, "tanh": tanh, "act": act,
                                    "ln2": ln2})
    return x, cache  # [M, d]


def head(params: Params, config: ModelConfig, x: np.ndarray, cache: Cache | None = None) -> np.ndarray:
    """BERT's MLM head on the rows x [M, d]: LN(gelu(x W + b)) @ W_E^T + bias -> logits [M, V]."""
    pre = x @ params["mlm.W"] + params["mlm.b"]  # [M, d]
    act, tanh = _gelu_fwd(pre)  # [M, d], [M, d]
    u, ln = _ln_fwd(act, params["mlm.ln.w"], params["mlm.ln.b"], config.norm_eps)  # [M, d]
    if cache is not None:
        cache.update(head_x=x, head_pre=pre, head_tanh=tanh, head_ln=ln, head_u=u)
    return u @ params["embed.W_E"].T + params["unembed.b"]  # [M, d] @ [d, V] -> [M, V]


def forward(params: Params, config: ModelConfig, ids: np.ndarray, positions: np.ndarray,
            keep_cache: bool = True) -> tuple[np.ndarray, Cache]:
    """Logits [M, V] at `positions` [M] (flat indices b * T + t into ids [B, T], each at most once), and the cache."""
    x, cache = encode(params, config, ids, positions, keep_cache)  # [M, d]
    return head(params, config, x, cache if keep_cache else None), cache  # [M, V]


def backward(params: Params, config: ModelConfig, cache: Cache, dlogits: np.ndarray) -> Params:
    """Gradients of every parameter from dloss/dlogits [M, V]; names as in `param_shapes`."""
    B, T = cache["ids"].shape
    N = B * T
    H, dh, d = config.n_head, config.d_head, config.d_model
    dtype = params["embed.W_E"].dtype
    scale = np.asarray(1.0 / np.sqrt(dh), dtype)
    grads: Params = {}
    # The head. Tied embeddings: the decoder's gradient lands in W_E, and so does the embedding's below.
    dW_E = dlogits.T @ cache["head_u"]  # [V, d]
    grads["unembed.b"] = dlogits.sum(axis=0)  # [V]
    du = dlogits @ params["embed.W_E"]  # [M, d]
    dact, grads["mlm.ln.w"], grads["mlm.ln.b"] = _ln_bwd(du, cache["head_ln"])  # [M, d]
    dpre = _gelu_bwd(cache["head_pre"], cache["head_tanh"], dact)  # [M, d]
    grads["mlm.W"] = cache["head_x"].T @ dpre  # [d, d]
    grads["mlm.b"] = dpre.sum(axis=0)  # [d]
    dx = dpre @ params["mlm.W"].T  # [M, d]: the last block's output at the scored positions
    rows = cache["positions"]  # [M]
    for L in reversed(range(config.n_layer)):
        p, c = f"blocks.{L}", cache["blocks"][L]
        # x = LN2(h1 + gelu(h1 @ W_in + b_in) @ W_out + b_out); [M, d] rows in the last block, [N, d] below
        ds, grads[f"{p}.ln2.w"], grads[f"{p}.ln2.b"] = _ln_bwd(dx, c["ln2"])  # [R, d]
        grads[f"{p}.mlp.W_out"] = c["act"].T @ ds  # [m, d]
        grads[f"{p}.mlp.b_out"] = ds.sum(axis=0)  # [d]
        dpre = _gelu_bwd(c["pre"], c["tanh"], ds @ params[f"{p}.mlp.W_out"].T)  # [R, m]
        grads[f"{p}.mlp.W_in"] = c["h1"].T @ dpre  # [d, m]
        grads[f"{p}.mlp.b_in"] = dpre.sum(axis=0)  # [m]
        dh1 = ds + dpre @ params[f"{p}.mlp.W_in"].T  # [R, d]
        # h1 = LN1(x_in + merge(softmax(q k^T / sqrt(dh)) v) @ W_O + b_O), q, k, v from x_in
        ds, grads[f"{p}.ln1.w"], grads[f"{p}.ln1.b"] = _ln_bwd(dh1, c["ln1"])  # [R, d]
        grads[f"{p}.attn.W_O"] = c["merged"].T @ ds  # [d, d]
        grads[f"{p}.attn.b_O"] = ds.sum(axis=0)  # [d]
        dmerged = ds @ params[f"{p}.attn.W_O"].T  # [R, d]
        if L == config.n_layer - 1:  # back to every row: the other tokens' keys and values were read
            dmerged, ds = _scatter(dmerged, rows, N), _scatter(ds, rows, N)  # [N, d] each
        dz = dmerged.reshape(B, T, H, dh).transpose(0, 2, 1, 3)  # [B, H, T, dh]
        dx = ds + attention_bwd(dz, c, c["x_in"], scale, grads, p)  # [N, d]: the residual path and through Q, K, V
    de, grads["embed_ln.w"], grads["embed_ln.b"] = _ln_bwd(dx, cache["embed_ln"])  # [N, d]
    grads["pos_embed.W_pos"] = np.zeros_like(params["pos_embed.W_pos"])  # [n_ctx, d]
    grads["pos_embed.W_pos"][:T] = de.reshape(B, T, d).sum(axis=0)
    np.add.at(dW_E, cache["ids"].reshape(-1), de)  # [V, d]
    grads["embed.W_E"] = dW_E
    return grads


def _scatter(rows_values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """[M, d] values at distinct rows -> [n, d], zero elsewhere."""
    out = np.zeros((n, rows_values.shape[1]), dtype=rows_values.dtype)  # [n, d]
    out[rows] = rows_values
    return out


def loss_and_grads(params: Params, config: ModelConfig, ids: np.ndarray, positions: np.ndarray,
                   targets: np.ndarray) -> tuple[float, Params]:
    """Mean cross-entropy of targets [M] at positions [M] of ids [B, T], and every parameter's gradient."""
    logits, cache = forward(params, config, ids, positions)  # [M, V]
    loss, dlogits = cross_entropy(logits[None], targets[None])  # [1, M, V]
    return loss, backward(params, config, cache, dlogits[0])


def nll_sum(params: Params, config: ModelConfig, ids: np.ndarray, positions: np.ndarray, targets: np.ndarray) -> float:
    """Total NLL of targets [M] at positions [M]; no gradients, no cache kept."""
    logits, _ = forward(params, config, ids, positions, keep_cache=False)  # [M, V]
    logp = log_softmax(logits)  # [M, V]
    return float(-logp[np.arange(targets.shape[0]), targets].sum(dtype=np.float64))


# ---- masking ------------------------------------------------------------------------------------

class Masked(NamedTuple):
    """A batch made ready for the masked-LM loss."""

    ids: np.ndarray  # [B, T] the input, with the chosen tokens masked, replaced or kept
    positions: np.ndarray  # [M] flat indices b * T + t of the chosen tokens, ascending
    targets: np.ndarray  # [M] their original ids


def choose(ids: np.ndarray, ordinary: np.ndarray, rng: np.random.Generator, rate: float = MASK_RATE) -> np.ndarray:
    """Which tokens of ids [B, T] are chosen [B, T]: round(rate * n) of each row's n ordinary ones (at least one)."""
    keys = rng.random(ids.shape)  # [B, T]
    keys[~ordinary] = 2.0  # special tokens sort last: never chosen
    rank = keys.argsort(axis=1).argsort(axis=1)  # [B, T]: each token's place in its row's random order
    n = ordinary.sum(axis=1)  # [B]
    k = np.minimum(n, np.maximum(1, np.rint(rate * n).astype(np.int64)))  # [B]
    return rank < k[:, None]  # [B, T]


def mask_batch(ids: np.ndarray, vocab_size: int, n_special: int, mask_id: int, rng: np.random.Generator,
               split: tuple[float, float] = MASK_SPLIT) -> Masked:
    """BERT's corruption of ids [B, T] (ids below n_special are the special tokens, never chosen):
    of the chosen, split[0] become [MASK], split[1] a random ordinary token, the rest stay."""
    chosen = choose(ids, ids >= n_special, rng)  # [B, T]
    positions = np.flatnonzero(chosen)  # [M]
    targets = ids.reshape(-1)[positions]  # [M]
    u = rng.random(positions.shape[0])  # [M]
    random_ids = rng.integers(n_special, vocab_size, size=positions.shape[0])  # [M]
    flat = ids.reshape(-1).copy()  # [B*T]
    flat[positions] = np.where(u < split[0], mask_id, np.where(u < split[0] + split[1], random_ids, targets))  # [M]
    return Masked(flat.reshape(ids.shape), positions, targets)
