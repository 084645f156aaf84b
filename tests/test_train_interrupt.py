"""Ctrl-C during attn train: the work so far is saved, one line says how to go on, exit 130."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import pytest
from train_helpers import TINY_FLAGS, write_corpus


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
