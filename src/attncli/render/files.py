"""Output files (--save, --html): the path is checked before any work, and written once."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError

IMAGE_FORMATS = ("png", "svg")


def check_path(path: str, formats: tuple[str, ...], option: str) -> str:
    """The format a path's extension names; UsageError if it names none or cannot be written."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in formats:
        want = " or ".join(f".{f}" for f in formats)
        raise UsageError(f"{option} {path!r}: the file name must end in {want}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option} {path!r}: the folder {str(parent)!r} does not exist; create it first")
    if p.is_dir():
        raise UsageError(f"{option} {path!r} is a folder; give a file name")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{option} {path!r}: no permission to write there; choose another path")
    return fmt


def write(path: str, data: bytes | str, option: str) -> None:
    try:
        if isinstance(data, str):
            Path(path).write_text(data, encoding="utf-8")
        else:
            Path(path).write_bytes(data)
    except OSError as e:
        raise UsageError(f"{option} {path!r}: cannot write it ({e.strerror or e}); choose another path") from None
