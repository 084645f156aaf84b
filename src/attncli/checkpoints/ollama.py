"""Models in Ollama's store, found by name (`-m ollama:NAME[:TAG]`), read where they are and never written.

Ollama keeps a model as a manifest and content-addressed blobs under its models folder
($OLLAMA_MODELS, else ~/.ollama/models: envconfig.Models in Ollama's source):
    manifests/HOST/NAMESPACE/MODEL/TAG   JSON {"schemaVersion": 2, "layers": [{"mediaType", "digest", "size"}]}
    blobs/sha256-HEX                     a layer's bytes; the application/vnd.ollama.image.model layer is a GGUF file
A name is [[HOST/]NAMESPACE/]MODEL[:TAG] (types/model/name.go): HOST defaults to registry.ollama.ai,
NAMESPACE to library, TAG to latest; each part is letters, digits, '_', '-' and '.' starting with a
letter, digit or '_' (no '.' in a namespace; ':' only in a host, for a port), so no name leaves the
store. Ollama keeps a part's case on disk and matches names without regard to it, as here.

Ollama's Linux install script runs the server as a system user whose store is
/usr/share/ollama/.ollama/models (Ollama's FAQ); the server itself never looks anywhere but its
own $HOME, so attncli reads the service's store when the user has no ~/.ollama/models.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import NamedTuple

from ..errors import ModelError, UsageError

PREFIX = "ollama:"
DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
MODEL_LAYER = "application/vnd.ollama.image.model"
SERVICE_STORE = Path("/usr/share/ollama/.ollama/models")  # the Linux service's $HOME/.ollama/models
MAX_MANIFEST = 1 << 20  # bytes; a manifest lists a few layers in a few hundred bytes
DIGEST = re.compile(r"sha256[:-][0-9a-fA-F]{64}")  # what Ollama's BlobsPath accepts
PARTS = ("host", "namespace", "model", "tag")
# each part as Ollama's isValidPart accepts it, with its length limit
PART = {"host": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}"),
        "namespace": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}"),
        "model": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
        "tag": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")}
NAME_HELP = ("write ollama:NAME[:TAG], ollama:NAMESPACE/NAME[:TAG] or ollama:HOST/NAMESPACE/NAME[:TAG], each part "
             "of letters, digits, '_', '-' and '.' that starts with a letter, digit or '_'")


class Name(NamedTuple):
    host: str
    namespace: str
    model: str
    tag: str

    def short(self) -> str:
        """The name as `ollama list` shows it: the default host and namespace left out."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    def folded(self) -> tuple[str, ...]:
        return tuple(p.lower() for p in self)


def parse(text: str) -> Name:
    """The parts of NAME in `-m ollama:NAME`, defaults filled in; a UsageError for anything else."""
    rest, tag = text, None
    if rest.rfind(":") > rest.rfind("/"):  # a tag cannot hold '/', so the last ':' after it starts one
        rest, tag = rest.rsplit(":", 1)
    parts = rest.split("/")
    if len(parts) > 3:
        raise UsageError(f"{PREFIX}{text}: not an Ollama model name ({len(parts)} parts); {NAME_HELP}")
    *above, model = parts
    name = Name(above[0] if len(above) == 2 else DEFAULT_HOST, above[-1] if above else DEFAULT_NAMESPACE, model,
                DEFAULT_TAG if tag is None else tag)
    for kind, value in zip(PARTS, name, strict=True):
        if not PART[kind].fullmatch(value):
            what = f"an empty {kind}" if not value else f"the {kind} {value!r}"
            raise UsageError(f"{PREFIX}{text}: not an Ollama model name ({what}); {NAME_HELP}")
    return name


def store() -> tuple[Path, str]:
    """Ollama's models folder, and how it was found ("" for the default): $OLLAMA_MODELS (trimmed of
    spaces and quotes, as Ollama reads it), else ~/.ollama/models, else the Linux service's store if
    only that one exists."""
    env = os.environ.get("OLLAMA_MODELS", "").strip().strip("\"'")
    if env:
        return Path(env).expanduser(), "$OLLAMA_MODELS"
    mine = Path.home() / ".ollama" / "models"
    if not mine.is_dir() and SERVICE_STORE.is_dir():
        return SERVICE_STORE, "the Linux service's store"
    return mine, ""


def missing_store(root: Path, how: str) -> str:
    """Why there is no store to read, and what to do."""
    where = f"{root} (from $OLLAMA_MODELS)" if how else f"{root} or {SERVICE_STORE}"
    return (f"no Ollama store at {where}; pull a model with Ollama (`ollama pull NAME`), or set OLLAMA_MODELS "
            "to the folder Ollama keeps its models in (the one that holds manifests/ and blobs/)")


