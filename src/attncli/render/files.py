"""Output files (--save, --html): the path is checked before any work, and written once,
whole or not at all (atomic.py): a failed write keeps the previous file."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError, WriteError

IMAGE_FORMATS = ("png", "svg")


def check_path(path: str, formats: tuple[str, ...], option: str) -> str:
    """The format a path's extension names; UsageError if it names none or cannot be written."""
    if os.path.basename(path) in ("", ".", ".."):  # "x.png/": Path() would drop the slash and write x.png
        raise UsageError(f"{option} {path!r} ends in a folder, not a file name; "
                         f"leave out the trailing {path[len(path.rstrip('/.' + os.sep)):]!r}")
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
    from .. import atomic  # tempfile and threading: paid only when a file is written

    try:
        atomic.write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as e:
        kept = "the previous file is unchanged" if Path(path).exists() else "nothing was written"
        todo = "free some space or choose another path" if atomic.disk_full(e) else "choose another path"
        raise WriteError(f"{option} {path!r}: cannot write it ({e.strerror or e}); {kept}; {todo}") from None
