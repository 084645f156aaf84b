"""Models the tests make with weights they choose, and edits to a saved model's files.

- `random_params`: every weight of a config, small random normals from a seed;
- `make_known_model`: a GPT-2 whose weights are set by hand so every answer is known (`Known`);
- `copy_model`: one layer whose answer depends on one token being in the text;
- `hf_llama_files`, `write_files`: a one-layer random Llama as a Hugging Face folder's files;
- `rewrite_tensors`, `edit_config`: change a saved model directory, e.g. to break it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save, save_file

from attncli.checkpoints import native
from attncli.config import ModelConfig, param_shapes
from attncli.model import Model
from attncli.weights import dense

# The bundled model's architecture in miniature.
TINY_GPT2 = dict(n_layer=2, n_head=2, d_model=16, n_ctx=32)

# What a provisional model's card says (the `provisional_dir` fixture), and what the CLI must show.
PROVISIONAL_NOTE = "PROVISIONAL test weights: not trained"


def random_params(config: ModelConfig, seed: int = 0, dtype: Any = np.float32, scale: float = 0.3) -> dict[str, np.ndarray]:
    """Weights for every name `param_shapes` lists: norm gains near 1, the rest small normals."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in param_shapes(config).items():
        if name.endswith(".w") and len(shape) == 1:  # a norm's gain
            arr = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            arr = scale * rng.standard_normal(shape)
        params[name] = arr.astype(dtype)
    return params


# ---- a model whose every answer is known -----------------------------------------------------

SQRT8 = math.sqrt(8)


@dataclass
class Known:
    """What the known model must show, worked out by hand from how its weights are set."""

    path: Path
    n_ctx: int
    target: int  # the id that gets nearly all probability (" like")
    runner_up: int  # the next (" not")
    logits: np.ndarray  # [V] the same at every position
    scores: dict[tuple[int, int], float]  # (layer, head) -> the one score every visible cell has
    z_rows: dict[int, np.ndarray]  # head -> the contextual vector every token gets
    attn_out: dict[int, np.ndarray]  # layer -> every token's attn.out (the 'mean' view's vectors)


