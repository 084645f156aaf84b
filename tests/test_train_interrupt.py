"""Ctrl-C during attn train: the work so far is saved, one line says how to go on, exit 130.

A second Ctrl-C stops at once and keeps the last complete checkpoint: a checkpoint's files
are staged, then moved into place with Ctrl-C deferred, so none is ever half written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from attncli.checkpoints import native
from attncli.errors import Interrupted
from attncli.train import trainer
from train_helpers import TINY_FLAGS, TINY_OPTIONS, write_corpus

CHECKPOINT = sorted(native.FILES + trainer.STATE_FILES)


def test_sigint_saves_a_checkpoint_and_exits_130(tmp_path):
    attn = shutil.which("attn")
    if attn is None:
        pytest.skip("the attn entry point is not installed")
    corpus, out = write_corpus(tmp_path), tmp_path / "model"
    proc = subprocess.Popen([attn, "train", str(corpus), "--out", str(out), *TINY_FLAGS, "--steps", "1000000",
                             "--checkpoint-every", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "config.json").exists():  # the first checkpoint: training is under way
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attn: error: interrupted at step") and "--resume" in lines[0]
    assert "Traceback" not in stderr
    step = int(lines[0].split("interrupted at step ")[1].split(";")[0])
    card = json.loads((out / "config.json").read_text())["card"]
    assert card["steps"] == step  # the saved model is the one the message names


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
