"""Ctrl-C during attn heads, as a terminal sends it (SIGINT to the whole process group, the workers
included): one line saying how many texts had been counted, no --html file, exit 130. The moment is
reached by waiting for the progress bar to show a rate, never by sleeping a guessed time."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest
from test_ctrl_c import PATIENCE, read_until

from helpers.census import TEXTS
from helpers.run_cli import attn_executable


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_counts_what_was_done_and_writes_nothing(tmp_path, workers):
    corpus = tmp_path / "long.txt"
    corpus.write_text("\n".join(TEXTS * 2000), encoding="utf-8")
    out = tmp_path / "page.html"
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(TERM="xterm-256color", COLUMNS="150")
    proc = subprocess.Popen([attn_executable(), "heads", str(corpus), "--workers", workers, "--html", str(out)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    try:
        read_until(master, proc, b"texts/s")  # counting has begun
        os.killpg(proc.pid, signal.SIGINT)
        stdout, _ = proc.communicate(timeout=PATIENCE)
        rest = read_until(master, proc, None).decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(master)
    assert proc.returncode == 130 and stdout == b""
    said = re.search(r"attn: interrupted after ([\d,]+) texts? had been counted; nothing was written", rest)
    assert said is not None, rest
    assert 0 < int(said.group(1).replace(",", "")) < len(TEXTS) * 2000
    assert "Traceback" not in rest and not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["long.txt"]
