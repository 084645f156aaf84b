"""The reference implementations the tests compare attncli with; none shares code with attncli.

`naive_forward` is the one hand-written forward pass: every architecture attncli's config
describes, one position and one head at a time, in float64, from the papers' definitions.
`read_model` reads a model directory's config.json and model.safetensors itself, so a test
can feed the same files attncli loads. The rest go through other libraries: `tokenizers`
for token ids, torch for autograd and transformers for real models (those skip when missing).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# ---- the naive forward pass ------------------------------------------------------------------


def read_model(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """config.json's hyperparameters and the float64 tensors of model.safetensors, read directly."""
    from safetensors.numpy import load_file

    hp = json.loads((path / "config.json").read_text(encoding="utf-8"))["model"]
    tensors = {k: v.astype(np.float64) for k, v in load_file(str(path / "model.safetensors")).items()}
    return hp, tensors


@dataclass
class Reference:
    """What `naive_forward` computed. A cell a query may not see is NaN in scores and weights."""

    logits: np.ndarray  # [T, V]
    scores: list[np.ndarray]  # per layer [H, T, T]: q.k / sqrt(dh), before softmax
    weights: list[np.ndarray]  # per layer [H, T, T]: softmax over the visible keys
    z: list[np.ndarray]  # per layer [H, T, dh]: each head's weighted sum of values
    attn_out: list[np.ndarray]  # per layer [T, d]: the heads concatenated through W_O (+ b_O)
    hidden: np.ndarray | None = None  # [T, d]: the last block's output


def _norm(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, eps: float) -> np.ndarray:
    """LayerNorm when there is a bias b, else RMSNorm, over one position's vector."""
    n = len(x)
    if b is None:
        return x / math.sqrt(sum(xi * xi for xi in x) / n + eps) * w
    mu = sum(x) / n
    var = sum((xi - mu) ** 2 for xi in x) / n
    return (x - mu) / math.sqrt(var + eps) * w + b


ACTIVATIONS = {
    "gelu_tanh": lambda x: 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "gelu": lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + math.exp(-x)),
}


def _rope(vec: np.ndarray, pos: int, theta: float, dims: int | None = None, factors: list[float] | None = None) -> np.ndarray:
    """Rotate pairs (i, i + dims/2) of the first `dims` dimensions (all by default; the rest pass) by
    pos * theta^(-2i/dims) / factors[i]: the 'rotate half' layout of HF Llama, partial as HF Phi-3."""
    dims = dims or len(vec)
    half = dims // 2
    out = np.array(vec, dtype=np.float64)
    for i in range(half):
        a = pos * theta ** (-2 * i / dims) / (factors[i] if factors else 1.0)
        x1, x2 = vec[i], vec[i + half]
        out[i] = x1 * math.cos(a) - x2 * math.sin(a)
        out[i + half] = x2 * math.cos(a) + x1 * math.sin(a)
    return out


