"""What every loader shares: reading a JSON object, checking a safetensors tensor, and the
tokenizer-against-vocabulary check, each written once with one message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from ..config import ModelConfig
    from ..tokenizer import Tokenizer

FLOAT_DTYPES = {"F16": np.float16, "F32": np.float32}
_F16_TO_F32: np.ndarray | None = None  # every float16 bit pattern's float32 value, made on first use


def widen(a: np.ndarray) -> np.ndarray:
    """float16 or float32 -> a contiguous float32 array, the same values.

    float16 goes through a 65,536-entry table: about twice as fast as numpy's own conversion,
    and the same (it is that conversion, done once per bit pattern).
    """
    global _F16_TO_F32
    if a.dtype != np.float16:
        return np.ascontiguousarray(a, dtype=np.float32)
    if _F16_TO_F32 is None:
        _F16_TO_F32 = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)  # [65536]
    return _F16_TO_F32[np.ascontiguousarray(a).view(np.uint16)]  # same shape as a


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (every format's config.json)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not valid JSON ({e}); restore the file or re-export the model") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return doc


def require_files(path: Path, files: tuple[str, ...], what: str) -> None:
    for fname in files:
        if not (path / fname).is_file():
            raise ModelError(f"{path}: missing {fname}; {what} needs {', '.join(files)}")


@contextmanager
def open_safetensors(file: Path) -> Iterator[Any]:
    """safe_open(file) whose every failure (bad header, truncated data, unreadable) is one ModelError."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="np") as f:
            yield f
    except SafetensorError as e:
        raise ModelError(f"{file}: not a readable safetensors file ({e}); it may be truncated or corrupt, restore it") from None
    except (OSError, ValueError) as e:
        raise ModelError(f"{file}: cannot read it ({e}); it may be truncated or corrupt, restore it") from None


def checked_tensor(f: Any, file: Path, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """Tensor `key` of an open safetensors file, as float32, once its dtype, shape and values pass."""
    sl = f.get_slice(key)
    got_shape, dtype = tuple(sl.get_shape()), sl.get_dtype()
    if dtype not in FLOAT_DTYPES:
        raise ModelError(f"{file}: tensor {key} is {dtype}; expected float16 or float32")
    if got_shape != shape:
        raise ModelError(f"{file}: tensor {key} has shape {list(got_shape)}; config.json implies {list(shape)}")
    arr = widen(f.get_tensor(key))
    # A float64 sum of float32 values cannot overflow, so it is finite exactly when every
    # value is: one cheap pass instead of a boolean array per tensor.
    if not np.isfinite(arr.sum(dtype=np.float64)):
        raise ModelError(f"{file}: tensor {key} holds NaN or infinite values; the weights are corrupt, retrain or restore them")
    return arr


def check_vocab(tokenizer: "Tokenizer", config: "ModelConfig", where: Path | str) -> None:
    """A tokenizer with more entries than the embedding has rows belongs to another model."""
    if tokenizer.vocab_size > config.vocab_size:
        raise ModelError(f"{where}: the tokenizer has {tokenizer.vocab_size} tokens but the model's config says "
                         f"vocab_size {config.vocab_size}; they belong to different models")
