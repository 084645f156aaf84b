"""A known model's size reads the same in README's table, in the docs' list of known models, in `attn models list`
before a pull and after it: the
bytes the cache holds once it is pulled (MiniLM's unzipped folder, not its 79.5 MiB download), in the binary
units attncli shows every size in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attncli import registry
from attncli.units import binary_size
from helpers import ROOT
from helpers.run_cli import HOWS, attn, ok

README = ROOT / "README.md"
MODELS_PAGE = ROOT / "docs" / "guides" / "models.md"


def listed(how: str, cache: Path | None) -> dict[str, int]:
    env = {"ATTN_CACHE": str(cache)} if cache is not None else None
    doc = ok(attn(how, ["models", "list", "--json"], env=env)).json()
    return {m["name"]: m["size_bytes"] for m in doc["models"]}


def docs_size(name: str) -> str:
    """The size the docs' list of known models gives `name` (the first figure of its item), as written."""
    item = re.search(rf"^- `{re.escape(name)}`: (.*(?:\n  .*)*)", MODELS_PAGE.read_text(encoding="utf-8"), re.MULTILINE)
    assert item is not None, name
    return re.search(r"[\d,.]+ [KMG]iB", item.group(1)).group(0)


def readme_size(name: str) -> str:
    """The size README's table of the models it loads gives `name`, as written."""
    row = re.search(rf"^\| `{re.escape(name)}` \|.*", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert row is not None, name
    return re.search(r"[\d,.]+ [KMG]iB", row.group(0)).group(0)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("name", list(registry.KNOWN))
def test_the_size_before_a_pull_is_the_size_after_it_and_readmes(tmp_path, name, how):
    before = listed(how, tmp_path / "empty-cache")[name]
    assert readme_size(name) == docs_size(name) == binary_size(before)
    if not registry.is_pulled(registry.KNOWN[name]):
        pytest.skip(f"{name} is not pulled here: only README, the docs and the size before a pull were compared")
    assert listed(how, None)[name] == before
