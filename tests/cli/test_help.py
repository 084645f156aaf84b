"""Each command's --help reads as prose at any width, and says only what the command does."""

from __future__ import annotations

import re

import pytest

from attncli.cli import COMMANDS
from helpers.run_cli import HOWS, attn, ok

TOP = [name for name in COMMANDS if name != "models"]  # models' subcommands are their own group
WIDTHS = list(range(60, 161, 9))


def prose(help_text: str) -> list[list[str]]:
    """The description's paragraphs (between the usage line and the first panel), as lines without margins."""
    lines = help_text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next(i for i, line in enumerate(lines) if line.lstrip().startswith("╭"))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start:end]:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", TOP)
def test_the_description_wraps_as_prose(command, width):
    """Each line is as full as it can be: the next line's first word would not have fit on it
    (a line break kept from the docstring left `view --help` a line holding only "head")."""
    run = ok(attn("runner", [command, "--help"], env={"COLUMNS": str(width)}))
    room = width - 2  # Rich's margin of one column on each side
    for paragraph in prose(run.stdout):
        for line, after in zip(paragraph, paragraph[1:]):
            assert len(line) + 1 + len(after.split()[0]) > room, (width, line, after)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("command", ["compare", "patch", "explain", "info", "heads"])
def test_one_document_commands_do_not_speak_of_streams(command, how):
    run = ok(attn(how, [command, "--help"], env={"COLUMNS": "200"}))
    json_help = next(line for line in run.stdout.split("\n") if "--json" in line)
    assert "stream" not in json_help and "JSON Lines" not in json_help, json_help
    assert "one JSON document" in json_help


@pytest.mark.parametrize("how", HOWS)
def test_predict_says_when_it_writes_json_lines(how):
    run = ok(attn(how, ["predict", "--help"], env={"COLUMNS": "200"}))
    json_help = " ".join(re.findall(r"--json\s+(.*?)│", run.stdout))
    assert "one document a line (JSON Lines)" in json_help and "stdin" in json_help, json_help
