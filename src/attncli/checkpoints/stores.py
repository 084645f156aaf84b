"""What the local model stores hold, for `attn models list`: the models in Ollama's store, LM Studio's
folder and the Hugging Face cache, each with its architecture, size and whether attncli loads it
(and why not), read from GGUF headers and config.json files without reading any weights.

"Loads" is the loader's own verdict on everything but the weights' values: for a GGUF file its
tensor types (reader.py), architecture (archs.ARCHS), the config its metadata builds, every tensor's
name and shape (gguf.plan) and its tokenizer's kind; for a Hugging Face folder its model_type, its
weights files and its config. Nothing is opened for writing: files are read or mapped read-only.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError


@dataclass(frozen=True)
class Found:
    """One model in a store."""

    spec: str  # what -m takes
    path: Path | None  # the file or folder it loads from; None when the store does not hold it whole
    size: int  # bytes on disk
    format: str | None = None  # "gguf" or "huggingface"
    architecture: str | None = None  # GGUF general.architecture, or config.json's model_type
    quantization: tuple[str, ...] = ()  # the GGUF tensor types, by name
    problem: str | None = None  # why attncli cannot load it; None if it can


@dataclass(frozen=True)
class Store:
    name: str  # ollama, lmstudio, huggingface
    title: str  # for people
    path: Path
    how: str  # how the folder was found, when not by default: an environment variable, a pointer file
    models: list[Found] = field(default_factory=list)
    problem: str | None = None  # why the folder, there, cannot be read

    @property
    def present(self) -> bool:
        return self.path.is_dir()


def _about(message: str, *prefixes: object) -> str:
    """A loader's message without its leading "PATH: ", the row it is shown under says which model."""
    for prefix in prefixes:
        if message.startswith(f"{prefix}") and ": " in message:
            return message.partition(": ")[2]
    return message


def tokenizer_problem(meta: dict) -> str | None:
    """What build_vocab refuses before it builds anything: the tokenizer's model and pre-tokenizer kind."""
    from .gguf.vocab import PRE_TYPES, REFUSED_MODELS, SUPPORTED_MODELS

    model = meta.get("tokenizer.ggml.model")
    if model not in SUPPORTED_MODELS:
        return f"tokenizer model {model!r} is not supported: {REFUSED_MODELS.get(str(model), 'it is unknown')}"
    pre = "gemma4" if model == "gemma4" else meta.get("tokenizer.ggml.pre") or "default"
    if model != "llama" and pre not in PRE_TYPES:
        return f"tokenizer pre-type {pre!r} is not supported"
    return None


def inspect_gguf(spec: str, path: Path) -> Found:
    """A GGUF file as the loader would take it, from its header alone (read through a read-only map)."""
    import numpy as np

    from .gguf import plan, read_header
    from .gguf.archs import GGUFFile, arch_of
    from .gguf.quants import QUANT_TYPES

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    except OSError as e:
        return Found(spec, path, 0, "gguf", problem=f"cannot read it ({e.strerror or e})")
    if mm is None:
        return Found(spec, path, 0, "gguf", problem="the file is empty")
    buf = memoryview(mm)
    architecture: str | None = None
    quantization: tuple[str, ...] = ()
    try:
        meta, tensors = read_header(buf, path)
        name = meta.get("general.architecture")
        architecture = name if isinstance(name, str) else None
        quantization = tuple(sorted({QUANT_TYPES[t.type].name for t in tensors.values()}))
        arch = arch_of(meta, path)
        gf = GGUFFile(path, meta, tensors, np.frombuffer(buf, dtype=np.uint8))
        plan(gf, arch.config(arch, gf), arch)
        del gf
        problem = tokenizer_problem(meta)
    except ModelError as e:
        problem = _about(str(e), path)
    except Exception as e:  # a header the loader has no word for: this row says so, the others still list
        problem = f"cannot read its header ({type(e).__name__}: {e})"
    finally:
        try:
            buf.release()
            mm.close()
        except BufferError:  # a traceback still refers to the map: the GC closes it
            pass
    return Found(spec, path, size, "gguf", architecture, quantization, problem)


