"""README.md and the docs pages render as written (CommonMark) and their examples are what the commands print;
README stays short, and its links into the docs lead somewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]  # what docs/readme_examples.py re-runs
IDS = [str(p.relative_to(ROOT)) for p in PAGES]


def tokens(path: Path = README):
    from markdown_it import MarkdownIt  # Rich's own Markdown parser: installed with attncli

    return MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))


def test_the_docs_pages_are_there():
    assert len(PAGES) > 15 and (ROOT / "docs" / "tutorial.md") in PAGES


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_every_page_says_more_than_its_title(path):
    """A page whose text was lost (a title and a generated part's mark at the most) fails here."""
    body = [line for line in path.read_text(encoding="utf-8").split("\n")[1:]
            if line.strip() and not line.startswith("<!-- generated:")]
    assert len(body) >= 3, f"{path.relative_to(ROOT)} holds no more than its title"


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_every_heading_line_is_a_heading(path):
    lines = path.read_text(encoding="utf-8").split("\n")
    headings = {t.map[0] for t in tokens(path) if t.type == "heading_open"}
    for n, line in enumerate(lines):
        if line.startswith(("## ", "### ", "#### ")):
            assert n in headings, f"line {n + 1} is not rendered as a heading (a code fence swallowed it?): {line}"
    assert headings


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_every_code_fence_closes(path):
    lines = path.read_text(encoding="utf-8").split("\n")
    for t in tokens(path):
        if t.type == "fence":
            last = lines[t.map[1] - 1].strip()
            assert last.startswith("```") and last.strip("`") == "", \
                f"the code block opened at line {t.map[0] + 1} is not closed by a fence of its own"


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_every_command_example_is_in_a_code_block(path):
    """A `$ attn` line outside a fence would be neither rendered as code nor re-run."""
    fenced = set()
    for t in tokens(path):
        if t.type == "fence":
            fenced.update(range(t.map[0], t.map[1]))
    lines = path.read_text(encoding="utf-8").split("\n")
    assert [n + 1 for n, line in enumerate(lines) if line.startswith("$ attn") and n not in fenced] == []


def test_the_readme_is_short():
    """The README introduces; the docs hold the rest (issue 20: at most 300 lines)."""
    assert len(README.read_text(encoding="utf-8").split("\n")) <= 300


def test_the_readme_links_lead_to_files_that_exist():
    """Relative links, so they work on GitHub as well as in a checkout; each names a file that is there, and a
    link to a docs page's section names a heading of that page."""
    import re

    links = re.findall(r"\]\(([^)#\s]+)(?:#([^)\s]+))?\)", README.read_text(encoding="utf-8"))
    assert len(links) > 10
    for target, anchor in links:
        assert not target.startswith(("http:", "https:", "/")), target
        assert (ROOT / target).exists(), target
        if anchor:
            titles = [line.lstrip("#").strip() for line in (ROOT / target).read_text(encoding="utf-8").split("\n")
                      if line.startswith("#")]
            assert anchor in [re.sub(r"[^\w\- ]", "", t).lower().replace(" ", "-") for t in titles], (target, anchor)


def test_the_readme_gives_the_install_and_test_commands_ci_runs():
    """.ci/run installs `.[test]` and runs `python -m pytest`, as README says a user does."""
    text = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install '.[test]'" in text and "python -m pytest" in text
    assert "pip install --quiet '.[test]'" in ci and "\npython -m pytest\n" in ci


def test_the_parser_sees_an_unclosed_fence():  # guards the two tests above: they can fail
    from markdown_it import MarkdownIt

    doc = "## A\n\n```\ncode\n``` text glued to the fence\n\n## B\n"
    toks = MarkdownIt("commonmark").parse(doc)
    assert sum(t.type == "heading_open" for t in toks) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="the examples are bash command lines")
def test_the_examples_are_real_runs():
    script = ROOT / "docs" / "readme_examples.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], check=False, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, \
        f"README's or the docs' examples differ from the real output (run docs/readme_examples.py):\n{proc.stdout}"


def _examples():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_examples", ROOT / "docs" / "readme_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def excerpts() -> list[tuple[str, list[str]]]:
    """(command, the lines shown) of each block marked as an excerpt in README or a docs page, but attn eval's
    (it reads a corpus outside the repository)."""
    out, mark = [], "<!-- excerpt -->"
    for path in PAGES:
        lines = path.read_text(encoding="utf-8").split("\n")
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


def test_the_docs_say_what_the_tests_download():
    """The llama.cpp reference data the GGUF tokenizer tests fetch: which file, how big, and where it goes
    (docs/development.md, where README's test command points)."""
    import re

    from helpers import llamacpp_data as data

    text = " ".join((ROOT / "docs" / "development.md").read_text(encoding="utf-8").split())
    said = re.search(rf"llama-cpp-python {re.escape(data.SDIST_VERSION)} source distribution: .*?\((\d+) MB", text)
    assert said is not None and "ATTN_TEST_CACHE" in text and "~/.cache/attncli/test-data/" in text
    if not os.environ.get("ATTN_TEST_CACHE"):  # the folder the page names is the one the tests use
        assert data.cache_dir() == Path(os.path.expanduser("~/.cache/attncli/test-data"))
    fetched = data.cache_dir() / data.SDIST_NAME
    if fetched.exists():
        assert int(said.group(1)) == round(fetched.stat().st_size / 1e6)
