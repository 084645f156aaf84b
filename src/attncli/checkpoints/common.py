"""What every loader shares: reading a JSON object, checked safetensors tensors (one file or a
sharded folder, float16, bfloat16 or float32), and the tokenizer-against-vocabulary check,
each written once with one message."""

from __future__ import annotations

import json
import math
import stat
import struct
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeGuard

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from ..config import ModelConfig
    from ..tokenizer import Tokenizer

# safetensors dtype -> its name in messages: attncli's own files hold the first two, Hugging Face's all three
FLOAT_DTYPES = {"F16": "float16", "F32": "float32", "BF16": "bfloat16"}
NATIVE_DTYPES = ("F16", "F32")
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


KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


def regular(path: Path) -> Path:
    """`path` if it is a regular file (or a link to one): a model file is never read from anything else.
    Reading a FIFO waits for a writer forever, and a device or a socket holds no model. Whatever cannot be
    looked at is left to the open that follows, which says why."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return path
    if not stat.S_ISREG(mode):
        kind = next((what for test, what in KINDS if test(mode)), "not a regular file")
        raise ModelError(f"{path}: is {kind}, not a regular file; pass a model file or folder that holds one")
    return path


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (every format's config.json)."""
    regular(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not valid JSON ({e}); restore the file or re-export the model") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return doc


def require_files(path: Path, files: tuple[str, ...], what: str) -> None:
    for fname in files:
        if not regular(path / fname).is_file():
            raise ModelError(f"{path}: missing {fname}; {what} needs {', '.join(files)}")


class Safetensors:
    """An open safetensors file whose tensors come out as float32 once their dtype, shape and values pass."""

    def __init__(self, f: Any, file: Path, dtypes: tuple[str, ...] = tuple(FLOAT_DTYPES)) -> None:
        self.f, self.file, self.dtypes = f, file, dtypes
        self._keys = set(f.keys())
        self._header: dict[str, Any] | None = None  # read on the first bfloat16 tensor

    def keys(self) -> set[str]:
        return self._keys

    def shape(self, key: str) -> tuple[int, ...]:
        """Tensor `key`'s shape, from the header: nothing is read."""
        return tuple(self.f.get_slice(key).get_shape())

    def tensor(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor `key` as contiguous float32, once its dtype, shape and values pass."""
        sl = self.f.get_slice(key)
        got_shape, dtype = tuple(sl.get_shape()), sl.get_dtype()
        if dtype not in self.dtypes:
            names = [FLOAT_DTYPES[t] for t in self.dtypes]
            raise ModelError(f"{self.file}: tensor {key} is {dtype}; expected {', '.join(names[:-1])} or {names[-1]}")
        if got_shape != shape:
            raise ModelError(f"{self.file}: tensor {key} has shape {list(got_shape)}; "
                             f"config.json implies {list(shape)}")
        arr = self._bf16(key, shape) if dtype == "BF16" else widen(self.f.get_tensor(key))
        # A float64 sum of float32 values cannot overflow, so it is finite exactly when every
        # value is: one cheap pass instead of a boolean array per tensor.
        if not np.isfinite(arr.sum(dtype=np.float64)):
            raise ModelError(f"{self.file}: tensor {key} holds NaN or infinite values; the weights are corrupt, "
                             "retrain or restore them")
        return arr

    def _bf16(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """numpy has no bfloat16, so its bytes are read from the file (whose header safetensors has
        checked) and widened exactly: a bfloat16 is the top half of the float32 of the same value."""
        if self._header is None:
            with open(self.file, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                self._header = {"start": 8 + n, **json.loads(fh.read(n))}
        begin, end = self._header[key]["data_offsets"]
        bits = np.fromfile(self.file, dtype="<u2", count=(end - begin) // 2, offset=self._header["start"] + begin)
        return (bits.astype(np.uint32) << 16).view(np.float32).reshape(shape)  # [shape]


@contextmanager
def open_safetensors(file: Path, dtypes: tuple[str, ...] = tuple(FLOAT_DTYPES)) -> Iterator[Safetensors]:
    """A Safetensors over `file` whose every failure (bad header, truncated data, unreadable) is one ModelError."""
    from safetensors import SafetensorError, safe_open

    regular(file)
    try:
        with safe_open(str(file), framework="np") as f:
            yield Safetensors(f, file, dtypes)
    except SafetensorError as e:
        raise ModelError(f"{file}: not a readable safetensors file ({e}); "
                         "it may be truncated or corrupt, restore it") from None
    except (OSError, ValueError) as e:
        raise ModelError(f"{file}: cannot read it ({e}); it may be truncated or corrupt, restore it") from None


class Shards:
    """The tensors of a Hugging Face folder, from model.safetensors or from the shards that
    model.safetensors.index.json maps each key to; `keys` and `tensor` as Safetensors'."""

    def __init__(self, files: dict[str, Safetensors]) -> None:
        self.files = files  # key -> the open file that holds it

    def keys(self) -> set[str]:
        return set(self.files)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.files[key].shape(key)

    def tensor(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        return self.files[key].tensor(key, shape)


INDEX = "model.safetensors.index.json"


@contextmanager
def open_shards(folder: Path) -> Iterator[Shards]:
    """model.safetensors, else the shards model.safetensors.index.json lists (each opened once)."""
    index_path = folder / INDEX
    if (folder / "model.safetensors").is_file() or not index_path.is_file():
        with open_safetensors(folder / "model.safetensors") as f:
            yield Shards({k: f for k in f.keys()})
        return
    weight_map = read_json_object(index_path).get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ModelError(f"{index_path}: no weight_map of tensor names to shard files; restore the file")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if Path(shard).name != shard or not shard.endswith(".safetensors"):  # names only: nothing outside the folder
            raise ModelError(f"{index_path}: shard {shard!r} is not a .safetensors file name in the folder")
        if not regular(folder / shard).is_file():
            raise ModelError(f"{folder}: missing {shard}, listed in {INDEX}; download the model again")
    with ExitStack() as stack:
        opened = {shard: stack.enter_context(open_safetensors(folder / shard)) for shard in shards}
        files = {}
        for key, shard in weight_map.items():
            if key not in opened[shard].keys():
                raise ModelError(f"{folder / shard}: tensor {key}, which {INDEX} puts there, is missing; "
                                 "download the model again")
            files[key] = opened[shard]
        yield Shards(files)


def positive(value: Any, key: str, source: Path | str, fix: str = "restore config.json", zero: bool = False) -> float:
    """A number a config states that must be finite and positive (a rotary base, a norm's epsilon, a scaling
    factor; 0 too where `zero` says it means "none"): NaN, infinity or a negative one would run, and give
    numbers that mean nothing (a rotary base of infinity turns no position at all)."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and (value > 0 or zero and value == 0)):
        must = "0 or a positive number" if zero else "a positive number"
        raise ModelError(f"{source}: {key} is {value!r}; it must be {must}, {fix}")
    return float(value)


def require_keys(doc: dict[str, Any], keys: tuple[str, ...], cfg_path: Path) -> None:
    """The sizes a saved config.json always states (transformers writes every key its class adds): one that
    is missing is refused, not taken from transformers' defaults, which the weights need not match."""
    missing = [k for k in keys if k not in doc]
    if missing:
        raise ModelError(f"{cfg_path}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; a "
                         f"{doc.get('model_type')} config.json states {'it' if len(missing) == 1 else 'them'}, "
                         "restore it")


def refuse_unsupported(hp: dict[str, Any], refused: tuple, cfg_path: Path) -> None:
    """A config.json setting attncli does not compute (each a (key, is_bad, what) of the loader's
    REFUSED table) stops the load in one line naming it, rather than giving wrong numbers."""
    for key, bad, what in refused:
        if key in hp and bad(hp[key]):
            raise ModelError(f"{cfg_path}: {key} is {hp[key]!r}: {what} is not supported; attncli cannot compute "
                             "this model exactly")


def check_vocab(tokenizer: "Tokenizer", config: "ModelConfig", where: Path | str) -> None:
    """A tokenizer with more entries than the embedding has rows belongs to another model."""
    if tokenizer.vocab_size > config.vocab_size:
        raise ModelError(f"{where}: the tokenizer has {tokenizer.vocab_size} tokens but the model's config says "
                         f"vocab_size {config.vocab_size}; they belong to different models")


class Held(NamedTuple):
    """The tensors a weights file holds, name -> shape, to check a config's sizes against before anything is
    built or allocated from them: a config cannot have more layers than the file has tensors for, nor a size
    larger than every tensor's every dimension (a billion layers or heads would otherwise be built first)."""

    where: str  # what holds them, for messages: "model.safetensors", "the file"
    shapes: dict[str, tuple[int, ...]]
    fix: str = "the config does not match the weights, restore it"

    @classmethod
    def of(cls, f: Any, where: Path) -> "Held":
        """The tensors of an open Safetensors or Shards (their shapes come from the header)."""
        return cls(where.name, {key: f.shape(key) for key in f.keys()})

    def layers(self, prefixes: tuple[str, ...]) -> int:
        """How many layers the tensors named PREFIX + N + "." number: the largest N + 1 (0 for none)."""
        n = 0
        for key in self.shapes:
            for prefix in prefixes:
                index = key[len(prefix):].split(".", 1)[0] if key.startswith(prefix) else ""
                if index.isascii() and index.isdigit():
                    n = max(n, int(index) + 1)
        return n

    def check(self, source: Path | str, sizes: dict[str, Any], layers: str, prefixes: tuple[str, ...]) -> None:
        """`sizes`, each config key -> its value as the config states it, against the tensors: `layers` is the
        key of the layer count, whose tensors are named with one of `prefixes`. A value that is not an integer
        is left to the config's own checks."""
        def integer(v: Any) -> TypeGuard[int | np.integer]:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        n, held = sizes.get(layers), self.layers(prefixes)
        if integer(n) and n > held:
            raise ModelError(f"{source}: {layers} is {n}, but {self.where} holds the tensors of {held} "
                             f"layer{'s' if held != 1 else ''}; {self.fix}")
        largest = max((d for shape in self.shapes.values() for d in shape), default=0)
        for key, value in sizes.items():
            if key != layers and integer(value) and value > largest:
                raise ModelError(f"{source}: {key} is {value}, more than any dimension of any tensor in "
                                 f"{self.where} ({largest} at the most); {self.fix}")
