"""Models in LM Studio's models folder (`-m lmstudio:PUBLISHER/REPO[/FILE]`), read where they are, never written.

LM Studio keeps a download as the Hub names it, MODELS/PUBLISHER/REPO/FILE.gguf (its docs, "Import
Models"), beside which a vision model's projector (mmproj-*.gguf) is not a model. MODELS is
$LMSTUDIO_MODELS (attncli's own variable, for a folder moved in LM Studio's settings), else the
models/ folder of LM Studio's home, found as LM Studio's own code finds it (findLMStudioHome): the
folder that ~/.lmstudio-home-pointer names (LM Studio writes it on its first start), else
~/.cache/lm-studio if it exists (where older versions kept everything), else ~/.lmstudio.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError, UsageError

PREFIX = "lmstudio:"
POINTER = ".lmstudio-home-pointer"
MAX_POINTER = 4096  # bytes: one path
SPEC_HELP = "write lmstudio:PUBLISHER/REPO, or lmstudio:PUBLISHER/REPO/FILE.gguf for one file of several"


def home() -> tuple[Path, str]:
    """LM Studio's home folder, and how it was found ("" for a default)."""
    pointer = Path.home() / POINTER
    try:
        with open(pointer, "rb") as f:
            named = f.read(MAX_POINTER).decode("utf-8").strip()
        if named:
            return Path(named).expanduser(), f"~/{POINTER}"
    except (OSError, UnicodeDecodeError):  # no pointer (LM Studio never started), or not one: the defaults
        pass
    old = Path.home() / ".cache" / "lm-studio"
    if old.is_dir():
        return old, ""
    return Path.home() / ".lmstudio", ""


def models_dir() -> tuple[Path, str]:
    """The folder LM Studio keeps its models in, and how it was found ("" for a default)."""
    env = os.environ.get("LMSTUDIO_MODELS", "").strip()
    if env:
        return Path(env).expanduser(), "$LMSTUDIO_MODELS"
    folder, how = home()
    return folder / "models", how


def is_projector(file: Path) -> bool:
    """A vision model's image encoder (mmproj-model-f16.gguf, Qwen2-VL-mmproj-f16.gguf), not a model."""
    return "mmproj" in file.name.lower()


def ggufs(repo: Path) -> tuple[list[Path], list[Path]]:
    """The model files and the projector files directly in a REPO folder, by name."""
    try:
        files = sorted(p for p in repo.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    except OSError:
        files = []
    return [p for p in files if not is_projector(p)], [p for p in files if is_projector(p)]


def repos(root: Path) -> list[Path]:
    """The PUBLISHER/REPO folders under the models folder, by name."""
    try:
        return sorted(r for p in root.iterdir() if p.is_dir() for r in p.iterdir() if r.is_dir())
    except OSError:
        return []


def _child(folder: Path, name: str) -> Path | None:
    """folder/name as written, else the one entry that differs from it only in case."""
    exact = folder / name
    if exact.exists():
        return exact
    try:
        same = [p for p in folder.iterdir() if p.name.lower() == name.lower()]
    except OSError:
        return None
    return same[0] if len(same) == 1 else None


def _names(paths: list[Path], at_most: int = 6) -> str:
    names = [p.name for p in paths]
    return ", ".join(names[:at_most]) + (f" and {len(names) - at_most} more" if len(names) > at_most else "")


def resolve(spec: str) -> tuple[Path, tuple[str, ...]]:
    """The GGUF file of `-m lmstudio:PUBLISHER/REPO[/FILE]`, and notes on what was passed over
    (projector files); a one-line error for anything amiss."""
    parts = spec[len(PREFIX):].split("/")
    if len(parts) not in (2, 3) or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
        raise UsageError(f"{spec}: not a model in LM Studio's folder; {SPEC_HELP}")
    if len(parts) == 3 and not parts[2].lower().endswith(".gguf"):
        raise UsageError(f"{spec}: {parts[2]} is not a .gguf file; {SPEC_HELP}")
    root, how = models_dir()
    if not root.is_dir():
        raise ModelError(f"{spec}: no LM Studio models folder at {root}{f' (from {how})' if how else ''}; download the "
                         "model in LM Studio, or set LMSTUDIO_MODELS to the folder LM Studio keeps its models in "
                         "(My Models shows it)")
    publisher = _child(root, parts[0])
    repo = _child(publisher, parts[1]) if publisher is not None else None
    if repo is None or not repo.is_dir():
        held = [f"{r.parent.name}/{r.name}" for r in repos(root)]
        holds = f"it holds {', '.join(held[:6])}{f' and {len(held) - 6} more' if len(held) > 6 else ''}" if held \
            else "it holds no models"
        raise ModelError(f"{spec}: no folder {parts[0]}/{parts[1]} in LM Studio's models folder ({root}); {holds}")
    models, projectors = ggufs(repo)
    pick = f"-m {PREFIX}{repo.parent.name}/{repo.name}/FILE"
    if len(parts) == 3:
        file = _child(repo, parts[2])
        if file is None or not file.is_file():
            raise ModelError(f"{spec}: no {parts[2]} in {repo}; its model files: {_names(models) or 'none'}")
        if is_projector(file):
            raise ModelError(f"{file}: a vision projector (mmproj), not a model; its model files: "
                             f"{_names(models) or 'none'} ({pick})")
        return file, ()
    if len(models) == 1:
        skipped = tuple(f"{spec}: skipped {p.name}, a vision projector (mmproj), not a model" for p in projectors)
        return models[0], skipped
    if not models:
        only = f" (only the projector {_names(projectors)})" if projectors else ""
        raise ModelError(f"{repo}: no .gguf model file{only}; attncli reads GGUF files (an MLX model's folder of "
                         ".safetensors is not one): download a GGUF version of the model in LM Studio")
    raise ModelError(f"{repo}: {len(models)} model files ({_names(models)}); pass one: {pick}, "
                     f"e.g. -m {PREFIX}{repo.parent.name}/{repo.name}/{models[0].name}")
