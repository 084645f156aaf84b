"""attn explain --head all: every head of a layer as small heatmaps, fitted to the terminal width."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from attncli.render.analysis import heads_grid
from helpers.run_cli import run
from helpers.schema import validate

TEXT = "I do not like spinach"


def render(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system="truecolor", force_terminal=True)
    console.print(renderable)
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [20, 40, 80, 200])
def test_fits_the_width_and_shows_every_head(tiny_model, width):
    tokens, _ = tiny_model.encode(TEXT)
    trace = tiny_model.forward([t.id for t in tokens])
    lines = render(heads_grid(trace, 1, tokens, width), width)
    assert all(len(line) <= width for line in lines)
    text = "\n".join(lines)
    for h in range(tiny_model.config.n_head):
        assert f"head {h}" in text
    # causal: the heatmap row of query q has q + 1 visible cells, each drawn as blocks
    T = len(tokens)
    rows = [line for line in lines if "│" in line and "█" in line]
    cell = 2 if any("██" * T in line for line in rows) else 1
    per_row = {}
    for line in rows:
        for part in line.split("│"):
            if part.strip().isdigit():
                q = int(part.strip())
            elif "█" in part and not part.strip(" █"):
                per_row.setdefault(q, set()).add(part.count("█") // cell)
    assert per_row == {q: {q + 1} for q in range(T)}


def test_heatmap_cells_are_colored_by_weight(tiny_model):
    tokens, _ = tiny_model.encode("I do")
    trace = tiny_model.forward([t.id for t in tokens])
    console = Console(width=80, force_terminal=True, color_system="truecolor")
    with console.capture() as cap:
        console.print(heads_grid(trace, 0, tokens, 80))
    # query 0 sees only itself, weight 1: the bright end of the viridis-like ramp, #fde725
    assert "\x1b[38;2;253;231;37m" in cap.get()


def test_cli_head_all_and_json(tiny_model_dir, tiny_model):
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--head", "all", "--layer", "1")
    assert code == 0 and err == "" and "head 0" in out and "head 1" in out
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--head", "all", "--layer", "1", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    validate(doc)
    trace = tiny_model.forward([t.id for t in tiny_model.encode(TEXT)[0]])
    assert doc["layer"] == 1 and len(doc["heads"]) == tiny_model.config.n_head
    for h, head in enumerate(doc["heads"]):
        got = np.array([[0.0 if x is None else x for x in row] for row in head["weights"]])
        np.testing.assert_allclose(got, trace["blocks.1.attn.weights"][h], rtol=1e-6, atol=1e-12)
        assert all(0 <= e <= np.log2(len(got)) + 1e-9 for e in head["entropy_bits"])
