"""Shared by the tests of --steps, compare, --attribution, --rollout, --head all, --save, --html:
running the CLI in-process, and a hand-built model whose answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from attncli.checkpoints import native
from attncli.cli import app
from attncli.config import ModelConfig

SCHEMA = json.loads((Path(__file__).parents[1] / "src/attncli/schemas/output.schema.json").read_text())


def run(*args: str):
    """(exit code, stdout, stderr) of `attn ARGS`, stdout and stderr kept apart."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def validate(doc: dict) -> None:
    import jsonschema

    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


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
