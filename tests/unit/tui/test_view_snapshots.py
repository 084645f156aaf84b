"""attn view's screens as Textual renders them (SVG), checked against the accepted ones in
tests/unit/tui/__snapshots__/test_view_snapshots/ by pytest-textual-snapshot. After a change that is
meant to alter a screen, look at the report pytest writes, then accept it with
`pytest tests/unit/tui/test_view_snapshots.py --snapshot-update` and commit the new files.

The keys' effects are asserted on the widgets' text in test_view.py; these catch what text
alone does not: the layout, the colors, the borders, the shade characters without color.
"""

from __future__ import annotations

import pytest

from helpers import ROOT
from helpers.view_helpers import make_app

pytest.importorskip("pytest_textual_snapshot")


def test_opens_at_80x24(snap_compare, bundled_model):
    assert snap_compare(make_app(bundled_model), terminal_size=(80, 24))


def test_without_color_after_keys(snap_compare, bundled_model):
    # layer 0, the mean of heads, the query "not", the overview's "first token", the predictions
    app = make_app(bundled_model, color=False)
    assert snap_compare(app, press=["up", "m", "left", "left", "left", "o", "p"], terminal_size=(80, 24))


def test_scores_on_a_wide_terminal(snap_compare, bundled_model):
    assert snap_compare(make_app(bundled_model, query=3), press=["s", "p", "p"], terminal_size=(120, 32))


def test_help(snap_compare, bundled_model):
    assert snap_compare(make_app(bundled_model), press=["question_mark"], terminal_size=(80, 24))


def test_a_generation_step(snap_compare, bundled_model):
    assert snap_compare(make_app(bundled_model, generate=4), press=["n", "n"], terminal_size=(80, 24))


def test_a_long_text_at_80x24(snap_compare, bundled_model):
    text = " ".join(["the little dog ran to the park"] * 6)
    assert snap_compare(make_app(bundled_model, text, query=20), press=["p", "p", "p"], terminal_size=(80, 24))


def test_the_readme_picture_is_current():
    # docs/view.svg is what docs/view_screenshot.py renders now; rerun the script after a change to the screen
    import importlib.util

    docs = ROOT / "docs"
    spec = importlib.util.spec_from_file_location("view_screenshot", docs / "view_screenshot.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert (docs / "view.svg").read_text(encoding="utf-8") == script.render(), \
        "docs/view.svg is out of date: python docs/view_screenshot.py"
