"""attncli's own format: a directory of config.json, model.safetensors and tokenizer.json.

config.json carries `format_version` (see config.FORMAT_VERSION), the hyperparameters
under "model", and provenance under "card". Tensors are float16 or float32, named as in
`model.param_shapes`, stored [in, out] for x @ W. Nothing is trusted before it is checked:
every tensor present, with its shape, a float dtype, and finite values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config import FORMAT_VERSION, ModelConfig
from ..errors import ModelError
from ..model import Model, Params, param_shapes
from ..tokenizer import Tokenizer

FILES = ("config.json", "model.safetensors", "tokenizer.json")
DTYPES = {"F16": np.float16, "F32": np.float32}


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (every format's config.json)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not valid JSON ({e}); restore the file or re-export the model") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return doc


def checked_tensor(f: Any, file: Path, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """Tensor `key` of an open safetensors file, as float32, once its dtype, shape and values pass."""
    sl = f.get_slice(key)
    got_shape, dtype = tuple(sl.get_shape()), sl.get_dtype()
    if dtype not in DTYPES:
        raise ModelError(f"{file}: tensor {key} is {dtype}; expected float16 or float32")
    if got_shape != shape:
        raise ModelError(f"{file}: tensor {key} has shape {list(got_shape)}; config.json implies {list(shape)}")
    arr = np.ascontiguousarray(f.get_tensor(key), dtype=np.float32)
    # A float64 sum of float32 values cannot overflow, so it is finite exactly when every
    # value is: one cheap pass instead of a boolean array per tensor.
    if not np.isfinite(arr.sum(dtype=np.float64)):
        raise ModelError(f"{file}: tensor {key} holds NaN or infinite values; the weights are corrupt, retrain or restore them")
    return arr


def read_config(path: Path) -> tuple[ModelConfig, dict[str, Any]]:
    cfg_path = path / "config.json"
    doc = read_json_object(cfg_path)
    version = doc.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:  # true and 1.0 are not 1
        raise ModelError(
            f"{cfg_path}: format_version {version!r} is not supported (this attncli reads version {FORMAT_VERSION}); "
            "upgrade attncli or re-export the model"
        )
    hp = doc.get("model")
    if not isinstance(hp, dict):
        raise ModelError(f"{cfg_path}: missing the \"model\" object of hyperparameters")
    return ModelConfig.from_dict(hp, source=str(cfg_path)), doc


def read_tensors(file: Path, config: ModelConfig) -> Params:
    from safetensors import SafetensorError, safe_open

    expected = param_shapes(config)
    params: Params = {}
    try:
        with safe_open(str(file), framework="np") as f:
            names = set(f.keys())
            missing = [n for n in expected if n not in names]
            if missing:
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                raise ModelError(f"{file}: tensor {missing[0]}{more} missing; the file does not match config.json")
            extra = sorted(names - set(expected))
            if extra:
                raise ModelError(f"{file}: unexpected tensor {extra[0]}; the file does not match config.json")
            for name, shape in expected.items():
                params[name] = checked_tensor(f, file, name, shape)
    except SafetensorError as e:
        raise ModelError(f"{file}: not a readable safetensors file ({e}); it may be truncated or corrupt, restore it") from None
    except (OSError, ValueError) as e:
        raise ModelError(f"{file}: cannot read it ({e}); it may be truncated or corrupt, restore it") from None
    return params


def load(path: Path, name: str | None = None) -> Model:
    for fname in FILES:
        if not (path / fname).is_file():
            raise ModelError(f"{path}: missing {fname}; a model directory needs {', '.join(FILES)}")
    config, doc = read_config(path)
    params = read_tensors(path / "model.safetensors", config)
    tokenizer = Tokenizer.from_file(path / "tokenizer.json")
    if tokenizer.vocab_size > config.vocab_size:
        raise ModelError(
            f"{path / 'tokenizer.json'}: {tokenizer.vocab_size} tokens but config.json says vocab_size {config.vocab_size}; they belong to different models"
        )
    card = doc.get("card") if isinstance(doc.get("card"), dict) else {}
    return Model(config=config, params=params, tokenizer=tokenizer, name=name or doc.get("name") or path.name,
                 source=str(path), card=card)


def save(path: Path, config: ModelConfig, params: Params, tokenizer_json: str, *, name: str,
         card: dict[str, Any] | None = None, dtype: str = "float32") -> None:
    """Write a model directory that `load` reads back (the files are replaced, not merged)."""
    from safetensors.numpy import save_file

    expected = param_shapes(config)
    if set(params) != set(expected):
        raise ModelError(f"cannot save: parameters differ from the config ({sorted(set(params) ^ set(expected))[:3]})")
    np_dtype = {"float32": np.float32, "float16": np.float16}[dtype]
    if dtype == "float16":
        limit = float(np.finfo(np.float16).max)
        for n in expected:
            if np.abs(params[n]).max() > limit:
                raise ModelError(f"cannot save as float16: tensor {n} has values beyond float16's range (±{limit:g}); save as float32")
    path.mkdir(parents=True, exist_ok=True)
    tensors = {n: np.ascontiguousarray(params[n], dtype=np_dtype) for n in expected}
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "attncli", "format_version": str(FORMAT_VERSION)})
    doc = {"format_version": FORMAT_VERSION, "name": name, "dtype": dtype, "model": config.to_dict(), "card": card or {}}
    (path / "config.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (path / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
