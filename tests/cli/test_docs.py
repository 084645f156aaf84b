"""The docs site builds with `mkdocs build --strict` (a broken link, a missing page or a generated part that
fails is an error), and its generated pages hold what they are generated from: every command and option of
the app, every trace name, every --json document, every recorded benchmark result.

The expected lists are read here from the app, trace.NAMES, the schema and benchmarks/results/ themselves,
not from docs/hooks.py, which writes the pages: a generator that left something out fails."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import ROOT  # the checkout


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    for module, name in (("mkdocs", "mkdocs"), ("material", "mkdocs-material"),
                         ("mkdocstrings_handlers.python", "mkdocstrings-python")):
        pytest.importorskip(module, reason=f"{name} is not installed: pip install '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          check=False, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-4000:]}"
    return out


def text_of(site: Path, page: str) -> str:
    """A built page's text: tags dropped, entities read, white space folded."""
    raw = (site / page / "index.html").read_text(encoding="utf-8")
    main = raw[raw.index("<article"):raw.index("</article>")]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def test_the_site_builds_strictly(site):
    for page in ("index.html", "tutorial/index.html", "reference/cli/index.html", "api/index.html"):
        assert (site / page).is_file(), page


def test_the_cli_reference_has_every_command_and_option(site):
    import typer

    from attncli import cli

    page = text_of(site, "reference/cli")
    seen = 0

    def walk(cmd, path: str) -> None:
        nonlocal seen
        assert f"{path} " in page or page.endswith(path), f"{path} is not in the reference"
        section = page[page.index(path):]  # the command's own section comes first, before its subcommands'
        for p in cmd.params:
            names = p.opts + p.secondary_opts if p.param_type_name == "option" else [p.human_readable_name]
            for name in names:
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", section), f"{path}: {name} is missing"
                seen += 1
            if getattr(p, "help", None):
                assert " ".join(p.help.replace("\\[", "[").split())[:40] in section, f"{path}: {names[0]}'s help"
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(cli.app), "attn")
    assert seen > 100  # every option of every command, counted: the walk did not stop early


def test_the_reference_pages_are_in_the_order_of_the_app(site):
    """Each command's section starts with its usage line, so `attn explain` is found before its options."""
    page = text_of(site, "reference/cli")
    usages = re.findall(r"attn(?: [a-z]+)* \[OPTIONS\]", page)
    assert "attn explain [OPTIONS]" in usages and "attn models rm [OPTIONS]" in usages


def test_the_trace_page_has_every_name(site):
    from attncli.trace import NAMES

    page = text_of(site, "reference/trace")
    for name, shape, _ in NAMES:
        assert f"{name.replace('{L}', 'L')} [{', '.join(shape)}]" in page, name


def test_the_json_page_has_every_document_and_field(site):
    schema = json.loads((ROOT / "src" / "attncli" / "schemas" / "output.schema.json").read_text(encoding="utf-8"))
    page = text_of(site, "reference/json")
    for command in schema["properties"]["command"]["enum"]:
        assert f"{command} field type required" in page or f"{command} The envelope only" in page \
            or re.search(rf"{re.escape(command)} [^|]*? field type required", page), command
    for name, node in schema["$defs"].items():
        for field in node.get("properties", {}):
            assert re.search(rf"(?<![\w]){re.escape(field)}(?![\w])", page), f"{name}.{field}"


def test_the_performance_page_names_every_results_file(site):
    page = text_of(site, "performance")
    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert files
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert f"benchmarks/results/{path.name}" in page
        assert " ".join(str(a) for a in doc["argv"]) in page  # the command beside its figures


def test_the_changelog_is_the_root_file(site):
    first = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").split("\n## ")[1].split("\n")[0]
    assert " ".join(first.replace("[", "").replace("]", "").split()) in text_of(site, "changelog")


def test_the_api_page_is_generated_from_docstrings(site):
    import attncli
    from attncli import api, errors

    page = text_of(site, "api")
    assert " ".join(errors.UsageError.__doc__.split()) in page and "ExitCode" in page
    for name in attncli.__all__:  # every public name of `import attncli`, with its docstring's first line
        if name != "__version__":
            assert f"{name} " in page, name
            assert " ".join(getattr(api, name).__doc__.split("\n\n")[0].replace("`", "").split())[:50] in page, name


def test_mkdocs_is_where_ci_installs_it():
    """The docs extra pins what CI installs before it builds the site."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pins = r'^docs = \[\s*"mkdocs-material>=[\d.]+",\s*"mkdocstrings-python>=[\d.]+",?\s*\]'
    assert re.search(pins, text, re.MULTILINE)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "'.[docs]'" in ci and "mkdocs build --strict" in ci
