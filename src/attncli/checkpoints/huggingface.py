"""Hugging Face model directories: config.json + model.safetensors (or the shards that
model.safetensors.index.json lists) + a tokenizer, dispatched on config.json's `model_type` to
the family that maps its names and shapes onto attncli's.

A family is one entry of FAMILIES: model_type -> the module (imported only when used) that
provides `read_config(doc, cfg_path, held) -> ModelConfig` (its sizes checked against `held`, the
tensors the folder holds, before anything is built from them) and `read_tensors(f, where, config) -> Params`
(f a common.Shards: `keys()` and `tensor(key, shape)`), and optionally `settle(config, keys) ->
ModelConfig` for what only the tensors say (whether an encoder has its masked-LM head). What every
family shares (the files, the tokenizer and its special tokens, the vocabulary check, the card, a
sentence-transformers folder's pooling) is here, once.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..model import Model
from ..tokenizer import Tokenizer, post_processor_bos
from .common import INDEX, Held, check_vocab, open_shards, read_json_object, regular

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
    "bert": "hf_bert",
    "distilbert": "hf_bert",
    "roberta": "hf_bert",
    "xlm-roberta": "hf_bert",
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
    cfg = read_json_object(cfg_path) if regular(cfg_path).is_file() else {}
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


def read_tokenizer(path: Path, encoder: bool = False) -> Tokenizer:
    """tokenizer.json if present, else GPT-2's byte-level BPE from vocab.json + merges.txt. An
    encoder's tokenizer puts its post-processor's special tokens around the text ([CLS] ... [SEP])."""
    if regular(path / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(path / "tokenizer.json")
        if encoder:
            return tok.for_encoder()
        bos = read_bos(path, tok.backend)
        return Tokenizer(tok.backend, tok.source, bos_id=bos, add_bos=bos is not None)
    if encoder:
        raise ModelError(f"{path}: no tokenizer.json; attncli reads an encoder's WordPiece or BPE vocabulary, and its "
                         "[CLS]/[SEP] template, from tokenizer.json (save the tokenizer with transformers to get one)")
    vocab, merges = path / "vocab.json", path / "merges.txt"
    if not (regular(vocab).is_file() and regular(merges).is_file()):
        raise ModelError(f"{path}: no tokenizer; a Hugging Face directory needs tokenizer.json, "
                         "or vocab.json and merges.txt")
    from tokenizers import AddedToken, decoders, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE

    try:
        backend = HFTokenizer(BPE.from_file(str(vocab), str(merges)))
    except Exception as e:  # the Rust side raises a bare Exception on a bad file
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{path}: vocab.json or merges.txt is not a valid BPE vocabulary ({first}); "
                         "restore them") from None
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    if backend.token_to_id("<|endoftext|>") is not None:
        backend.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    return Tokenizer(backend, source=f"{vocab} + {merges.name}")


POOLING_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max"}


def read_pooling(path: Path) -> dict[str, Any] | None:
    """A sentence-transformers folder's pooling (modules.json's Pooling module, else 1_Pooling/):
    {"pooling": "mean"|"cls"|"max", "normalize": bool, "from": its config}; None for a folder
    without one. A pooling attncli does not compute (several modes at once, weighted) is refused."""
    modules_path = path / "modules.json"
    modules = []
    if regular(modules_path).is_file():
        import json

        try:
            modules = json.loads(modules_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelError(f"{modules_path}: not valid JSON ({e}); restore the file") from None
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise ModelError(f"{modules_path}: expected a list of modules; restore the file")
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    where = next((str(m.get("path", "")) for m, k in zip(modules, kinds, strict=True) if k == "Pooling"), "1_Pooling")
    cfg_path = path / where / "config.json"
    if Path(where).is_absolute() or ".." in Path(where).parts or not regular(cfg_path).is_file():
        return None
    cfg = read_json_object(cfg_path)
    on = [mode for key, mode in POOLING_MODES.items() if cfg.get(key) is True]
    others = sorted(k for k, v in cfg.items() if k.startswith("pooling_mode_") and k not in POOLING_MODES and v is True)
    if len(on) != 1 or others:
        raise ModelError(f"{cfg_path}: pooling {', '.join(on + others) or 'none'}: attncli computes one of "
                         "cls, mean or max pooling")
    return {"pooling": on[0], "normalize": "Normalize" in kinds, "from": f"{where}/config.json"}


def encoder_card(path: Path, tokenizer: Tokenizer) -> dict[str, Any]:
    """What an encoder's card adds: the special tokens around every text, its mask token, and a
    sentence-transformers folder's pooling."""
    card: dict[str, Any] = {"special_tokens": {"before": [tokenizer.id_to_token(i) for i in tokenizer.before],
                                               "after": [tokenizer.id_to_token(i) for i in tokenizer.after]}}
    if tokenizer.mask_id is not None:
        card["mask_token"] = tokenizer.mask_token
    pooling = read_pooling(path)
    if pooling is not None:
        card["sentence_embedding"] = pooling
    return card


def id_warnings(doc: dict[str, Any], vocab_size: int, cfg_path: Path) -> list[str]:
    """config.json's special token ids that no token has (past the vocabulary): transformers takes them as
    they are; they are said, since the config may not belong to the weights. A negative id means none."""
    out = []
    text = doc.get("text_config")
    for where in (doc, text if isinstance(text, dict) else {}):
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            value = where.get(key)
            for i in value if isinstance(value, list) else [value]:
                if isinstance(i, int) and not isinstance(i, bool) and i >= vocab_size:
                    out.append(f"{cfg_path}: {key} is {i}, past the vocabulary's {vocab_size} tokens: no token has it")
    return out


def load(path: Path, name: str | None = None) -> Model:
    cfg_path = path / "config.json"
    doc = read_json_object(cfg_path)
    fam = family(doc, cfg_path)
    single, index = regular(path / "model.safetensors"), regular(path / INDEX)
    if not single.is_file() and not index.is_file():
        hint = " (pytorch_model.bin is a pickle, which attncli never loads; save with safe_serialization=True)" \
            if (path / "pytorch_model.bin").exists() else ""
        raise ModelError(f"{path}: missing model.safetensors (or {INDEX} and its shards){hint}")
    with open_shards(path) as f:
        config = fam.read_config(doc, cfg_path, Held.of(f, single if single.is_file() else index))
        if hasattr(fam, "settle"):
            config = fam.settle(config, f.keys())
        params = fam.read_tensors(f, single if single.is_file() else index, config)
    tokenizer = read_tokenizer(path, encoder=config.is_encoder)
    check_vocab(tokenizer, config, path)
    card = {"format": f"huggingface-{doc['model_type']}", "name_or_path": doc.get("_name_or_path") or None,
            "transformers_version": doc.get("transformers_version"),
            "bos_token_id": tokenizer.bos_id if tokenizer.add_bos and not config.is_encoder else None}
    if config.is_encoder:
        card.update(encoder_card(path, tokenizer))
    model = Model(config=config, params=params, tokenizer=tokenizer, name=name or path.name, source=str(path),
                  card={k: v for k, v in card.items() if v is not None and v != ""})
    model.warnings = id_warnings(doc, config.vocab_size, cfg_path)
    return model
