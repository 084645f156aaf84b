"""Files written whole or not at all: every file attncli writes goes through here.

A new file is written to a temporary file in the target's folder, flushed to disk, given the
mode a newly created file gets (0666 less the umask), and renamed over the target. A failure
at any point (a full disk, Ctrl-C) removes the temporary: the target keeps its previous
content, or stays absent, and no partial file is left under any name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path


def umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux's /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # elsewhere: set and restore, the only portable way to read it
    os.umask(old)
    return old


def new_file_mode() -> int:
    """The permission bits open() gives a new file: 0666 less the umask (0644 under umask 022)."""
    return 0o666 & ~umask()


def disk_full(e: OSError) -> bool:
    """Whether a write failed for want of space (or quota): the advice is then to free some."""
    return e.errno in (errno.ENOSPC, errno.EDQUOT)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable; a filesystem that cannot sync a folder is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_folders(path: Path) -> list[Path]:
    """Create the folder `path` and its missing parents; the folders created, outermost first."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def remove_made(folders: list[Path]) -> bool:
    """Remove folders make_folders created, innermost first, each only if it is empty (rmdir):
    never anything that was there before or that holds something. Whether all of them went."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return False
    return True


@contextlib.contextmanager
def new_folders(path: Path) -> Iterator[None]:
    """`path` made with its missing parents for the block; if the block fails, the ones it made
    are removed again, as far as they are empty: a failure leaves no empty folder behind."""
    made = make_folders(path)
    try:
        yield
    except BaseException:
        remove_made(made)
        raise


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that needs one (safetensors' save_file, an
    extraction); when the block ends normally the file is synced, given the usual mode and
    renamed over `path`. An exception in the block, or in the rename, removes the temporary.

    A symlink is written through: the file it points at is replaced, the link stays.
    """
    target = Path(os.path.realpath(path))
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:  # the writer may have replaced the file: sync what is there now
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode())  # mkstemp makes 0600; a written file gets what open() would give
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data`, whole or not at all."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` with `text` in UTF-8, whole or not at all."""
    write_bytes(path, text.encode("utf-8"))


def save_safetensors(tensors: dict, path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> None:
    """safetensors' save_file, whole or not at all; its I/O errors (a full disk) come out as the
    OSError they are, not as a SafetensorError."""
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    with replacing(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError as e:
            code = re.search(r"\(os error (\d+)\)", str(e))  # "I/O error: No space left on device (os error 28)"
            if code is None:
                raise
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1)))) from None


# The signals that ask attn to stop: Ctrl-C, `kill` (and systemd, docker stop), a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT), SIGTERM and SIGHUP until the block ends, for steps that must all
    happen or none, such as renaming the files of one checkpoint into place: a signal in the
    block is delivered, to whatever handler was there, right after it. Outside the main thread
    (where Python never delivers signals) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():  # None: a handler set outside Python; put back Python's default
            default = signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL
            signal.signal(s, default if handler is None else handler)
        for signum in held:
            signal.raise_signal(signum)
