"""README.md renders as written (CommonMark) and its examples are what the commands print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

README = ROOT / "README.md"


def tokens():
    from markdown_it import MarkdownIt  # Rich's own Markdown parser: installed with attncli

    return MarkdownIt("commonmark").parse(README.read_text(encoding="utf-8"))


def test_every_heading_line_is_a_heading():
    lines = README.read_text(encoding="utf-8").split("\n")
    headings = {t.map[0] for t in tokens() if t.type == "heading_open"}
    for n, line in enumerate(lines):
        if line.startswith(("## ", "### ", "#### ")):
            assert n in headings, f"line {n + 1} is not rendered as a heading (a code fence swallowed it?): {line}"
    assert len(headings) > 20


def test_every_code_fence_closes():
    lines = README.read_text(encoding="utf-8").split("\n")
    for t in tokens():
        if t.type == "fence":
            last = lines[t.map[1] - 1].strip()
            assert last.startswith("```") and last.strip("`") == "", \
                f"the code block opened at line {t.map[0] + 1} is not closed by a fence of its own"


def test_the_parser_sees_an_unclosed_fence():  # guards the two tests above: they can fail
    from markdown_it import MarkdownIt

    doc = "## A\n\n```\ncode\n``` text glued to the fence\n\n## B\n"
    toks = MarkdownIt("commonmark").parse(doc)
    assert sum(t.type == "heading_open" for t in toks) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="the examples are bash command lines")
def test_the_examples_are_real_runs():
    script = ROOT / "docs" / "readme_examples.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"README examples differ from the real output (run docs/readme_examples.py):\n{proc.stdout}"


def _examples():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_examples", README.parent / "docs" / "readme_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def excerpts() -> list[tuple[str, list[str]]]:
    """(command, the lines shown) of each block marked as an excerpt, but attn eval's (it reads a corpus
    outside the repository)."""
    lines, mark = README.read_text(encoding="utf-8").split("\n"), "<!-- excerpt -->"
    out = []
    for i, line in enumerate(lines[:-2]):
        if line.strip() == mark and lines[i + 1].startswith("```") and lines[i + 2].startswith("$ attn "):
            end = lines.index("```", i + 2)
            if " eval " not in lines[i + 2]:
                out.append((lines[i + 2][2:], lines[i + 3:end]))
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="the examples are bash command lines")
@pytest.mark.parametrize("command,shown", excerpts(), ids=[c[:60] for c, _ in excerpts()])
def test_every_line_of_an_excerpt_is_a_line_the_command_prints(tmp_path, command, shown):
    """An excerpt leaves lines out ("..."), never says what the command does not print."""
    examples = _examples()
    why = examples.missing(command)
    if why:
        pytest.skip(why)
    printed = examples.run(command, str(tmp_path)).split("\n")
    assert [line for line in shown if line.strip() != "..." and line.rstrip() not in printed] == []


def test_the_readme_says_what_the_tests_download():
    """The llama.cpp reference data the GGUF tokenizer tests fetch: which file, how big, and where it goes."""
    import re

    from helpers import llamacpp_data as data

    text = " ".join(README.read_text(encoding="utf-8").split())
    said = re.search(rf"llama-cpp-python {re.escape(data.SDIST_VERSION)} source distribution: .*?\((\d+) MB", text)
    assert said is not None and "ATTN_TEST_CACHE" in text and "~/.cache/attncli/test-data/" in text
    if not os.environ.get("ATTN_TEST_CACHE"):  # the folder README names is the one the tests use
        assert data.cache_dir() == Path(os.path.expanduser("~/.cache/attncli/test-data"))
    fetched = data.cache_dir() / data.SDIST_NAME
    if fetched.exists():
        assert int(said.group(1)) == round(fetched.stat().st_size / 1e6)
