"""Models in the local Hugging Face cache, found by name (`-m org/name`), with no network.

huggingface_hub keeps a download of org/name under $HF_HUB_CACHE (default $HF_HOME/hub, where
$HF_HOME defaults to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface) as
models--org--name/snapshots/<revision>/, with refs/main naming the revision of the main branch.
A snapshot with config.json is a model folder; one with a single .gguf file (a GGUF upload) is
that file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ModelError

# what the Hub accepts as a repository id: owner/name of letters, digits, '-', '_' and '.'
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def is_repo_id(spec: str) -> bool:
    return REPO_ID.fullmatch(spec) is not None and ".." not in spec


def hub_cache() -> Path:
    """Where huggingface_hub keeps its downloads, by its own environment variables."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "huggingface" / "hub"


def resolve(repo: str) -> Path:
    """The model folder (or single .gguf file) of `repo` in the cache; a ModelError saying how to get it if absent."""
    cache = hub_cache()
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        raise ModelError(f"{repo}: no such file or directory, and no model {repo} in the Hugging Face cache ({cache}); "
                         f"download it with `huggingface-cli download {repo}` (or `hf download {repo}`), "
                         "or pass a model directory or a .gguf file")
    ref = folder / "refs" / "main"
    revision = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
    if revision and (snapshots / revision).is_dir():
        snapshot = snapshots / revision
    else:  # no main ref (a download of another revision): only an unambiguous snapshot will do
        found = sorted(p for p in snapshots.iterdir() if p.is_dir())
        if len(found) != 1:
            raise ModelError(f"{snapshots}: {len(found)} snapshots and no refs/main to choose one; "
                             f"pass the snapshot's directory with -m, or download {repo} again")
        snapshot = found[0]
    if (snapshot / "config.json").is_file():
        return snapshot
    ggufs = sorted(p for p in snapshot.iterdir() if p.suffix.lower() == ".gguf")
    if len(ggufs) == 1:
        return ggufs[0]
    what = f"{len(ggufs)} .gguf files ({', '.join(p.name for p in ggufs[:3])}{', ...' if len(ggufs) > 3 else ''})" \
        if ggufs else "no config.json and no .gguf file"
    raise ModelError(f"{snapshot}: the cached {repo} holds {what}; pass one with -m PATH")
