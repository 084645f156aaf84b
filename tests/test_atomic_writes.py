"""Every file attncli writes is written whole or not at all: a write that fails midway (a full
disk, Ctrl-C) leaves the previous file byte for byte and no temporary behind.

The full-disk cases run on a real, small tmpfs (mounted here as root); without the right to
mount one they skip, saying so, and the monkeypatched failures below still cover the code.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from attncli import atomic


# ---- the helper itself -----------------------------------------------------------------------

def test_write_replaces_the_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic.write_text(path, "old")
    atomic.write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_writer_that_fails_midway_leaves_the_old_file(tmp_path, failure):
    path = tmp_path / "f.bin"
    path.write_bytes(b"the good old content")
    with pytest.raises(type(failure)):
        with atomic.replacing(path) as tmp:
            tmp.write_bytes(b"half of the new cont")  # some bytes are written, then the disk fills
            raise failure
    assert path.read_bytes() == b"the good old content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_failing_sync_or_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def eio(*args):
        raise OSError(errno.EIO, "Input/output error")

    for name in ("fsync", "replace"):
        with monkeypatch.context() as m:
            m.setattr(os, name, eio)
            with pytest.raises(OSError):
                atomic.write_bytes(path, b"new")
        assert path.read_bytes() == b"old"
        assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_the_file_gets_the_mode_of_a_new_file(tmp_path):
    """Not the 0600 of the temporary: 0666 less the umask, as open() would give."""
    previous = os.umask(0o027)
    try:
        atomic.write_text(tmp_path / "f.txt", "x")
        with atomic.replacing(tmp_path / "g.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(previous)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {"f.txt": 0o640, "g.bin": 0o640}


def test_a_symlink_is_written_through(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "view.html"
    target.write_text("old")
    link = tmp_path / "view.html"
    link.symlink_to(target)
    atomic.write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_ctrl_c_while_deferred_arrives_after_the_block():
    done = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with atomic.interrupts_deferred():
                signal.raise_signal(signal.SIGINT)  # Ctrl-C between two renames
                done.append("second rename")
        assert done == ["second rename"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


# ---- a real full disk: a small tmpfs ----------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs; skips, saying why, where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True, text=True)
    except OSError as e:
        pytest.skip(f"cannot run mount ({e.strerror}); a full disk needs a small tmpfs")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs ({done.stderr.strip() or done.returncode}); needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(disk: Path) -> None:
    """Take every free byte of the disk."""
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC


def test_a_full_disk_keeps_the_old_file(small_disk):
    path = small_disk / "f.bin"
    path.write_bytes(b"old" * 100)
    fill(small_disk)
    with pytest.raises(OSError) as e:
        atomic.write_bytes(path, os.urandom(200_000))
    assert e.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old" * 100
    assert sorted(p.name for p in small_disk.iterdir()) == ["f.bin", "filler"]


def test_unique_temporaries_beside_the_target(tmp_path):
    """Two writers of one name never share a temporary."""
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    with atomic.replacing(path) as a, atomic.replacing(path) as b:
        assert a != b and a.parent == b.parent == tmp_path
        a.write_text("a")
        b.write_text("b")
    assert path.read_text() == "a"  # the outer block ends last, so its file is the one left
