"""Loaders, one per checkpoint format; each maps names and shapes, validates, never unpickles.

`load(spec)` takes a path (or the name of the bundled model) and returns a validated Model.
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
    """Load a model: None or 'bundled' for the bundled one, else a directory of attncli's format."""
    from . import native

    if spec is None or str(spec) == BUNDLED:
        return native.load(bundled_path(), name="bundled")
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"{path}: no such file or directory; pass --model DIR with a model directory, or leave --model out for the bundled model")
    if path.is_dir():
        return native.load(path)
    raise ModelError(f"{path}: not a model directory; pass a directory with config.json, model.safetensors and tokenizer.json")