def make_known_model(path: Path, tokenizer_json: str, n_ctx: int = 16, card: dict | None = None) -> Known:
    """A 2-layer, 2-head, d_model 16 GPT-2 with weights set so the answers are known.

    - W_Q = W_K = W_V = 0: q, k, v are their biases, the same for every token, so each score
      of a (layer, head) is b_Q.b_K/sqrt(8) and each row of weights is uniform: 1/(q+1).
    - each head's output (its contextual vector) is then its slice of b_V; attn.out is b_O.
    - W_in = 0, b_in = 0: the MLP adds gelu(0) @ W_out = 0.
    - ln_final.w = 0, ln_final.b = 40*e0: every position's logits are 40 * W_E[:, 0], and only
      " like" (1.0) and " not" (0.9) have a non-zero W_E[:, 0].
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    V = tok.get_vocab_size(with_added_tokens=True)
    target, runner_up = tok.token_to_id("Ġlike"), tok.token_to_id("Ġnot")
    d, H, dh, m = 16, 2, 8, 64
    rng = np.random.default_rng(7)
    W_E = 0.3 * rng.standard_normal((V, d))
    W_E[:, 0] = 0.0
    W_E[target, 0], W_E[runner_up, 0] = 1.0, 0.9
    t: dict[str, np.ndarray] = {"embed.W_E": W_E, "pos_embed.W_pos": 0.3 * rng.standard_normal((n_ctx, d))}
    b_Q = {0: np.r_[np.full(dh, 2.0), np.full(dh, 1.0)], 1: np.r_[np.full(dh, -1.0), np.full(dh, 0.25)]}
    b_K = {0: np.full(d, 0.5), 1: np.full(d, 1.0)}
    b_V = 0.1 * np.arange(d)
    b_O = {0: 0.05 * np.arange(d) - 0.3, 1: np.linspace(1.0, -1.0, d)}
    for L in range(2):
        b = f"blocks.{L}"
        t.update({
            f"{b}.ln1.w": np.ones(d), f"{b}.ln1.b": np.zeros(d),
            f"{b}.attn.W_Q": np.zeros((d, d)), f"{b}.attn.W_K": np.zeros((d, d)), f"{b}.attn.W_V": np.zeros((d, d)),
            f"{b}.attn.W_O": np.zeros((d, d)),
            f"{b}.attn.b_Q": b_Q[L], f"{b}.attn.b_K": b_K[L], f"{b}.attn.b_V": b_V, f"{b}.attn.b_O": b_O[L],
            f"{b}.ln2.w": np.ones(d), f"{b}.ln2.b": np.zeros(d),
            f"{b}.mlp.W_in": np.zeros((d, m)), f"{b}.mlp.b_in": np.zeros(m),
            f"{b}.mlp.W_out": rng.standard_normal((m, d)), f"{b}.mlp.b_out": np.zeros(d),
        })
    b_f = np.zeros(d)
    b_f[0] = 40.0
    t.update({"ln_final.w": np.zeros(d), "ln_final.b": b_f})
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}, str(path / "model.safetensors"))
    config = {
        "format_version": 1,
        "name": "known",
        "dtype": "float32",
        "model": {"vocab_size": V, "n_layer": 2, "n_head": H, "d_model": d, "n_ctx": n_ctx, "d_mlp": m,
                  "architecture": "gpt2"},
        "card": card if card is not None else {"description": "weights set by hand for tests"},
    }
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (path / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    scores = {(L, hd): float(b_Q[L][hd * dh:(hd + 1) * dh] @ b_K[L][hd * dh:(hd + 1) * dh]) / SQRT8
              for L in range(2) for hd in range(H)}
    return Known(path=path, n_ctx=n_ctx, target=target, runner_up=runner_up,
                 logits=40.0 * W_E[:, 0].astype(np.float32).astype(np.float64), scores=scores,
                 z_rows={hd: b_V[hd * dh:(hd + 1) * dh] for hd in range(H)}, attn_out=b_O)


# ---- a model that copies one token forward ---------------------------------------------------

def copy_model(vocab_size: int, key_id: int, target_id: int, d_model: int = 8) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """One layer, one head, no positions, whose attention is uniform (W_Q = W_K = 0).

    Only token `key_id` has anything in dimension 0; the value/output path copies that
    dimension (averaged over the tokens the last one sees) into dimension 1, and only
    `target_id`'s unembedding reads dimension 1. So `target_id` is predicted exactly when
    `key_id` is in the text, the more strongly the fewer other tokens dilute it.
    """
    config = ModelConfig(vocab_size=vocab_size, n_layer=1, n_head=1, d_model=d_model, n_ctx=32, d_mlp=4,
                         norm="rmsnorm", positions="none", attn_bias=False, mlp_bias=False, tied_embeddings=False)
    rng = np.random.default_rng(7)
    d, dh = d_model, config.d_head
    W_E = np.zeros((vocab_size, d))
    W_E[:, 2:] = rng.normal(size=(vocab_size, d - 2))  # every token has some content, none in dims 0 and 1
    W_E[key_id, 0] = 6.0
    W_V = np.zeros((d, dh))
    W_V[0, 0] = 1.0
    W_O = np.zeros((dh, d))
    W_O[0, 1] = 20.0
    W_U = np.zeros((d, vocab_size))
    W_U[1, target_id] = 4.0
    params = {
        "embed.W_E": W_E,
        "blocks.0.ln1.w": np.ones(d), "blocks.0.ln2.w": np.ones(d), "ln_final.w": np.ones(d),
        "blocks.0.attn.W_Q": np.zeros((d, dh)), "blocks.0.attn.W_K": np.zeros((d, dh)),
        "blocks.0.attn.W_V": W_V, "blocks.0.attn.W_O": W_O,
        "blocks.0.mlp.W_in": np.zeros((d, 4)), "blocks.0.mlp.W_out": np.zeros((4, d)),
        "unembed.W_U": W_U,
    }
    return config, {k: v.astype(np.float32) for k, v in params.items()}


def save_copy_model(path: Path, tokenizer_json: str, vocab_size: int, key_id: int, target_id: int) -> Path:
    config, params = copy_model(vocab_size, key_id, target_id)
    native.save(path, config, params, tokenizer_json, name="copy", card={"description": "test: copies one token forward"},
                dtype="float32")
    return path


# ---- a Hugging Face folder -------------------------------------------------------------------

def hf_llama_files(tokenizer_json: str, vocab_size: int, **config: Any) -> dict[str, bytes]:
    """config.json (its keys updated by `config`), model.safetensors and tokenizer.json of a one-layer
    random Llama in a Hugging Face folder, as bytes: name -> contents."""
    d, m, rng = 16, 24, np.random.default_rng(3)
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": vocab_size, "hidden_size": d,
           "intermediate_size": m, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
           "max_position_embeddings": 32, "rms_norm_eps": 1e-5, "tie_word_embeddings": True, **config}
    shapes = {"model.embed_tokens.weight": (vocab_size, d), "model.norm.weight": (d,),
              "model.layers.0.input_layernorm.weight": (d,), "model.layers.0.post_attention_layernorm.weight": (d,),
              "model.layers.0.self_attn.q_proj.weight": (d, d), "model.layers.0.self_attn.k_proj.weight": (d // 2, d),
              "model.layers.0.self_attn.v_proj.weight": (d // 2, d), "model.layers.0.self_attn.o_proj.weight": (d, d),
              "model.layers.0.mlp.gate_proj.weight": (m, d), "model.layers.0.mlp.up_proj.weight": (m, d),
              "model.layers.0.mlp.down_proj.weight": (d, m)}
    tensors = {k: (0.3 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    return {"config.json": json.dumps(cfg).encode(), "model.safetensors": save(tensors),
            "tokenizer.json": tokenizer_json.encode()}


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    """Write name -> contents into `folder` (made if needed); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


