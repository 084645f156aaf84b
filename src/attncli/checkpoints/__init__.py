"""Loaders, one per checkpoint format, in one registry; each validates, never unpickles.

`load(spec)` takes a path or a name and returns a validated Model:
  None or "bundled"                 the model that ships with attncli (GPT-2-style, next token)
  "bundled-mlm"                     the masked-language model that ships beside it (BERT-style)
  a known name, e.g. "smollm2"      a model fetched by `attn models pull NAME` (see registry.py)
  a path                            the first format in FORMATS whose `detect` accepts it
  org/name, not a path              that model in the local Hugging Face cache (hf_cache.py)
  "ollama:NAME[:TAG]"               that model in Ollama's store (ollama.py)
  "lmstudio:PUBLISHER/REPO[/FILE]"  that model in LM Studio's models folder (lmstudio.py)

A format is a module of this package with `detect(path) -> bool` and
`load(path, name) -> Model`; it is imported only when a path is tried against it, so the
bundled model's path, the one every new user takes, imports no GGUF or network code.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import NamedTuple

from ..errors import ModelError
from ..model import Model

BUNDLED = "bundled"
BUNDLED_MLM = "bundled-mlm"  # in sample_weights/mlm/


class Format(NamedTuple):
    name: str
    module: str  # in this package
    what: str  # for messages: what a path of this format is


# Tried in order; the first whose detect() accepts the path loads it.
FORMATS: tuple[Format, ...] = (
    Format("attncli", "native", "an attncli model directory"),
    Format("huggingface", "huggingface", "a Hugging Face model directory"),
    Format("gguf", "gguf", "a .gguf file"),
)


# -m prefix -> the module (of this package) that finds the GGUF file in that program's store
STORES = {"ollama:": "ollama", "lmstudio:": "lmstudio"}


class StoreModel(NamedTuple):
    path: Path  # the GGUF file, read where it is
    notes: tuple[str, ...]  # files passed over to find it (an LM Studio folder's projectors), for stderr


def store_model(spec: str | os.PathLike | None) -> StoreModel | None:
    """The file that `-m ollama:...` or `-m lmstudio:...` names in that program's store, or None for
    any other spec (and for a path that exists, which wins); a one-line error if it is not there."""
    text = str(spec) if spec is not None else ""
    prefix = next((p for p in STORES if text.startswith(p)), None)
    if prefix is None or Path(text).expanduser().exists():
        return None
    return StoreModel(*importlib.import_module(f".{STORES[prefix]}", __package__).resolve(text))


def _module(fmt: Format):
    return importlib.import_module(f".{fmt.module}", __package__)


def bundled_path() -> Path:
    """The directory of the model that ships with attncli (inside the wheel, or the repo)."""
    here = Path(__file__).resolve().parent.parent  # src/attncli or site-packages/attncli
    for candidate in (here / "sample_weights", here.parent.parent / "sample_weights"):
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelError("the bundled model is missing from this installation; reinstall attncli or pass --model DIR")


def load(spec: str | os.PathLike | None = None, max_memory: int | None = None) -> Model:
    """Load a model from a path or a name (see the module docstring); an existing path wins over a name.

    `max_memory` (bytes) is the budget for the weights; a GGUF model whose float32 copy would not
    fit keeps its matrices quantized (checkpoints/gguf/memory.py). Other formats load as float32."""
    from . import native

    if spec is None or str(spec) == BUNDLED:
        return native.load(bundled_path(), name="bundled")
    if str(spec) == BUNDLED_MLM:
        return native.load(bundled_path() / "mlm", name=BUNDLED_MLM)
    path = Path(spec).expanduser()
    if not path.exists():
        from .. import registry

        stored = store_model(spec)
        if stored is not None:
            from . import gguf

            return gguf.load(stored.path, name=str(spec), max_memory=max_memory)
        from . import hf_cache

        if str(spec) in registry.KNOWN:
            from . import gguf

            entry = registry.KNOWN[str(spec)]
            pulled = registry.resolve(str(spec))
            if pulled.is_dir():  # a model folder (minilm's), in whichever format it is
                model = load_path(pulled, name=str(spec), max_memory=max_memory)
            else:
                model = gguf.load(pulled, name=str(spec), max_memory=max_memory)
            model.card["license"] = entry.license  # the registry's word, over the file's short tag ("gemma")
            text = registry.license_path(entry)
            if text is not None and text.is_file():
                model.card["license_file"] = str(text)
            return model
        if hf_cache.is_repo_id(str(spec)):
            return load_path(hf_cache.resolve(str(spec)), name=str(spec), max_memory=max_memory)
        known = ", ".join(registry.KNOWN)
        raise ModelError(f"{path}: no such file or directory; pass --model with a model directory, a .gguf file, "
                         f"a known model name ({known}), org/name of a model in the Hugging Face cache, "
                         "ollama:NAME[:TAG] or lmstudio:PUBLISHER/REPO of a model in Ollama's or LM Studio's store "
                         f"(attn models list shows them), or leave --model out for the bundled model ({BUNDLED_MLM} "
                         "for its masked-language one)")
    return load_path(path, max_memory=max_memory)


def load_path(path: Path, name: str | None = None, max_memory: int | None = None) -> Model:
    """The model at an existing path, in the first format whose detect() accepts it."""
    from . import native
    from .common import regular

    if not path.is_dir():
        regular(path)
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise ModelError(f"{path}: cannot read it ({e.strerror}); check the path and its permissions") from None
    for fmt in FORMATS:
        module = _module(fmt)
        if module.detect(path):
            if fmt.name == "gguf":
                return module.load(path, name, max_memory=max_memory)
            return module.load(path, name)
    if path.is_dir():
        return native.load(path, name)  # says which of its files is missing
    kinds = [f.what for f in FORMATS]
    raise ModelError(f"{path}: not a model directory or a .gguf file; pass {', '.join(kinds[:-1])} or {kinds[-1]}")
