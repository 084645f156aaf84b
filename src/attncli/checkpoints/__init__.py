"""Loaders, one per checkpoint format; each maps names and shapes, validates, never unpickles.

`load(spec)` takes a path or a name and returns a validated Model:
  None or "bundled"                 the model that ships with attncli
  a known name, e.g. "smollm2"      a model fetched by `attn models pull NAME` (see registry.py)
  a directory                       attncli's own format, or a Hugging Face GPT-2 export
  a .gguf file                      a llama-architecture GGUF (Llama, SmolLM2, ...)
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from ..model import Model

BUNDLED = "bundled"


def bundled_path() -> Path:
    """The directory of the model that ships with attncli (inside the wheel, or the repo)."""
    here = Path(__file__).resolve().parent.parent  # src/attncli or site-packages/attncli
    for candidate in (here / "sample_weights", here.parent.parent / "sample_weights"):
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelError("the bundled model is missing from this installation; reinstall attncli or pass --model DIR")


def load(spec: str | os.PathLike | None = None) -> Model:
    """Load a model from a path or a name (see the module docstring); an existing path wins over a name.

    Each format's module is imported only when it is needed: the bundled model's path,
    the one every new user takes, imports no GGUF, GPT-2 or network code.
    """
    from . import native

    if spec is None or str(spec) == BUNDLED:
        return native.load(bundled_path(), name="bundled")
    path = Path(spec).expanduser()
    if not path.exists():
        from .. import registry

        if str(spec) in registry.KNOWN:
            from . import gguf

            return gguf.load(registry.resolve(str(spec)), name=str(spec))
        known = ", ".join(registry.KNOWN)
        raise ModelError(f"{path}: no such file or directory; pass --model with a model directory, a .gguf file, "
                         f"or a known model name ({known}), or leave --model out for the bundled model")
    if path.is_dir():
        from . import hf_gpt2

        if hf_gpt2.is_hf_gpt2(path):
            return hf_gpt2.load(path)
        return native.load(path)
    from . import gguf

    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"{path}: cannot read it ({e.strerror}); check the path and its permissions") from None
    if magic == gguf.MAGIC or path.suffix.lower() == ".gguf":
        return gguf.load(path)
    raise ModelError(f"{path}: not a model directory or a .gguf file; pass a model directory (attncli or Hugging Face GPT-2) or a .gguf file")