def naive_forward(hp: dict[str, Any], P: dict[str, np.ndarray], ids: list[int]) -> Reference:
    """The transformer from its definition, token by token and head by head, in float64.

    hp is config.json's "model" object (`read_model`, or a ModelConfig's to_dict()); a field
    it leaves out means GPT-2's choice. Biases are used where P has them. The family variants,
    each as its model's paper or reference code defines it: embeddings times sqrt(d) (Gemma),
    RMSNorm gains (1 + w) (Gemma), per-head Q/K RMSNorm before rotary (Qwen3, Gemma 3), sandwich
    norms on each sublayer's output (Gemma 3), q.k / sqrt(query_pre_attn_scalar), rotary over the
    first rope_dims only (Phi-3) with frequencies divided by rope_freq_factors (Llama 3), and
    sliding-window layers that see the last sliding_window keys and turn at rope_local_theta.
    """
    H, d = hp["n_head"], hp["d_model"]
    Hkv = hp.get("n_kv_head") or H
    dh = hp.get("d_head") or d // H
    group = H // Hkv  # query head hd reads key/value head hd // group
    eps = hp.get("norm_eps", 1e-5)
    positions = hp.get("positions", "learned")
    causal = hp.get("causal", True)
    act = ACTIVATIONS[hp.get("activation", "gelu_tanh")]
    rms = hp.get("norm", "layernorm") == "rmsnorm"
    plus_one = hp.get("norm_plus_one", False)
    scale_dim = hp.get("query_pre_attn_scalar") or dh
    rope_dims = hp.get("rope_dims") or dh
    factors = list(hp.get("rope_freq_factors") or [])
    window, sliding = hp.get("sliding_window", 0), set(hp.get("sliding_layers") or [])
    T = len(ids)
    P = {k: np.asarray(v, dtype=np.float64) for k, v in P.items()}

    def norm(x: np.ndarray, prefix: str) -> np.ndarray:
        w = P[f"{prefix}.w"] + (1.0 if plus_one else 0.0)
        return _norm(x, w, None if rms else P[f"{prefix}.b"], eps)

    def lin(x: np.ndarray, w: str, b: str) -> np.ndarray:
        y = x @ P[w]
        return y + P[b] if b in P else y

    # BERT: norm after each sublayer's sum (block_norm "post"; before format 4, post_norm true)
    post_norm_blocks = hp.get("block_norm", "post" if hp.get("post_norm") else "pre") == "post"
    xs = []
    for t, i in enumerate(ids):
        x = P["embed.W_E"][i] * (math.sqrt(d) if hp.get("scale_embed") else 1.0)
        if positions == "learned":
            x = x + P["pos_embed.W_pos"][t + hp.get("position_offset", 0)]
        if hp.get("type_vocab_size"):
            x = x + P["type_embed.W_T"][0]
        if hp.get("embed_norm"):
            x = norm(x, "embed_ln")
        xs.append(x)
    ref = Reference(np.zeros(0), [], [], [], [])
    for L in range(hp["n_layer"]):
        b = f"blocks.{L}"
        h = list(xs) if post_norm_blocks else [norm(x, f"{b}.ln1") for x in xs]
        # per position, per head: q[t][hd], k[t][g], v[t][g], each [dh]
        q = [[row[hd * dh:(hd + 1) * dh] for hd in range(H)] for row in (lin(ht, f"{b}.attn.W_Q", f"{b}.attn.b_Q") for ht in h)]
        k = [[row[g * dh:(g + 1) * dh] for g in range(Hkv)] for row in (lin(ht, f"{b}.attn.W_K", f"{b}.attn.b_K") for ht in h)]
        v = [[row[g * dh:(g + 1) * dh] for g in range(Hkv)] for row in (lin(ht, f"{b}.attn.W_V", f"{b}.attn.b_V") for ht in h)]
        if hp.get("qk_norm"):
            q = [[norm(vec, f"{b}.attn.q_norm") for vec in q[t]] for t in range(T)]
            k = [[norm(vec, f"{b}.attn.k_norm") for vec in k[t]] for t in range(T)]
        local = L in sliding
        if positions == "rotary":
            theta = (hp.get("rope_local_theta") or hp.get("rope_theta", 10000.0)) if local else hp.get("rope_theta", 10000.0)
            f = None if local and hp.get("rope_local_theta") else factors
            q = [[_rope(vec, t, theta, rope_dims, f) for vec in q[t]] for t in range(T)]
            k = [[_rope(vec, t, theta, rope_dims, f) for vec in k[t]] for t in range(T)]
        S = np.full((H, T, T), np.nan)
        W = np.full((H, T, T), np.nan)
        Z = np.zeros((H, T, dh))
        for hd in range(H):
            g = hd // group
            for i in range(T):
                keys = range(i + 1) if causal else range(T)  # causal: keys 0..i only
                if local:  # a sliding-window layer: the last `window` keys, the query's own included
                    keys = range(max(0, i - window + 1), i + 1)
                row = [sum(q[i][hd][c] * k[j][g][c] for c in range(dh)) / math.sqrt(scale_dim) for j in keys]
                top = max(row)
                e = [math.exp(s - top) for s in row]
                total = sum(e)
                for j, s, ej in zip(keys, row, e):
                    S[hd, i, j] = s
                    W[hd, i, j] = ej / total
                    Z[hd, i] += W[hd, i, j] * v[j][g]
        out = [lin(np.concatenate([Z[hd, t] for hd in range(H)]), f"{b}.attn.W_O", f"{b}.attn.b_O") for t in range(T)]
        sandwich = hp.get("sandwich_norms", hp.get("post_norms"))  # post_norms before format 4
        xs = [x + (norm(o, f"{b}.ln1_post") if sandwich else o) for x, o in zip(xs, out)]
        if post_norm_blocks:
            xs = [norm(x, f"{b}.ln1") for x in xs]
        new = []
        for x in xs:
            h2 = x if post_norm_blocks else norm(x, f"{b}.ln2")
            up = lin(h2, f"{b}.mlp.W_in", f"{b}.mlp.b_in")
            if hp.get("mlp", "gelu") == "swiglu":
                hidden = np.array([act(a) for a in h2 @ P[f"{b}.mlp.W_gate"]]) * up
            else:
                hidden = np.array([act(a) for a in up])
            m = lin(hidden, f"{b}.mlp.W_out", f"{b}.mlp.b_out")
            summed = x + (norm(m, f"{b}.ln2_post") if sandwich else m)
            new.append(norm(summed, f"{b}.ln2") if post_norm_blocks else summed)
        xs = new
        ref.scores.append(S)
        ref.weights.append(W)
        ref.z.append(Z)
        ref.attn_out.append(np.array(out))
    ref.hidden = np.array(xs)
    head = hp.get("head", "lm")
    if head == "none":
        ref.logits = np.zeros((T, 0))
        return ref
    W_U = P["embed.W_E"].T if hp.get("tied_embeddings", True) else P["unembed.W_U"]
    finals = xs if post_norm_blocks else [norm(x, "ln_final") for x in xs]
    if head == "mlm":  # BERT's transform: dense, activation, LayerNorm; then the decoder with its bias
        finals = [norm(np.array([act(a) for a in f @ P["mlm.W"] + P["mlm.b"]]), "mlm.ln") for f in finals]
    ref.logits = np.array([f @ W_U + P.get("unembed.b", 0.0) for f in finals])
    return ref


