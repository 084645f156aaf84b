"""Hugging Face model directories: config.json + model.safetensors (or the shards that
model.safetensors.index.json lists) + a tokenizer, dispatched on config.json's `model_type` to
the family that maps its names and shapes onto attncli's.

A family is one entry of FAMILIES: model_type -> the module (imported only when used) that
provides `read_config(doc, cfg_path) -> ModelConfig` and `read_tensors(f, where, config) -> Params`
(f a common.Shards: `keys()` and `tensor(key, shape)`). What every family shares (the files,
the tokenizer and its BOS, the vocabulary check, the card) is here, once.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..model import Model
from ..tokenizer import Tokenizer, post_processor_bos
from .common import INDEX, check_vocab, open_shards, read_json_object

# model_type -> module in this package
FAMILIES: dict[str, str] = {
    "gpt2": "hf_gpt2",
    "llama": "hf_llama",
    "mistral": "hf_llama",
    "qwen2": "hf_llama",
    "qwen3": "hf_llama",
    "gemma3_text": "hf_llama",
    "gemma3": "hf_llama",  # the multimodal folder: its text_config and language model, without the vision tower
    "phi3": "hf_llama",
}


def detect(path: Path) -> bool:
    """A directory whose config.json names a `model_type` (and is not attncli's own format)."""
    try:
        doc = read_json_object(path / "config.json")
    except (OSError, ModelError):
        return False
    return "format_version" not in doc and "model_type" in doc


def family(doc: dict[str, Any], cfg_path: Path) -> Any:
    model_type = doc.get("model_type")
    if model_type not in FAMILIES:
        raise ModelError(f"{cfg_path}: model_type {model_type!r} is not supported in a Hugging Face directory; "
                         f"attncli reads {', '.join(FAMILIES)} directories, and GGUF files of the same families")
    return importlib.import_module(f".{FAMILIES[model_type]}", __package__)


def read_bos(path: Path, backend: Any) -> int | None:
    """The id put before every text, or None: tokenizer_config.json's add_bos_token and bos_token
    when it says, else what tokenizer.json's post-processor adds (as transformers decides)."""
    cfg_path = path / "tokenizer_config.json"
    cfg = read_json_object(cfg_path) if cfg_path.is_file() else {}
    add = cfg.get("add_bos_token")
    if not isinstance(add, bool):
        return post_processor_bos(backend)
    if not add:
        return None
    bos = cfg.get("bos_token")
    bos = bos.get("content") if isinstance(bos, dict) else bos
    bos_id = backend.token_to_id(bos) if isinstance(bos, str) else None
    if bos_id is None:
        raise ModelError(f"{cfg_path}: add_bos_token is true but bos_token {bos!r} is not a token of tokenizer.json; "
                         "restore the tokenizer files")
    return bos_id


def read_tokenizer(path: Path) -> Tokenizer:
    """tokenizer.json if present, else GPT-2's byte-level BPE from vocab.json + merges.txt."""
    if (path / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(path / "tokenizer.json")
        bos = read_bos(path, tok.backend)
        return Tokenizer(tok.backend, tok.source, bos_id=bos, add_bos=bos is not None)
    vocab, merges = path / "vocab.json", path / "merges.txt"
    if not (vocab.is_file() and merges.is_file()):
        raise ModelError(f"{path}: no tokenizer; a Hugging Face directory needs tokenizer.json, or vocab.json and merges.txt")
    from tokenizers import AddedToken, decoders, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE

    try:
        backend = HFTokenizer(BPE.from_file(str(vocab), str(merges)))
    except Exception as e:  # the Rust side raises a bare Exception on a bad file
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{path}: vocab.json or merges.txt is not a valid BPE vocabulary ({first}); restore them") from None
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    if backend.token_to_id("<|endoftext|>") is not None:
        backend.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    return Tokenizer(backend, source=f"{vocab} + {merges.name}")


def load(path: Path, name: str | None = None) -> Model:
    cfg_path = path / "config.json"
    doc = read_json_object(cfg_path)
    fam = family(doc, cfg_path)
    single, index = path / "model.safetensors", path / INDEX
    if not single.is_file() and not index.is_file():
        hint = " (pytorch_model.bin is a pickle, which attncli never loads; save with safe_serialization=True)" \
            if (path / "pytorch_model.bin").exists() else ""
        raise ModelError(f"{path}: missing model.safetensors (or {INDEX} and its shards){hint}")
    config = fam.read_config(doc, cfg_path)
    with open_shards(path) as f:
        params = fam.read_tensors(f, single if single.is_file() else index, config)
    tokenizer = read_tokenizer(path)
    check_vocab(tokenizer, config, path)
    card = {"format": f"huggingface-{doc['model_type']}", "name_or_path": doc.get("_name_or_path") or None,
            "transformers_version": doc.get("transformers_version"),
            "bos_token_id": tokenizer.bos_id if tokenizer.add_bos else None}
    return Model(config=config, params=params, tokenizer=tokenizer, name=name or path.name, source=str(path),
                 card={k: v for k, v in card.items() if v is not None and v != ""})
