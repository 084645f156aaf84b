"""Where output goes when stdout is not a happy terminal: a full disk, a closed pipe; and help,
printed once."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers.run_cli import HOWS, assert_one_error_line, attn, attn_executable

FULL = "/dev/full"


@pytest.mark.skipif(not os.path.exists(FULL), reason="this system has no /dev/full to stand for a full disk")
@pytest.mark.parametrize("args", [["explain", "hi"], ["explain", "hi", "--json"], ["predict", "hi"], ["info"],
                                  ["models", "list"]])
def test_a_full_stdout_is_one_line_that_says_so(args):
    with open(FULL, "w") as full:
        proc = subprocess.run([attn_executable(), *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 1
    line = assert_one_error_line(type("R", (), {"stderr": proc.stderr})())
    assert "cannot write the output to stdout" in line and "No space left on device" in line
    assert "internal error" not in proc.stderr


def test_a_closed_pipe_stays_silent():
    # a reader that takes one line and goes away, with far more output waiting than a pipe holds
    attn_ = subprocess.Popen([attn_executable(), "explain", "word " * 60, "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    first = attn_.stdout.read(10)
    attn_.stdout.close()
    _, err = attn_.communicate(timeout=60)
    assert first and err == b""
    assert attn_.returncode in (0, 1)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("args", [[], ["models"]])
def test_help_without_a_subcommand_is_printed_once(how, args):
    run = attn(how, args)
    assert run.code == 2
    assert (run.stdout + run.stderr).count("Usage:") == 1
