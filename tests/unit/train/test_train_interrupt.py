"""Ctrl-C during attn train: the first stops after the step it is in and saves it, a second
stops at once; either way the last complete checkpoint is kept, one line says what was kept
and how to go on, and the exit status is 130. SIGTERM and SIGHUP do the same, and exit
128 + their number (143, 129), as shells report a signal.

Nothing here depends on how fast the machine is: a test waits for the state it needs (a
checkpoint on disk, the process's SIGINT handler in place) by polling, and its deadlines are
only generous bounds for calling a hung process a failure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from attncli.checkpoints import native
from attncli.errors import Interrupted
from attncli.train import trainer
from helpers.run_cli import attn, attn_executable, ok
from helpers.train_helpers import TINY_FLAGS, TINY_OPTIONS, story_text, write_corpus

PATIENCE = 300  # seconds before a process that should have stopped counts as hung (a loaded CI machine is slow)
CHECKPOINT = sorted(native.FILES + trainer.STATE_FILES)


def start_training(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen, Path]:
    corpus, out = write_corpus(tmp_path), tmp_path / "model"
    proc = subprocess.Popen([attn_executable(), "train", str(corpus), "--out", str(out), *TINY_FLAGS, "--steps", "1000000", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def wait_for(proc: subprocess.Popen, ready, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not ready():
        assert proc.poll() is None, (what, proc.communicate())
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {PATIENCE} s")
        time.sleep(0.02)


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"attn train still running {PATIENCE} s after Ctrl-C")


# each signal that stops a training: the exit status, and how the line starts
SIGNALS = {signal.SIGINT: (130, "attn: interrupted "), signal.SIGTERM: (143, "attn: interrupted by SIGTERM "),
           signal.SIGHUP: (129, "attn: interrupted by SIGHUP ")}


def the_one_line(proc: subprocess.Popen, stdout: str, stderr: str, sig: int = signal.SIGINT) -> str:
    code, start = SIGNALS[sig]
    assert proc.returncode == code, (proc.returncode, stderr)
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), lines
    return lines[0]


def kept_step(line: str) -> int:
    """The step of the checkpoint the message says is kept."""
    m = re.search(r"at step (\d+); the checkpoint is in", line) or \
        re.search(r"last complete checkpoint \(step (\d+)\)", line)
    assert m, line
    return int(m.group(1))


def assert_checkpoint(out: Path, step: int) -> None:
    """A complete checkpoint of `step`, with no temporary beside it, that attn info loads."""
    assert sorted(p.name for p in out.iterdir()) == CHECKPOINT
    assert json.loads((out / "train_state.json").read_text())["step"] == step
    assert json.loads((out / "config.json").read_text())["card"]["steps"] == step
    ok(attn("process", ["info", "-m", str(out)]))


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_stop_signal_saves_a_checkpoint_and_exits_128_plus_its_number(tmp_path, sig):
    proc, out = start_training(tmp_path, "--checkpoint-every", "1")
    wait_for(proc, (out / "config.json").exists, "first checkpoint")  # training is under way
    proc.send_signal(sig)
    line = the_one_line(proc, *finish(proc), sig)
    assert f"{SIGNALS[sig][1]}at step" in line and "--resume" in line
    assert_checkpoint(out, kept_step(line))  # the saved model is the one the message names


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_before_the_first_checkpoint_saves_one(tmp_path, sig):
    """SIGTERM or SIGHUP used to end the process at once, leaving --out empty: now, as Ctrl-C,
    it stops after the step it is in and saves it, though no checkpoint was due for 1000 steps."""
    proc, out = start_training(tmp_path, "--checkpoint-every", "1000")
    wait_for(proc, out.exists, "--out folder")  # made just before the first step
    proc.send_signal(sig)
    line = the_one_line(proc, *finish(proc), sig)
    assert_checkpoint(out, kept_step(line))


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_second_signal_stops_at_once_and_keeps_the_last_complete_checkpoint(tmp_path, sig):
    proc, out = start_training(tmp_path, "--checkpoint-every", "1")
    wait_for(proc, (out / "config.json").exists, "first checkpoint")
    proc.send_signal(sig)
    proc.send_signal(sig)  # wherever it lands: in a step, in a checkpoint's write, in its renames
    line = the_one_line(proc, *finish(proc), sig)
    assert "--resume" in line
    assert_checkpoint(out, kept_step(line))


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_stop_signal_while_the_corpus_is_read_writes_nothing(tmp_path, sig):
    """Ctrl-C (or SIGTERM, SIGHUP) before training starts (here while the corpus is read; the
    tokenizer's training and the encoding are checked the same way): one line, no folder."""
    fifo, out = tmp_path / "corpus.txt", tmp_path / "model"
    os.mkfifo(fifo)
    proc = subprocess.Popen([attn_executable(), "train", str(fifo), "--out", str(out), *TINY_FLAGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = []

    def reading() -> bool:  # the process has opened the corpus: it is inside train(), waiting for text
        try:
            writer.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return True
        except OSError:
            return False

    wait_for(proc, reading, "read of the corpus")
    proc.send_signal(sig)
    os.write(writer[0], story_text().encode())
    os.close(writer[0])
    line = the_one_line(proc, *finish(proc), sig)
    assert line == f"{SIGNALS[sig][1]}before the first step; nothing was written to {out}"
    assert not out.exists()


# ---- in-process: the same rules where a test can choose the moment ---------------------------

def test_ctrl_c_before_the_first_step_writes_nothing(tmp_path):
    corpus, out = write_corpus(tmp_path), tmp_path / "m"
    pressed = []
    with pytest.raises(Interrupted, match=f"before the first step; nothing was written to {out}"):
        trainer.train(trainer.TrainOptions(corpus=corpus, out=out, steps=10, **TINY_OPTIONS),
                      lambda p: pressed.append(True) if p.phase == "tokenizer" else None, stop=lambda: bool(pressed))
    assert not out.exists()


def test_a_second_ctrl_c_before_the_first_checkpoint_removes_the_folder(tmp_path):
    corpus, out = write_corpus(tmp_path), tmp_path / "new" / "m"

    def second_ctrl_c(p):
        if p.phase == "train" and p.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="no checkpoint was written yet .*was removed"):
        trainer.train(trainer.TrainOptions(corpus=corpus, out=out, steps=10, checkpoint_every=5, **TINY_OPTIONS), second_ctrl_c)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


def test_ctrl_c_while_a_checkpoint_is_written_keeps_the_last_one(tmp_path, monkeypatch):
    """A KeyboardInterrupt (a second Ctrl-C) halfway through writing checkpoint 4's weights."""
    from safetensors import numpy as st

    corpus, out = write_corpus(tmp_path), tmp_path / "m"
    steps_seen = []
    real_save = st.save_file

    def save_file(tensors, filename, metadata=None):
        if steps_seen[-1] == 4:
            Path(filename).write_bytes(b"half a checkpoint")
            raise KeyboardInterrupt
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(st, "save_file", save_file)
    with pytest.raises(Interrupted) as e:
        trainer.train(trainer.TrainOptions(corpus=corpus, out=out, steps=10, checkpoint_every=2, **TINY_OPTIONS),
                      lambda p: steps_seen.append(p.step) if p.phase == "train" else None)
    assert "last complete checkpoint (step 2)" in str(e.value) and "--resume" in str(e.value)
    assert sorted(p.name for p in out.iterdir()) == CHECKPOINT
    assert json.loads((out / "train_state.json").read_text())["step"] == 2
    assert native.load(out).card["steps"] == 2


def test_ctrl_c_while_a_checkpoint_is_moved_into_place_waits_for_it(tmp_path, monkeypatch):
    """A real SIGINT after the first of checkpoint 4's five renames: the others still happen,
    then the run stops, and says that checkpoint 4 is the one kept."""
    corpus, out = write_corpus(tmp_path), tmp_path / "m"
    real_replace = os.replace
    steps_seen = []

    def replace(src, dst):
        if Path(dst) == out / "model.safetensors" and steps_seen[-1] == 4:  # config.json has moved already
            signal.raise_signal(signal.SIGINT)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Interrupted) as e:
            trainer.train(trainer.TrainOptions(corpus=corpus, out=out, steps=10, checkpoint_every=2, **TINY_OPTIONS),
                          lambda p: steps_seen.append(p.step) if p.phase == "train" else None)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "last complete checkpoint (step 4)" in str(e.value)
    assert sorted(p.name for p in out.iterdir()) == CHECKPOINT
    assert json.loads((out / "train_state.json").read_text())["step"] == 4
    assert native.load(out).card["steps"] == 4
