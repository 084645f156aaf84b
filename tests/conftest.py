"""Every shared fixture: a trained tokenizer, random weights, and saved model directories.

Everything here is built for real (a trained byte-level BPE, weights written with
`native.save`), so any test, the CLI's included, can point `--model` at these dirs. The
models themselves are made in known_models.py; test modules import no fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attncli.checkpoints import native
from attncli.config import ModelConfig
from attncli.train.bpe import train_bpe
from helpers.known_models import PROVISIONAL_NOTE, TINY_GPT2, Known, make_known_model, random_params

# A few lines of text to learn merges from; words repeat so " like", " do", " not" become tokens.
CORPUS = [
    "I do not like spinach.",
    "I do like green eggs and ham.",
    "We do not like it here, we like it there.",
    "Do you like tea? I like tea and I like coffee.",
    "The cat sat on the mat and the dog sat on the log.",
] * 3
BPE_VOCAB = 300  # byte-level BPE starts from 256 bytes + 1 special token, so this leaves ~40 merges


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


@pytest.fixture(scope="session")
def known(tmp_path_factory, tokenizer_json) -> Known:
    """The hand-set model of make_known_model, context 16; shared, so do not modify it."""
    return make_known_model(tmp_path_factory.mktemp("known"), tokenizer_json)


@pytest.fixture(scope="session")
def provisional_dir(tmp_path_factory, tokenizer_json) -> Path:
    """The known model again, its card marked provisional with PROVISIONAL_NOTE."""
    card = {"provisional": True, "description": PROVISIONAL_NOTE}
    return make_known_model(tmp_path_factory.mktemp("prov"), tokenizer_json, card=card).path


@pytest.fixture(scope="session")
def bundled_model():
    """The model that ships with attncli, loaded once."""
    from attncli.checkpoints import load

    return load(None)



@pytest.fixture(scope="session")
def smollm2_model():
    """SmolLM2-135M from its pulled GGUF, loaded once for every test that needs it (skips if not pulled)."""
    from attncli import registry
    from attncli.checkpoints import load
    from attncli.errors import ModelError

    try:
        registry.resolve("smollm2")
    except ModelError:
        pytest.skip("SmolLM2 is not pulled (run: attn models pull smollm2; CI pulls it)")
    return load("smollm2")


@pytest.fixture(scope="session")
def smollm2_transformers(smollm2_model):
    """(torch, transformers' model, its tokenizer) loaded from the same GGUF, once per session."""
    from attncli import registry
    from helpers.references import need, transformers_from_gguf

    torch = need("torch")
    need("transformers")
    need("accelerate")
    model, tokenizer = transformers_from_gguf(registry.resolve("smollm2"))
    return torch, model, tokenizer