# ---- editing a saved model -------------------------------------------------------------------

def rewrite_tensors(path: Path, change) -> None:
    """Load model.safetensors, let `change` edit the dict of arrays, write it back."""
    file = path / "model.safetensors"
    tensors = load_file(str(file))
    change(tensors)
    save_file(tensors, str(file))


def edit_config(path: Path, change) -> Path:
    """Let `change` edit config.json's document in place; returns the file's path."""
    cfg = path / "config.json"
    doc = json.loads(cfg.read_text())
    change(doc)
    cfg.write_text(json.dumps(doc))
    return cfg


# one model config per kind of block: a GPT-2, a GQA Llama, a Gemma-like with sliding layers, a partial rotary
CONFIGS = {
    "gpt2": dict(n_layer=2, n_head=2, d_model=16, n_ctx=40),
    "llama-gqa": dict(n_layer=2, n_head=4, n_kv_head=2, d_model=16, n_ctx=40, norm="rmsnorm", positions="rotary",
                      mlp="swiglu", activation="silu", attn_bias=False, mlp_bias=False, tied_embeddings=False),
    "gemma-like": dict(n_layer=3, n_head=2, n_kv_head=1, d_model=16, d_head=8, n_ctx=40, norm="rmsnorm",
                       positions="rotary", mlp="swiglu", activation="gelu_tanh", attn_bias=False, mlp_bias=False,
                       qk_norm=True, norm_plus_one=True, sandwich_norms=True, scale_embed=True, query_pre_attn_scalar=6.0,
                       sliding_window=3, sliding_layers=(0, 1), rope_local_theta=100.0),
    "phi-like": dict(n_layer=2, n_head=2, d_model=16, n_ctx=40, norm="rmsnorm", positions="rotary", rope_dims=4,
                     mlp="swiglu", activation="silu", attn_bias=False, mlp_bias=False,
                     rope_freq_factors=(1.0, 4.0)),
}


def float32_copy(model: Model) -> Model:
    """The same model with every weight a float32 array (the values its blocks give)."""
    params = {name: dense(w).copy() for name, w in model.params.items()}
    return Model(model.config, params, model.tokenizer, model.name, model.source, model.card)
