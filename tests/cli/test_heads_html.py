"""attn heads --html: one offline page with the --json document embedded, a cell per head and score, and
a click on a head showing its strongest examples (in headless Chromium where it is installed)."""

from __future__ import annotations

import re

import pytest
from test_html import browser, embedded, errors, settled  # noqa: F401  (browser is a fixture)

from helpers.run_cli import attn

TEXTS = ["the cat sat on the mat.", 'she said <script>alert("x")</script> & left.', "the dog ran to the big park."]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    corpus = folder / "c.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = folder / "heads.html"
    args = ["heads", str(corpus), "--workers", "1", "--induction-samples", "2"]
    r = attn("process", [*args, "--html", str(out), "--json"])
    assert r.code == 0 and r.stderr == f"attn: wrote {out}\n"
    return out, r.json()


def test_the_page_embeds_the_document_and_a_cell_per_head_and_score(page):
    path, doc = page
    text = path.read_text(encoding="utf-8")
    assert embedded(text, "heads-data") == doc
    cells = re.findall(r'<td class="cell"[^>]*data-l="(\d+)" data-h="(\d+)"', text)
    assert len(cells) == 6 * len(doc["heads"])  # six scores of a causal model
    assert "<script>alert" not in text  # the corpus's text is data, never markup
    assert not re.search(r"(src|href)=\"https?:", text)
    examples = embedded(text, "heads-examples")
    assert {e["text"] for layer in examples for head in layer for e in head.values()} <= set(TEXTS)


def test_no_partial_file_is_left_when_the_run_fails(tmp_path):
    out = tmp_path / "x.html"
    r = attn("process", ["heads", str(tmp_path / "missing.txt"), "--html", str(out)])
    assert r.code == 2 and not out.exists() and list(tmp_path.iterdir()) == []


def open_page(driver, path) -> None:
    """Load the census page and wait until it is drawn (explain's page has other parts: test_html's open_page)."""
    driver.get(path.as_uri())
    settled(driver, lambda d: d.execute_script(
        "return document.readyState === 'complete' && document.querySelectorAll('td.cell').length > 0"), True)


def test_a_click_shows_the_head_and_its_strongest_example(browser, page):  # noqa: F811
    path, doc = page
    open_page(browser, path)
    assert errors(browser) == []
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    cell = browser.find_element("css selector", 'td.cell[data-l="1"][data-h="2"]')
    assert cell.get_attribute("title").startswith("head 1.2: previous ")
    cell.click()
    detail = browser.find_element("id", "detail").text
    row = next(h for h in doc["heads"] if h["layer"] == 1 and h["head"] == 2)
    assert detail.startswith("Head 1.2")
    assert f"previous {row['scores']['previous']:.3f}" in detail
    assert "Strongest previous example" in detail and any(t in detail for t in TEXTS)
