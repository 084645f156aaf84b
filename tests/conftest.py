"""Shared fixtures: tiny configs, random weights and saved model directories with a real BPE.

Everything here is built for real (a trained byte-level BPE, weights written with
`native.save`), so any test, the CLI's included, can point `--model` at these dirs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attncli.checkpoints import native
from attncli.config import ModelConfig
from attncli.config import param_shapes
from attncli.train.bpe import train_bpe

# A few lines of text to learn merges from; words repeat so " like", " do", " not" become tokens.
CORPUS = [
    "I do not like spinach.",
    "I do like green eggs and ham.",
    "We do not like it here, we like it there.",
    "Do you like tea? I like tea and I like coffee.",
    "The cat sat on the mat and the dog sat on the log.",
] * 3
BPE_VOCAB = 300  # byte-level BPE starts from 256 bytes + 1 special token, so this leaves ~40 merges

# The bundled model's architecture in miniature.
TINY_GPT2 = dict(n_layer=2, n_head=2, d_model=16, n_ctx=32)


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


@pytest.fixture(scope="session")
def make_params() -> Callable[..., dict[str, np.ndarray]]:
    """random_params(config, seed=0, dtype=np.float32, scale=0.3) as a fixture."""
    return random_params


@pytest.fixture(scope="session")
def tokenizer_json() -> str:
    """tokenizer.json text of a byte-level BPE trained on CORPUS (case kept)."""
    return train_bpe(CORPUS, BPE_VOCAB, lowercase=False)


@pytest.fixture(scope="session")
def tokenizer_vocab_size(tokenizer_json: str) -> int:
    from attncli.tokenizer import Tokenizer

    return Tokenizer.from_str(tokenizer_json).vocab_size


@pytest.fixture(scope="session")
def make_model_dir(tmp_path_factory, tokenizer_json: str, tokenizer_vocab_size: int) -> Callable[..., Path]:
    """Factory: make_model_dir(seed=0, dtype="float32", name="tiny", **config_overrides) -> a fresh dir.

    Each call writes a new directory, so a test may corrupt what it gets.
    """

    def make(seed: int = 0, dtype: str = "float32", name: str = "tiny", card: dict | None = None, **overrides: Any) -> Path:
        fields = {"vocab_size": tokenizer_vocab_size, **TINY_GPT2, **overrides}
        config = ModelConfig(**fields)
        path = tmp_path_factory.mktemp("model")
        native.save(path, config, random_params(config, seed), tokenizer_json, name=name,
                    card=card if card is not None else {"description": "test model"}, dtype=dtype)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_model_dir(make_model_dir) -> Path:
    """A saved tiny GPT-2 config model with a trained BPE; shared, so do not modify it."""
    return make_model_dir(seed=1234, name="tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """tiny_model_dir loaded through the public loader."""
    from attncli.checkpoints import load

    return load(tiny_model_dir)