def _dirs(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return [e for e in it if e.is_dir()]
    except OSError:
        return []


def installed(root: Path) -> dict[Name, Path]:
    """Every model's manifest in the store, by name: the files four folders down manifests/,
    as Ollama's own listing finds them, where each folder is a valid part of a name. A store whose
    manifests/ cannot be read (the service's, to a user outside the ollama group) is a ModelError."""
    try:
        os.scandir(root / "manifests").close()
    except FileNotFoundError:  # a store Ollama has not pulled into yet
        return {}
    except OSError as e:
        hint = "; add yourself to the ollama group (the Linux install script adds the user who installs), or set " \
            "OLLAMA_MODELS" if isinstance(e, PermissionError) else ""
        raise ModelError(f"{root / 'manifests'}: cannot read the Ollama store ({e.strerror or e}){hint}") from None
    found: dict[Name, Path] = {}
    for host in _dirs(root / "manifests"):
        for ns in _dirs(Path(host.path)):
            for model in _dirs(Path(ns.path)):
                try:
                    with os.scandir(model.path) as it:
                        tags = [e for e in it if e.is_file()]
                except OSError:
                    continue
                for tag in tags:
                    name = Name(host.name, ns.name, model.name, tag.name)
                    if all(PART[k].fullmatch(v) for k, v in zip(PARTS, name, strict=True)):
                        found[name] = Path(tag.path)
    return found


def manifest(root: Path, name: Name, spec: str) -> tuple[Name, Path]:
    """The manifest of `name` (as typed, else the one name that differs only in case), with the name
    as it is on disk; a ModelError listing the tags or models the store holds when there is none."""
    exact = root.joinpath("manifests", *name)
    if exact.is_file():
        return name, exact
    everything = installed(root)
    same = [(n, p) for n, p in everything.items() if n.folded() == name.folded()]
    if len(same) == 1:
        return same[0]
    if same:
        raise ModelError(f"{spec}: {len(same)} models in the Ollama store ({root}) differ from it only in case "
                         f"({', '.join(sorted(n.short() for n, _ in same))}); pass one of them as it is written")
    tags = sorted(n.tag for n in everything if n.folded()[:3] == name.folded()[:3])
    pull = f"pull it with `ollama pull {name.short()}`"
    if tags:
        model = name.short().rsplit(":", 1)[0]
        raise ModelError(f"{spec}: {model} has no tag {name.tag} in the Ollama store ({root}); "
                         f"its tags: {', '.join(tags)}; {pull}")
    held = sorted(n.short() for n in everything)
    holds = f"it holds {', '.join(held[:8])}{f' and {len(held) - 8} more' if len(held) > 8 else ''}" if held \
        else "it holds no models"
    raise ModelError(f"{spec}: no model {name.short()} in the Ollama store ({root}); {holds}; {pull}")


def read_layers(path: Path, name: Name) -> list[dict]:
    """A manifest's layers, read with its size capped; a ModelError for anything that is not a manifest."""
    again = f"run `ollama pull {name.short()}` to fetch it again"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MANIFEST + 1)
    except OSError as e:
        hint = "; add yourself to the ollama group (the Linux install script adds the user who installs), or " \
            "set OLLAMA_MODELS" if isinstance(e, PermissionError) else ""
        raise ModelError(f"{path}: cannot read it ({e.strerror or e}){hint}") from None
    if len(raw) > MAX_MANIFEST:
        raise ModelError(f"{path}: more than {MAX_MANIFEST >> 10} KiB, where an Ollama manifest is a few hundred "
                         f"bytes; it is not one: {again}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = e.reason if isinstance(e, UnicodeDecodeError) else e.msg if isinstance(e, json.JSONDecodeError) else \
            "nested too deeply"
        raise ModelError(f"{path}: the manifest is not valid JSON ({why}); {again}") from None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise ModelError(f"{path}: not an Ollama manifest (it has no list of layers); {again}")
    return layers


def blob(root: Path, name: Name, path: Path) -> Path:
    """The GGUF blob that the manifest at `path` names as its model layer, checked to be there whole."""
    layers = read_layers(path, name)
    pull = f"run `ollama pull {name.short()}`"
    models = [layer for layer in layers if layer.get("mediaType") == MODEL_LAYER]
    if len(models) != 1:
        kinds = sorted({str(layer.get("mediaType")).rsplit(".", 1)[-1] for layer in layers}) or ["none"]
        what = f"{len(models)} model layers" if models else \
            f"no model layer ({MODEL_LAYER}); its layers: {', '.join(kinds)}"
        raise ModelError(f"{path}: {what}; attncli reads a model whose weights are one GGUF blob, as Ollama's "
                         "llama.cpp models are")
    digest, size = models[0].get("digest"), models[0].get("size")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise ModelError(f"{path}: the model layer's digest {digest!r} is not sha256:HEX; the manifest is corrupt: "
                         f"{pull}")
    file = root / "blobs" / digest.replace(":", "-")
    try:
        have = file.stat().st_size if file.is_file() else None
    except OSError:
        have = None
    if have is None:
        raise ModelError(f"{file}: the model layer of {name.short()} is missing from the store (an interrupted pull, "
                         f"or a removed blob); {pull}")
    if isinstance(size, int) and not isinstance(size, bool) and have != size:
        raise ModelError(f"{file}: {have:,} bytes where the manifest of {name.short()} says {size:,}; the blob is "
                         f"truncated or damaged: {pull}")
    return file


def resolve(spec: str) -> tuple[Path, tuple[str, ...]]:
    """The GGUF file of `-m ollama:NAME[:TAG]` in Ollama's store (and no notes: nothing is passed over);
    a one-line error for anything amiss."""
    name = parse(spec[len(PREFIX):])
    root, how = store()
    if not root.is_dir():
        raise ModelError(f"{spec}: {missing_store(root, how)}")
    name, path = manifest(root, name, spec)
    return blob(root, name, path), ()
