"""attncli's own format: a directory of config.json, model.safetensors and tokenizer.json.

config.json carries `format_version` (the lowest that states the model: each field of
config.ModelConfig says the version that added it), the hyperparameters
under "model", and provenance under "card". Tensors are float16 or float32, named as in
`config.param_shapes`, stored [in, out] for x @ W. Nothing is trusted before it is checked:
every tensor present, with its shape, a float dtype, and finite values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config import READABLE_VERSIONS, ModelConfig, param_shapes
from ..errors import ModelError
from ..model import Model, Params
from ..tokenizer import Tokenizer
from .common import (
    NATIVE_DTYPES,
    Held,
    Safetensors,
    check_vocab,
    open_safetensors,
    read_json_object,
    regular,
    require_files,
)

FILES = ("config.json", "model.safetensors", "tokenizer.json")


def detect(path: Path) -> bool:
    """A directory whose config.json carries attncli's `format_version`."""
    if not (path / "config.json").is_file():
        return False
    try:
        return "format_version" in read_json_object(path / "config.json")
    except (OSError, ModelError):
        return False


SIZES = ("n_layer", "d_model", "n_head", "n_kv_head", "d_head", "d_mlp", "vocab_size", "type_vocab_size")


def read_config(path: Path, held: Held | None = None) -> tuple[ModelConfig, dict[str, Any]]:
    """config.json's hyperparameters, checked against `held`, the weights file's tensors, when given."""
    cfg_path = path / "config.json"
    doc = read_json_object(cfg_path)
    version = doc.get("format_version")
    if "format_version" not in doc:  # not attncli's own config, nor (without model_type) a Hugging Face one
        raise ModelError(f"{cfg_path}: neither format_version (attncli's own config) nor model_type (a Hugging Face "
                         "config, e.g. \"model_type\": \"llama\"); restore config.json")
    if type(version) is not int or version not in READABLE_VERSIONS:  # true and 1.0 are not 1
        readable = f"{READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}"
        raise ModelError(
            f"{cfg_path}: format_version {version!r} is not supported (this attncli reads versions {readable}); "
            "upgrade attncli or re-export the model"
        )
    hp = doc.get("model")
    if not isinstance(hp, dict):
        raise ModelError(f"{cfg_path}: missing the \"model\" object of hyperparameters")
    if held is not None:
        sizes = {k: hp[k] for k in SIZES if k in hp}
        if hp.get("positions", "learned") == "learned":  # a rotary model's context has no tensor to check
            sizes["n_ctx"] = hp.get("n_ctx")
        held.check(cfg_path, sizes, "n_layer", ("blocks.",))
    return ModelConfig.from_dict(hp, source=str(cfg_path), version=version), doc


def read_tensors(f: Safetensors, file: Path, config: ModelConfig) -> Params:
    expected = param_shapes(config)
    names = f.keys()
    missing = [n for n in expected if n not in names]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ModelError(f"{file}: tensor {missing[0]}{more} missing; the file does not match config.json")
    extra = sorted(names - set(expected))
    if extra:
        raise ModelError(f"{file}: unexpected tensor {extra[0]}; the file does not match config.json")
    return {name: f.tensor(name, shape) for name, shape in expected.items()}


def load(path: Path, name: str | None = None) -> Model:
    require_files(path, FILES, "a model directory")
    file = path / "model.safetensors"
    with open_safetensors(file, NATIVE_DTYPES) as f:
        config, doc = read_config(path, Held.of(f, file))
        params = read_tensors(f, file, config)
    tokenizer = Tokenizer.from_file(regular(path / "tokenizer.json"))
    if config.is_encoder:  # its tokenizer.json's template ([CLS] ... [SEP]) around every text, [MASK] its mask
        tokenizer = tokenizer.for_encoder()
    check_vocab(tokenizer, config, path / "tokenizer.json")
    card = doc.get("card") if isinstance(doc.get("card"), dict) else {}
    return Model(config=config, params=params, tokenizer=tokenizer, name=name or doc.get("name") or path.name,
                 source=str(path), card=card)


def save(path: Path, config: ModelConfig, params: Params, tokenizer_json: str, *, name: str,
         card: dict[str, Any] | None = None, dtype: str = "float32") -> None:
    """Write a model directory that `load` reads back (the files are replaced, not merged).

    Each file is replaced whole or not at all (atomic.py); an OSError (a full disk) leaves the
    file it was writing as it was.
    """
    from .. import atomic  # tempfile and threading: loading never pays for them

    expected = param_shapes(config)
    if set(params) != set(expected):
        raise ModelError(f"cannot save: parameters differ from the config ({sorted(set(params) ^ set(expected))[:3]})")
    np_dtype = {"float32": np.float32, "float16": np.float16}[dtype]
    if dtype == "float16":
        limit = float(np.finfo(np.float16).max)
        for n in expected:
            if np.abs(params[n]).max() > limit:
                raise ModelError(f"cannot save as float16: tensor {n} has values beyond float16's range (±{limit:g}); "
                                 "save as float32 (attn train --dtype float32)")
    path.mkdir(parents=True, exist_ok=True)
    tensors = {n: np.ascontiguousarray(params[n], dtype=np_dtype) for n in expected}
    version = str(config.format_version)
    atomic.save_safetensors(tensors, path / "model.safetensors", {"format": "attncli", "format_version": version})
    doc = {"format_version": config.format_version, "name": name, "dtype": dtype, "model": config.to_dict(),
           "card": card or {}}
    atomic.write_text(path / "config.json", json.dumps(doc, indent=2) + "\n")
    atomic.write_text(path / "tokenizer.json", tokenizer_json)
