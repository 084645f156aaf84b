"""attn view's error boundary: an analysis that fails shows one line in its own panel (what failed,
what to do) while the rest of the screen goes on; if the app itself cannot go on, the command says
so in one line on stderr and exits non-zero. Never a traceback, never the locals.

The failing analysis is real: a model folder whose final norm weights are finite (the loader accepts
them) but near float32's largest value, so the logits overflow to inf and NaN. The forward pass and
attention are untouched; the next-token predictions, drawn as bars, cannot be.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest

from attncli.checkpoints import load
from attncli.commands.view import ViewStopped, stopped
from attncli.errors import ModelError
from attncli.tui.app import ViewApp
from attncli.tui.explorer import Explorer
from helpers.view_helpers import TEXT, drive, make_app, overflow_final_norm


@pytest.fixture(scope="module")
def overflowing_dir(make_model_dir) -> Path:
    return overflow_final_norm(make_model_dir(seed=7, name="overflowing"))


@pytest.fixture
def overflowing_app(overflowing_dir):
    """A new app (a Textual app runs once) on the overflowing model, as attn view builds it."""
    model = load(overflowing_dir)
    tokens, _ = model.encode(TEXT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow itself is the point
        trace = model.forward([t.id for t in tokens])
        with pytest.raises(ModelError, match="overflow"):  # the analysis really fails on this model
            model.predict(trace, 5)
        ex = Explorer(model, TEXT, tokens, trace)

    def make() -> ViewApp:
        return ViewApp(ex, ex.start(0, 0, ex.T - 1), color=False)

    return make


def side_page(shown: str) -> list[str]:
    """The side panel's lines under its tabs."""
    return [line for line in shown.splitlines()[1:] if line.strip()]


def test_a_failed_analysis_is_one_line_in_its_panel_and_the_rest_goes_on(overflowing_app, capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        app = overflowing_app()
        shown = drive(app, ["p"])  # the side panel's next page: the next-token predictions
        again = drive(overflowing_app(), ["p", "p", "p", "p"], then=lambda app, pilot: _still_running(app))
    page = side_page(shown["side"])
    assert len(page) == 1, shown["side"]
    line = page[0]
    assert line.startswith('the next-token predictions at ') and "the model's logits overflow float32" in line
    assert line.endswith("p shows another page")
    assert "Traceback" not in shown["side"] and "File " not in shown["side"]
    assert "▶" in shown["heatmap"] and "layer 0" in shown["header"]  # the other panels are drawn as ever
    assert again["sel"].section == "steps" and "entropy" in again["side"] and again["then"] is True
    assert app.failure is None and app.return_code in (None, 0)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "locals" not in out + err


async def _still_running(app) -> bool:
    return app.is_running and app.failure is None


def test_when_the_app_cannot_go_on_it_stops_with_one_line_and_a_non_zero_code(bundled_model, tmp_path, monkeypatch,
                                                                            capfd):
    """An error outside the panels, where Textual's own handler printed a traceback with locals: the
    first frame's timings (ATTN_VIEW_TIMINGS, for the benchmarks) cannot be written to a missing folder."""
    monkeypatch.setenv("ATTN_VIEW_TIMINGS", str(tmp_path / "missing" / "timings.json"))
    app = make_app(bundled_model)

    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()

    asyncio.run(go())  # Textual's test harness re-raises what its own handler kept; nothing comes out here
    assert isinstance(app.failure, FileNotFoundError) and app.return_code == 1 and not app.is_running
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "locals" not in out + err
    with pytest.raises(ViewStopped) as stop:
        stopped(app.failure, app.return_code)
    message = str(stop.value)
    assert message.startswith("attn view stopped: internal error: FileNotFoundError: ") and "timings.json" in message
    assert message.endswith("(rerun with --debug for the traceback, and please report it)") and "\n" not in message
    assert stop.value.exit_code != 0 and stop.value.__cause__ is app.failure  # --debug's traceback is the cause's
