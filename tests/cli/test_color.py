"""Color: on a terminal, off a pipe, under NO_COLOR, FORCE_COLOR and --color; and never alone
carrying what a view says (without color, heatmaps draw shades with a key that matches)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers.run_cli import HOWS, attn, ok
from helpers.scrape import ANSI, COLOR_SGR

TEXT = "I do not like spinach"
SHADES = " ░▒▓█"


def heat_rows(stdout: str) -> list[str]:
    """The first heatmap's rows: what lies between its box edges."""
    rows = []
    for line in stdout.splitlines():
        m = re.match(r"^│\s*(\d+)│(.*?)│", line)
        if m:
            rows.append(m.group(2))
    return rows


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}])
def test_every_head_without_color_still_shows_the_pattern(how, env, bundled_model):
    run = ok(attn(how, ["explain", TEXT, "--head", "all", "--layer", "1"], env=env))
    assert not ANSI.search(run.stdout)
    rows = heat_rows(run.stdout)
    toks, _ = bundled_model.encode(TEXT)
    T = len(toks)
    w = bundled_model.forward([t.id for t in toks])["blocks.1.attn.weights"][0]  # head 0: [T, T]
    want = ["".join("··" if k > q else SHADES[min(int(float(w[q, k]) * 5), 4)] * 2 for k in range(T)) for q in range(T)]
    assert rows[:T] == want  # head 0's cells, row by row: the shade of each weight, masked cells ·
    assert len({tuple(heat_rows(run.stdout)[h * T:(h + 1) * T]) for h in range(4)}) > 1  # heads differ, visibly
    key = next(line for line in run.stdout.splitlines() if "keys →" in line)
    for ch, span in zip(SHADES, ("0-20%", "20-40%", "40-60%", "60-80%", "80-100%")):
        assert f"[{ch * 2}] {span}" in key  # a legend that matches the shades


@pytest.mark.parametrize("how", HOWS)
def test_color_always_colors_a_pipe_and_never_colors_nothing(how):
    always = ok(attn(how, ["explain", TEXT, "--color", "always"], env={"NO_COLOR": "1"}))
    assert COLOR_SGR.search(always.stdout)  # --color always beats NO_COLOR, for less -R
    never = ok(attn(how, ["explain", TEXT, "--color", "never"], env={"FORCE_COLOR": "1"}))
    assert not ANSI.search(never.stdout)  # and --color never beats FORCE_COLOR, for CI logs
    auto = ok(attn(how, ["explain", TEXT], env={"FORCE_COLOR": "1"}))
    assert COLOR_SGR.search(auto.stdout)
    bad = attn(how, ["explain", TEXT, "--color", "sometimes"])
    assert bad.code == 2 and "auto, always, never" in bad.stderr


@pytest.mark.parametrize("how", HOWS)
def test_the_attention_table_has_a_color_key(how):
    colored = ok(attn(how, ["explain", TEXT, "--color", "always"])).stdout
    key = next(ANSI.sub("", line) for line in colored.splitlines() if "cell colors" in ANSI.sub("", line))
    assert all(p in key for p in ("0%", "25%", "50%", "75%", "100%"))
    plain = ok(attn(how, ["explain", TEXT])).stdout
    assert "cell colors" not in plain  # without color the cells' own numbers say it all


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("command", [["predict", TEXT], ["compare", TEXT, "I do like spinach"], ["info"],
                                     ["models", "list"]])
def test_every_command_takes_color(how, command):
    assert ANSI.search(ok(attn(how, [*command, "--color", "always"])).stdout)  # styles, into a pipe
    assert not ANSI.search(ok(attn(how, [*command, "--color", "never"], env={"FORCE_COLOR": "1"})).stdout)


def test_shade_steps_cover_zero_to_one():
    from attncli.render.style import shade

    levels = np.linspace(0, 1, 101)
    assert [shade(x) for x in (0.0, 0.19, 0.2, 0.39, 0.4, 0.6, 0.8, 1.0)] == list("  ░░▒▓██")
    assert {shade(x) for x in levels} == set(SHADES)


@pytest.mark.parametrize("command", [["train"], ["eval"], ["models", "list"], ["models", "pull"], ["explain"],
                                     ["predict"], ["compare"], ["info"], ["patch"]])
def test_color_is_an_option_of_every_command(command):
    """Every command takes --color and refuses a wrong value in one line, before doing any work."""
    assert "--color" in ANSI.sub("", ok(attn("runner", [*command, "--help"])).stdout)
    bad = attn("runner", [*command, "--color", "sometimes"])
    assert bad.code == 2 and bad.stdout == "" and "--color 'sometimes' is not one of auto, always, never" in bad.stderr


def test_eval_with_color_never_writes_plain_text(tmp_path):
    story = tmp_path / "story.txt"
    story.write_text("Once upon a time there was a little girl. She liked to play in the park.\n", encoding="utf-8")
    run = ok(attn("process", ["eval", str(story), "--color", "never"], env={"FORCE_COLOR": "1"}))
    assert "perplexity/word" in run.stdout and not ANSI.search(run.stdout + run.stderr)