def softmax64(x: np.ndarray) -> np.ndarray:
    """Softmax of one vector of logits, in float64."""
    e = np.exp(x - x.max())
    return e / e.sum()


# ---- the model's tokenizer, through `tokenizers` directly -----------------------------------

def hf_encode(path: Path, text: str) -> tuple[list[int], list[str]]:
    """The ids and token strings of the model's own tokenizer.json, through `tokenizers` directly."""
    from tokenizers import Tokenizer

    enc = Tokenizer.from_file(str(path / "tokenizer.json")).encode(text, add_special_tokens=False)
    return list(enc.ids), list(enc.tokens)


def hf_decode(path: Path, ids: list[int]) -> str:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path / "tokenizer.json")).decode(ids, skip_special_tokens=False)


# ---- torch and transformers, when installed ----------------------------------------------------

SKIP_REASONS = {
    "torch": "the reference comparison needs torch (pip install torch==2.13.0)",
    "transformers": "the reference comparison needs transformers",
    "accelerate": "transformers needs accelerate to load a GGUF file",
}


def need(name: str) -> Any:
    """Import an optional reference library, or skip (the whole module, at module level) saying why."""
    return pytest.importorskip(name, reason=SKIP_REASONS[name])


def torch_gpt2_logits(P: dict[str, Any], config: Any, ids: np.ndarray) -> Any:
    """GPT-2 written in torch for autograd: P maps names to torch tensors, ids [B, T] -> logits [B, T, V]."""
    import torch

    F = torch.nn.functional
    B, T = ids.shape
    H, dh, d, eps = config.n_head, config.d_head, config.d_model, config.norm_eps
    x = P["embed.W_E"][torch.tensor(ids)] + P["pos_embed.W_pos"][:T]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for L in range(config.n_layer):
        p = lambda n: P[f"blocks.{L}.{n}"]  # noqa: E731
        h = F.layer_norm(x, (d,), p("ln1.w"), p("ln1.b"), eps)
        q, k, v = ((h @ p(f"attn.W_{n}") + p(f"attn.b_{n}")).view(B, T, H, dh).transpose(1, 2) for n in "QKV")
        s = (q @ k.transpose(-1, -2)) / dh**0.5
        w = torch.softmax(s.masked_fill(~causal, float("-inf")), dim=-1)
        z = (w @ v).transpose(1, 2).reshape(B, T, d)
        x = x + z @ p("attn.W_O") + p("attn.b_O")
        h = F.layer_norm(x, (d,), p("ln2.w"), p("ln2.b"), eps)
        x = x + F.gelu(h @ p("mlp.W_in") + p("mlp.b_in"), approximate="tanh") @ p("mlp.W_out") + p("mlp.b_out")
    return F.layer_norm(x, (d,), P["ln_final.w"], P["ln_final.b"], eps) @ P["embed.W_E"].T


def transformers_from_gguf(path: Path) -> tuple[Any, Any]:
    """transformers' own model (float32, eager attention) and tokenizer, loaded from a GGUF file."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return model, tokenizer


def transformers_run(model: Any, ids: list[int], **outputs: bool) -> Any:
    """One eager forward pass of a transformers model on one sequence, with its attention weights."""
    import torch

    model.config._attn_implementation = "eager"
    with torch.no_grad():
        return model(torch.tensor([ids]), output_attentions=True, **outputs)
