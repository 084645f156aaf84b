"""No line of what a command prints ends in whitespace: Rich pads table cells and lines to their
width, and a file, a pipe or a diff of the output would carry the padding (31 of the demo's 59 lines
did). Checked on the installed `attn`, plain (stdout not a terminal, NO_COLOR), and in-process."""

from __future__ import annotations

import pytest

from helpers.run_cli import HOWS, attn

TEXT = "I do not like spinach"
COMMANDS = [
    ["explain", TEXT],
    ["explain", TEXT, "--steps"],
    ["explain", TEXT, "--summary"],
    ["explain", TEXT, "--head", "all"],
    ["predict", TEXT],
    ["predict", TEXT, "-g", "3"],
    ["compare", TEXT, "I do not like broccoli"],
    ["info"],
    ["models", "list"],
]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:1] + a[2:]) for a in COMMANDS])
def test_no_line_ends_in_whitespace(how, args):
    r = attn(how, args, env={"NO_COLOR": "1"})
    assert r.code == 0, r.stderr
    lines = r.stdout.split("\n")
    assert len(lines) > 3 and r.stdout.endswith("\n")
    padded = [(n, line) for n, line in enumerate(lines) if line != line.rstrip()]
    assert padded == [], f"{len(padded)} of {len(lines)} lines end in whitespace, e.g. {padded[:3]}"