def folder_size(path: Path) -> int:
    """Bytes of the files under `path`, links followed (a Hugging Face snapshot is links into blobs/)."""
    total = 0
    for top, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(top, f)).st_size
            except OSError:
                pass
    return total


def inspect_folder(spec: str, path: Path) -> Found:
    """A Hugging Face model folder as its loader would take it, from config.json and the files' names."""
    from . import huggingface
    from .common import INDEX, Held, open_shards, read_json_object

    cfg = path / "config.json"
    architecture = None
    try:
        doc = read_json_object(cfg)
        architecture = doc["model_type"] if isinstance(doc.get("model_type"), str) else None
        family = huggingface.family(doc, cfg)
        if not (path / "model.safetensors").is_file() and not (path / INDEX).is_file():
            pickle = " (pytorch_model.bin is a pickle, which attncli never loads)" \
                if (path / "pytorch_model.bin").exists() else ""
            raise ModelError(f"{path}: missing model.safetensors (or {INDEX} and its shards){pickle}")
        with open_shards(path) as f:  # the headers only: the sizes are checked against the tensors there
            single = path / "model.safetensors"
            family.read_config(doc, cfg, Held.of(f, single if single.is_file() else path / INDEX))
        problem = None
    except (ModelError, OSError) as e:
        problem = _about(str(e), path, cfg) if isinstance(e, ModelError) else f"cannot read config.json ({e.strerror})"
    return Found(spec, path, folder_size(path), "huggingface", architecture, (), problem)


def ollama_store() -> Store:
    from . import ollama

    root, how = ollama.store()
    try:
        manifests = ollama.installed(root)
    except ModelError as e:
        return Store("ollama", "Ollama", root, how, problem=_about(str(e), root))
    store = Store("ollama", "Ollama", root, how)
    for name, manifest in sorted(manifests.items(), key=lambda item: item[0].short().lower()):
        spec = f"{ollama.PREFIX}{name.short()}"
        try:
            blob = ollama.blob(root, name, manifest)
        except ModelError as e:
            store.models.append(Found(spec, None, 0, problem=_about(str(e), root)))
            continue
        store.models.append(inspect_gguf(spec, blob))
    return store


def lmstudio_store() -> Store:
    from . import lmstudio

    root, how = lmstudio.models_dir()
    store = Store("lmstudio", "LM Studio", root, how)
    for repo in lmstudio.repos(root):
        models, _ = lmstudio.ggufs(repo)
        spec = f"{lmstudio.PREFIX}{repo.parent.name}/{repo.name}"
        if not models:  # an MLX model's folder, say: listed with the reason -m would give
            try:
                lmstudio.resolve(spec)
            except ModelError as e:
                store.models.append(Found(spec, repo, folder_size(repo), problem=_about(str(e), repo)))
        for file in models:
            store.models.append(inspect_gguf(spec if len(models) == 1 else f"{spec}/{file.name}", file))
    return store


def huggingface_store() -> Store:
    from . import hf_cache

    hub = hf_cache.hub_cache()
    store = Store("huggingface", "Hugging Face cache", hub, "")
    try:
        folders = sorted(p for p in hub.iterdir() if p.name.startswith("models--") and p.is_dir())
    except OSError:
        folders = []
    for folder in folders:
        repo = folder.name[len("models--"):].replace("--", "/")
        if not hf_cache.is_repo_id(repo):
            continue
        if not (folder / "snapshots").is_dir():
            unfinished = ("the cache holds no snapshot of it (a download that did not finish); download it with "
                          f"`huggingface-cli download {repo}`")
            store.models.append(Found(repo, None, folder_size(folder), problem=unfinished))
            continue
        try:
            path = hf_cache.resolve(repo)
        except (ModelError, OSError, UnicodeDecodeError) as e:  # its refs/main unreadable, say
            why = _about(str(e), hub, repo) if isinstance(e, ModelError) else f"cannot read it ({e})"
            store.models.append(Found(repo, None, folder_size(folder), problem=why))
            continue
        store.models.append(inspect_folder(repo, path) if path.is_dir() else inspect_gguf(repo, path))
    return store


def survey() -> list[Store]:
    """Every store's models, in the order `attn models list` shows them."""
    return [ollama_store(), lmstudio_store(), huggingface_store()]
