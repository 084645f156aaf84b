"""The reference implementations the tests compare attncli with; none shares code with attncli.

`naive_forward` is a loop-per-position GPT-2 written from the paper's description and
reading model.safetensors itself; `hf_encode` / `hf_decode` go through `tokenizers` directly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def read_model(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """config.json's hyperparameters and the float64 tensors of model.safetensors, read directly."""
    from safetensors.numpy import load_file

    hp = json.loads((path / "config.json").read_text(encoding="utf-8"))["model"]
    tensors = {k: v.astype(np.float64) for k, v in load_file(str(path / "model.safetensors")).items()}
    return hp, tensors


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = sum(x) / len(x)
    var = sum((xi - mu) ** 2 for xi in x) / len(x)
    return (x - mu) / math.sqrt(var + eps) * w + b


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@dataclass
class Reference:
    logits: np.ndarray  # [T, V]
    scores: list[np.ndarray]  # per layer [H, T, T], NaN where masked
    weights: list[np.ndarray]  # per layer [H, T, T], NaN where masked
    z: list[np.ndarray]  # per layer [H, T, dh]
    attn_out: list[np.ndarray]  # per layer [T, d]


def naive_forward(path: Path, ids: list[int]) -> Reference:
    """GPT-2, one position and one head at a time, in float64 (learned positions, tied unembedding)."""
    hp, P = read_model(path)
    d, H, eps = hp["d_model"], hp["n_head"], hp["norm_eps"]
    dh = d // H
    T = len(ids)
    x = [P["embed.W_E"][i] + P["pos_embed.W_pos"][t] for t, i in enumerate(ids)]
    ref = Reference(np.zeros(0), [], [], [], [])
    for L in range(hp["n_layer"]):
        p = lambda n: P[f"blocks.{L}.{n}"]  # noqa: E731
        h = [_layer_norm(xt, p("ln1.w"), p("ln1.b"), eps) for xt in x]
        q = [ht @ p("attn.W_Q") + p("attn.b_Q") for ht in h]
        k = [ht @ p("attn.W_K") + p("attn.b_K") for ht in h]
        v = [ht @ p("attn.W_V") + p("attn.b_V") for ht in h]
        S = np.full((H, T, T), np.nan)
        W = np.full((H, T, T), np.nan)
        Z = np.zeros((H, T, dh))
        for hd in range(H):
            sl = slice(hd * dh, (hd + 1) * dh)
            for i in range(T):
                row = [float(np.dot(q[i][sl], k[j][sl])) / math.sqrt(dh) for j in range(i + 1)]  # keys 0..i only
                top = max(row)
                e = [math.exp(s - top) for s in row]
                for j in range(i + 1):
                    S[hd, i, j] = row[j]
                    W[hd, i, j] = e[j] / sum(e)
                    Z[hd, i] += W[hd, i, j] * v[j][sl]
        out = [np.concatenate([Z[hd, t] for hd in range(H)]) @ p("attn.W_O") + p("attn.b_O") for t in range(T)]
        x = [xt + ot for xt, ot in zip(x, out)]
        h2 = [_layer_norm(xt, p("ln2.w"), p("ln2.b"), eps) for xt in x]
        x = [xt + _gelu_tanh(ht @ p("mlp.W_in") + p("mlp.b_in")) @ p("mlp.W_out") + p("mlp.b_out") for xt, ht in zip(x, h2)]
        ref.scores.append(S)
        ref.weights.append(W)
        ref.z.append(Z)
        ref.attn_out.append(np.array(out))
    ref.logits = np.array([_layer_norm(xt, P["ln_final.w"], P["ln_final.b"], eps) @ P["embed.W_E"].T for xt in x])
    return ref


def softmax64(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def hf_encode(path: Path, text: str) -> tuple[list[int], list[str]]:
    """The ids and token strings of the model's own tokenizer.json, through `tokenizers` directly."""
    from tokenizers import Tokenizer

    enc = Tokenizer.from_file(str(path / "tokenizer.json")).encode(text, add_special_tokens=False)
    return list(enc.ids), list(enc.tokens)


def hf_decode(path: Path, ids: list[int]) -> str:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path / "tokenizer.json")).decode(ids, skip_special_tokens=False)
