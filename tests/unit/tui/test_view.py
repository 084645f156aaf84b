"""attn view: the explorer's numbers (tui/explorer.py), its panels (tui/panels.py), the keys
driven through Textual's pilot, and the command's errors. The screenshots are checked in
test_view_snapshots.py, the real program in a terminal in test_view_tmux.py."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from attncli.analysis.dla import direct_logit_attribution
from attncli.analysis.steps import walkthrough
from attncli.render.style import SHADES, shade
from attncli.tui import panels
from attncli.tui.explorer import SECTIONS, STATS, Selection, layer_stats
from helpers.run_cli import HOWS, assert_one_error_line, attn
from helpers.view_helpers import TEXT, drive, explorer, make_app

# ---- the numbers -------------------------------------------------------------------------------


def test_layer_stats_by_hand():
    # head 0 looks at the first token only; head 1 spreads evenly over what it may see
    T = 4
    masked = np.triu(np.ones((T, T), dtype=bool), 1)  # [T, T] causal
    first = np.zeros((T, T))
    first[:, 0] = 1.0
    even = np.where(masked, 0.0, 1.0) / np.arange(1, T + 1)[:, None]
    s = layer_stats(np.stack([first, even]), masked)
    assert s["entropy"][0] == 0.0 and math.isclose(s["entropy"][1], 1.0)  # rows that see one key are left out
    assert s["first token"][0] == 1.0
    assert math.isclose(s["first token"][1], np.mean([1 / 2, 1 / 3, 1 / 4]))
    assert math.isclose(s["previous token"][1], np.mean([1 / 2, 1 / 3, 1 / 4]))
    assert math.isclose(s["previous token"][0], np.mean([1.0, 0.0, 0.0]))  # query 1's previous token is token 0
    # the last column is the mean of heads, whose statistics come from the averaged weights
    mean = (first + even) / 2
    assert math.isclose(s["first token"][2], mean[1:, 0].mean())
    row_h = [-(p[p > 0] * np.log2(p[p > 0])).sum() / math.log2(q + 1) for q, p in enumerate(mean) if q]
    assert math.isclose(s["entropy"][2], np.mean(row_h))


def test_the_known_model_spreads_evenly(known):
    from attncli.checkpoints import load

    ex = explorer(load(known.path), "I do not like")
    T = ex.T
    assert np.allclose(ex.stats["entropy"], 1.0)  # every row is uniform: 1/(q+1)
    assert np.allclose(ex.stats["first token"], np.mean([1 / (q + 1) for q in range(1, T)]))
    top, weight = ex.query_top(T - 1)
    assert np.allclose(weight, 1 / T)


def test_from_the_query_is_the_query_rows_largest_weight(bundled_model):
    ex = explorer(bundled_model)
    sel = ex.start(1, 3, 3)._replace(stat="from the query")
    grid = ex.stat_grid(sel)
    w = bundled_model.forward([t.id for t in ex.tokens])["blocks.1.attn.weights"]  # [H, T, T]
    assert np.allclose(grid[1, :4], w[:, 3].max(axis=-1))
    assert np.isclose(grid[1, 4], w[:, 3].mean(axis=0).max())


def test_moving_clamps_the_query_and_layer_and_cycles_heads_through_the_mean(bundled_model):
    ex = explorer(bundled_model)
    sel = ex.start(1, 3, 5)
    assert ex.move(sel, "query", 1).query == 5 and ex.move(sel, "query", -1).query == 4
    assert ex.move(sel, "layer", 1).layer == 1 and ex.move(sel, "layer", -1).layer == 0
    assert ex.move(sel, "head", 1).head == "mean"
    assert ex.move(ex.move(sel, "head", 1), "head", 1).head == 0
    assert ex.move(sel._replace(head=0), "head", -1).head == "mean"
    stats = [sel.stat]
    for _ in STATS:
        stats.append(ex.move(sel._replace(stat=stats[-1]), "stat").stat)
    assert stats == [*STATS, STATS[0]]
    assert ex.move(sel._replace(section=SECTIONS[-1]), "section").section == SECTIONS[0]


def test_levels_are_weights_or_the_rows_scores_low_to_high(bundled_model):
    ex = explorer(bundled_model)
    sel = ex.start(1, 3, 2)
    w = ex.levels(sel)
    assert w[3:] == [None, None, None]  # later keys are masked
    assert math.isclose(sum(w[:3]), 1.0, rel_tol=1e-5)
    s = ex.levels(sel._replace(scores=True))
    assert min(s[:3]) == 0.0 and max(s[:3]) == 1.0 and s[3:] == [None] * 3


def test_only_the_kept_layer_when_the_others_do_not_fit(bundled_model):
    ex = explorer(bundled_model, layers=[1])
    sel = ex.start(0, 3, 5)
    assert sel.layer == 1 and ex.move(sel, "layer", -1).layer == 1
    assert any("only layer 1 is kept" in n for n in panels.notes(ex))
    assert "no logit lens" in panels.PAGES["lens"].draw(ex, sel, 40, False).plain
    assert "reads every layer" in panels.PAGES["dla"].draw(ex, sel, 40, False).plain


def test_dla_says_why_a_post_norm_encoder_has_none(make_model_dir):
    from attncli.checkpoints import load

    model = load(make_model_dir(causal=False, block_norm="post", embed_norm=True, type_vocab_size=2, head="mlm",
                                activation="gelu"))
    ex = explorer(model, "the cat sat")
    sel = ex.start(0, 0, 1)
    assert "DLA needs a next-token model" in panels.PAGES["dla"].draw(ex, sel, 40, False).plain
    assert "logit lens at" in panels.PAGES["lens"].draw(ex, sel, 40, False).plain
    assert "masked LM" in panels.PAGES["predictions"].draw(ex, sel, 40, False).plain
    # a bidirectional model's query sees every key: no masked cell, in the strip or the heatmap
    assert None not in ex.levels(sel)
    assert "·" not in panels.heatmap(ex, sel, 60, 20, color=False).plain


# ---- the panels ----------------------------------------------------------------------------


def test_the_strip_shades_each_token_by_the_querys_weight_without_color(bundled_model):
    ex = explorer(bundled_model)
    sel = ex.start(1, 3, 3)
    lines = panels.token_strip(ex, sel, 80, color=False).plain.split("\n")
    assert lines[0] == "i do not like spin ##ach"
    w = ex.levels(sel)
    expected = " ".join(shade(x) * len(lab) if x is not None else "·" * len(lab) for x, lab in zip(w, ex.labels))
    assert lines[1] == expected
    assert set(lines[1]) <= set(SHADES) | {"·"}


def test_the_strip_wraps_and_keeps_the_query_in_view(bundled_model):
    text = " ".join(["the little dog ran to the park"] * 6)
    ex = explorer(bundled_model, text)
    for q in (0, ex.T - 1):
        shown = panels.token_strip(ex, ex.start(1, 3, q), 30, max_lines=4, color=False)
        lines = shown.plain.split("\n")
        assert len(lines) == 4 and all(len(line) <= 30 for line in lines)
        hit = panels.strip_hit(ex, ex.start(1, 3, q), 30, 4, 0, 0 if q == 0 else 2)
        assert hit is not None and abs(hit - q) < 8


def test_the_heatmap_marks_the_querys_row(bundled_model):
    ex = explorer(bundled_model)
    text = panels.heatmap(ex, ex.start(1, 3, 3), 44, 12, color=False).plain
    rows = text.split("\n")
    marked = [r for r in rows if r.startswith("▶")]
    assert len(marked) == 1 and marked[0].startswith("▶ 3 like") and marked[0].endswith("◀")
    assert rows[0].split() == ["0", "1", "2", "3", "4", "5"]


def test_a_long_heatmap_shows_the_rows_around_the_query_and_says_so(bundled_model):
    ex = explorer(bundled_model, " ".join(["the little dog ran to the park"] * 6))
    q = 20
    text = panels.heatmap(ex, ex.start(1, 3, q), 40, 8, color=False).plain
    rows = text.split("\n")
    assert len(rows) == 8
    assert any(r.startswith(f"▶ {q} ") for r in rows)
    assert f"of 0-{ex.T - 1}" in rows[-1]


def test_the_overview_brackets_the_selected_head_and_writes_its_value(bundled_model):
    ex = explorer(bundled_model)
    sel = ex.start(1, 3, 5)
    lines = panels.overview(ex, sel, 44, 10, color=False).plain.split("\n")
    assert lines[2].startswith("L1") and lines[2].count("[") == 1
    assert lines[2].split()[4].startswith("[")  # L1, heads 0 1 2, then 3
    assert lines[3] == f"entropy at 1.3: {ex.stats['entropy'][1, 3]:.2f}"
    mean = panels.overview(ex, sel._replace(head="mean"), 44, 10, color=False).plain.split("\n")
    assert mean[2].split()[-1].startswith("[") and mean[3].startswith("entropy at 1.μ")
    assert panels.overview_hit(ex, sel, 44, 10, 4, 1) == (0, 0)
    assert panels.overview_hit(ex, sel, 44, 10, len("L0 ███ ███ ███ ███  "), 2) == (1, "mean")


def test_the_steps_page_has_the_walkthroughs_numbers(bundled_model):
    ex = explorer(bundled_model)
    sel = ex.start(1, 3, 3)
    w = walkthrough(ex.trace, 1, 3, 3)
    text = panels.PAGES["steps"].draw(ex, sel, 40, False).plain
    for j in range(4):
        assert f"{float(w.scores[j]):+.2f}" in text and f"{100 * float(w.weights[j]):.1f}%" in text
    assert f"entropy {w.entropy_bits:.2f} bits" in text
    assert f"|z| {float(np.linalg.norm(w.z.astype(np.float64))):.3f}" in text
    best = int(np.argmax(w.weights))
    assert f'top keys: "{ex.labels[best]}"' in text
    mean = panels.PAGES["steps"].draw(ex, sel._replace(head="mean"), 40, False).plain
    assert "mean of heads" in mean and "|attn.out|" in mean


def test_the_side_pages_predictions_lens_and_dla(bundled_model):
    ex = explorer(bundled_model)
    sel = ex.start(1, 3, 3)
    preds = bundled_model.predict(ex.trace, 5, position=3)
    text = panels.PAGES["predictions"].draw(ex, sel, 40, False).plain
    assert "next token after 'i do not like'" in text and repr(preds[0].text) in text
    lens = panels.PAGES["lens"].draw(ex, sel, 40, False).plain
    assert f"tracking {preds[0].text!r}" in lens and "out #1" in lens
    dla = direct_logit_attribution(bundled_model, ex.trace, 3)
    text = panels.PAGES["dla"].draw(ex, sel, 40, False).plain
    assert f"this head, 1.3: {dla.heads[1, 3]:+.2f}" in text and f"sum {dla.total:+.2f}" in text


def test_control_characters_in_the_text_are_shown_not_obeyed(bundled_model):
    ex = explorer(bundled_model, "i like \x1b[31mred")
    sel = ex.start(1, 3, ex.T - 1)
    for page in (panels.header(ex, sel), panels.token_strip(ex, sel, 80), panels.heatmap(ex, sel, 60, 20),
                 panels.side_panel(ex, sel, 40), panels.side_panel(ex, sel._replace(section="predictions"), 40)):
        assert "\x1b" not in page.plain


# ---- the keys, through Textual's pilot -------------------------------------------------------------


def test_it_opens_on_the_models_view_and_the_last_token(bundled_model):
    shown = drive(make_app(bundled_model))
    assert 'layer 1 · head 3 · query 5 "##ach" · weights' in shown["header"]
    assert shown["strip"].split("\n")[0] == "i do not like spin ##ach"
    assert any(line.startswith("▶ 5 ##ach") for line in shown["heatmap"].split("\n"))
    assert " steps " in shown["side"] and '5 "##ach" · layer 1 · head 3' in shown["side"]


@pytest.mark.parametrize("keys, header, check", [
    (["left"], 'query 4 "spin"', lambda s: any(r.startswith("▶ 4 spin") for r in s["heatmap"].split("\n"))),
    (["h", "h", "home"], 'query 0 "i"', lambda s: s["sel"].query == 0),
    (["home", "end"], 'query 5 "##ach"', lambda s: s["sel"].query == 5),
    (["up"], "layer 0 · head 3", lambda s: s["overview"].split("\n")[1].count("[") == 1),
    (["k", "j"], "layer 1 · head 3", lambda s: s["overview"].split("\n")[2].count("[") == 1),
    (["left_square_bracket"], "layer 1 · head 2", lambda s: "entropy at 1.2" in s["overview"]),
    (["right_square_bracket"], "mean of heads", lambda s: "entropy at 1.μ" in s["overview"]),
    (["m"], "mean of heads", lambda s: "mean of heads" in s["side"]),
    (["m", "m"], "layer 1 · head 3", lambda s: "layer 1 · head 3" in s["side"]),
    (["s"], "· scores", lambda s: "lowest score to its highest" in s["heatmap"]),
    (["s", "s"], "· weights", lambda s: "lowest score" not in s["heatmap"]),
    (["o"], "head 3", lambda s: "first token at 1.3" in s["overview"]),
    (["o", "o", "o"], "head 3", lambda s: "from the query at 1.3" in s["overview"] and " on " in s["overview"]),
    (["p"], "head 3", lambda s: "next token after" in s["side"]),
    (["tab", "tab"], "head 3", lambda s: "logit lens at" in s["side"]),
    (["p", "p", "p"], "head 3", lambda s: "direct logit attribution" in s["side"]),
    (["shift+tab"], "head 3", lambda s: "direct logit attribution" in s["side"]),
])
def test_keys_change_what_is_shown(bundled_model, keys, header, check):
    shown = drive(make_app(bundled_model), keys)
    assert header in shown["header"], shown["header"]
    assert check(shown), shown


def test_the_strip_follows_the_head_and_layer(bundled_model):
    before = drive(make_app(bundled_model, color=False, query=3))
    after = drive(make_app(bundled_model, color=False, query=3), ["up", "left_square_bracket"])
    ex = explorer(bundled_model)
    for shown, sel in ((before, ex.start(1, 3, 3)), (after, ex.start(0, 2, 3))):
        assert shown["strip"].split("\n")[1] == panels.token_strip(ex, sel, 200, color=False).plain.split("\n")[1]
    assert before["strip"] != after["strip"]


def test_help_opens_and_closes(bundled_model):
    async def help_text(app, pilot):
        from rich.console import Console

        console = Console(width=76, color_system=None, record=True, file=open(os.devnull, "w"))
        console.print(app.screen.query_one("#help-text").content)
        return console.export_text()

    shown = drive(make_app(bundled_model), ["question_mark"], then=help_text)
    assert shown["screen"] == "Help"
    assert "attn view: keys" in shown["then"] and "scores (before softmax)" in shown["then"]
    assert drive(make_app(bundled_model), ["question_mark", "escape"])["screen"] == "Screen"
    assert drive(make_app(bundled_model), ["question_mark", "question_mark"])["screen"] == "Screen"


def test_q_quits(bundled_model):
    app = make_app(bundled_model)

    async def quit_(app, pilot):
        await pilot.press("q")
        await pilot.pause()
        return app.is_running

    assert drive(app, then=quit_)["then"] is False
    assert app.return_code == 0


def test_every_panel_fits_80_by_24(bundled_model):
    async def regions(app, pilot):
        return {w.id: w.region for w in app.screen.query("#header, #strip, #heatmap, #overview, #side, #keys")}

    for text in (TEXT, " ".join(["the little dog ran to the park"] * 6)):
        shown = drive(make_app(bundled_model, text), then=regions)
        for name, region in shown["then"].items():
            assert region.height > 0 and region.bottom <= 24 and region.right <= 80, (name, region)
        assert "▶" in shown["heatmap"]  # the query's row is in view


def test_the_mouse_picks_a_token_a_row_and_a_head(bundled_model):
    async def clicks(app, pilot):
        out = []
        await pilot.click("#strip", offset=(2 + len("i do "), 1))  # border and padding, then "not"
        out.append(app.sel.query)
        await pilot.click("#heatmap", offset=(3, 2 + 1))  # border, key header, then row 1
        out.append(app.sel.query)
        await pilot.click("#overview", offset=(1 + 4, 1 + 1))  # border, then L0's head 0
        out.append((app.sel.layer, app.sel.head))
        return out

    assert drive(make_app(bundled_model), then=clicks)["then"] == [2, 1, (0, 0)]


def test_without_color_no_panel_uses_color(bundled_model):
    from textual.filter import NoColor

    async def styles(app, pilot):
        return [span.style for p in app.query("Panel") for span in p.last.spans]

    app = make_app(bundled_model, color=False)
    shown = drive(app, ["p"], then=styles)
    assert shown["then"] and all("rgb" not in str(s) and " on " not in str(s) for s in shown["then"])
    assert "reverse" in " ".join(map(str, shown["then"]))  # the selection shows without color
    assert any(isinstance(f, NoColor) for f in app._filters)  # and Textual's own colors are dropped too


# ---- stepping through a generation (-g N) ------------------------------------------------------


def test_generated_tokens_join_the_trace_with_the_kv_caches_attention(bundled_model):
    from attncli.generate import generate_steps

    ex = explorer(bundled_model, generate=4)
    prompt = [t.id for t in bundled_model.encode(TEXT)[0]]
    assert ex.prompt == len(prompt) and ex.T == len(prompt) + 4
    logits = ex.trace["logits"].astype(np.float64)  # [T, V]: the whole text, no cache
    cached = generate_steps(bundled_model, prompt, 4, layer=1).steps  # the cache's own rows, step by step
    for n in range(4):
        q = ex.prompt - 1 + n
        assert ex.step_at(q) == n
        assert ex.tokens[q + 1].id == int(np.argmax(logits[q]))  # greedy: the likeliest at the step's query
        assert np.allclose(ex.trace["blocks.1.attn.weights"][:, q, :q + 1], cached[n].weights, atol=1e-5)
        assert not ex.trace["blocks.1.attn.weights"][:, q, q + 1:].any()  # it could not see later tokens
    assert ex.step_at(ex.prompt - 2) is None and ex.step_at(ex.T - 1) is None  # the last token chose nothing


def test_a_sampled_generation_follows_its_seed(bundled_model):
    from attncli.generate import generate_steps

    prompt = [t.id for t in bundled_model.encode(TEXT)[0]]
    a = explorer(bundled_model, generate=6, temperature=1.5, seed=7)
    expected = [s.id for s in generate_steps(bundled_model, prompt, 6, 1.5, 7).steps]
    assert [t.id for t in a.tokens[a.prompt:]] == expected
    sel = a.start(1, 3, a.prompt - 1)
    assert "sampled at temperature 1.5, seed 7" in panels.PAGES["predictions"].draw(a, sel, 40, False).plain


def test_the_step_keys_walk_the_generation(bundled_model):
    ex = explorer(bundled_model, generate=3)
    sel = ex.start(1, 3, 0)
    assert ex.move(sel, "step", 1).query == ex.prompt - 1  # from the prompt: to the first step
    assert ex.move(sel, "step", -1).query == ex.prompt + 1  # ... or back to the last
    at = ex.move(sel, "step", 1)
    assert ex.move(at, "step", 1).query == ex.prompt and ex.move(at, "step", -1).query == at.query
    plain = explorer(bundled_model)
    assert plain.move(sel, "step", 1) == sel  # without -g the key does nothing


def test_generation_through_the_pilot(bundled_model):
    first = drive(make_app(bundled_model, generate=3))
    ex = explorer(bundled_model, generate=3)
    words = [bundled_model.tokenizer.display(t.id) for t in ex.tokens[ex.prompt:]]
    assert first["strip"].split("\n")[0] == " ".join(ex.labels)  # the generated tokens are in the strip
    assert "step 1/3" in first["header"] and f'query {ex.prompt - 1} "##ach"' in first["header"]
    assert "step 1 of 3 · greedy" in first["side"] and f"chose {words[0]!r}" in first["side"]
    marked = [line for line in first["side"].split("\n") if line.startswith("*")]
    assert len(marked) == 1 and repr(words[0]) in marked[0]  # the chosen token, in the predictions
    second = drive(make_app(bundled_model, generate=3), ["n"])
    assert "step 2/3" in second["header"] and f"chose {words[1]!r}" in second["side"]
    assert second["sel"].query == ex.prompt
    # the strip's shades are the step's query row, whose weights reach the token generated before it
    row = ex.trace["blocks.1.attn.weights"][3, ex.prompt]  # [T]
    heat = second["strip"].split("\n")[1]
    no_color = drive(make_app(bundled_model, generate=3, color=False), ["n"])["strip"].split("\n")[1]
    assert heat != no_color
    for j in (0, ex.prompt - 1, ex.prompt, ex.prompt + 1):  # the first, the step's, the query, one it cannot see
        at = len(" ".join(ex.labels[:j])) + (1 if j else 0)
        expected = "·" if j > ex.prompt else shade(float(row[j]))
        assert no_color[at:at + len(ex.labels[j])] == expected * len(ex.labels[j]), j
    back = drive(make_app(bundled_model, generate=3), ["n", "n", "n", "b"])
    assert "step 2/3" in back["header"]


# ---- the command -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOWS)
def test_view_needs_a_terminal_and_says_what_to_use(how):
    r = attn(how, ["view", TEXT])
    assert r.code == 2 and r.stdout == ""
    assert "terminal" in assert_one_error_line(r) and "attn explain" in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--layer", "9"], ("--layer 9 is out of range",)),
    (["--head", "all"], ("--head 'all' is not a head",)),
    (["--token", "zebra"], ("--token 'zebra'",)),
    (["--ablate", "7.0"], ("--ablate 7.0",)),
    (["--color", "pink"], ("--color",)),
])
def test_view_errors_are_one_line(args, words):
    r = attn("runner", ["view", TEXT, *args])
    assert r.code == 2 and r.stdout == ""
    message = assert_one_error_line(r)
    assert all(w in message for w in words), message


@pytest.mark.parametrize("args, words", [
    (["--temperature", "0.5"], ("add -g N",)),
    (["-g", "2", "--temperature", "-1"], ("--temperature must be",)),
    (["-g", "9999"], ("-g 9999 goes past this model's context",)),
    (["-g", "-1"], ("-g",)),
])
def test_view_generation_errors_are_one_line(args, words):
    r = attn("runner", ["view", TEXT, *args])
    assert r.code == 2 and r.stdout == ""
    message = assert_one_error_line(r)
    assert all(w in message for w in words), message


def test_an_encoder_cannot_generate(make_model_dir):
    path = make_model_dir(causal=False, block_norm="post", embed_norm=True, type_vocab_size=2, head="mlm",
                          activation="gelu", name="enc")
    r = attn("runner", ["view", "the cat sat", "-m", str(path), "-g", "2"])
    assert r.code == 2 and "-g needs a next-token model" in assert_one_error_line(r)


@pytest.mark.parametrize("how", HOWS)
def test_an_unknown_model_and_an_empty_text_are_one_line(how, tmp_path):
    r = attn(how, ["view", TEXT, "-m", str(tmp_path / "nope")])
    assert r.code == 1 and r.stdout == "" and "no such file or directory" in assert_one_error_line(r)
    r = attn(how, ["view", " "])
    assert r.code == 2 and r.stdout == "" and "the text is empty" in assert_one_error_line(r)


def test_view_reads_the_text_from_stdin_like_explain():
    r = attn("runner", ["view"], input="")
    assert r.code == 2 and "empty" in assert_one_error_line(r)


def test_only_view_imports_textual():
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.__stderr__.write('TEXTUAL ' + str(any(m.split('.')[0] == 'textual' "
            "for m in sys.modules)) + chr(10)))\n"
            "from attncli.cli import main\n"
            "sys.argv = ['attn'] + sys.argv[1:]\n"
            "main()\n")
    # (attn view TEXT itself stops here before Textual: stderr is not a terminal)
    for args in (["explain", TEXT], ["--help"], ["view", "--help"], ["view", TEXT]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert "TEXTUAL False" in proc.stderr, (args, proc.stderr)
    assert "view" in subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True,
                                    timeout=120).stdout


def test_the_selection_is_a_plain_record():
    sel = Selection(1, 3, 5)
    assert sel.scores is False and sel.stat == STATS[0] and sel.section == SECTIONS[0]


def test_a_special_token_query_is_named_in_the_panel_titles():
    import html
    import re

    from attncli.checkpoints import load

    model = load("bundled-mlm")  # [CLS] the cat sat [SEP]: the last query is [SEP]

    async def drawn(app, pilot):  # the text of the screen as Textual draws it, piece by piece
        svg = app.export_screenshot()
        return [html.unescape(t).replace("\xa0", " ").strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]

    shown = drive(make_app(model, "the cat sat", layer=0, head=0), then=drawn)["then"]
    assert 'tokens, shaded by query 4 "[SEP]"\'s weights' in shown  # a title was markup: "[SEP]" vanished as a tag
    assert 'query 4 "[SEP]" (p: page)' in shown


def test_the_heatmap_grows_to_fill_a_large_terminal(bundled_model):
    async def size(app, pilot):
        return app.query_one("#heatmap").content_region.size

    shown = drive(make_app(bundled_model), size=(200, 50), then=size)
    width, height = shown["then"]
    lines = shown["heatmap"].split("\n")
    assert len(lines) >= 0.9 * height and len(lines) <= height  # 6 queries, each on several lines
    query_row = next(line for line in lines if line.startswith("▶"))
    assert len(query_row) >= 0.9 * width and len(query_row) <= width  # 6 keys, each cell many columns wide
    cells = lines[1][len("  0 i     "):].rstrip()  # the first query sees one key: one cell, many columns wide
    assert set(cells) == {"█"} and len(cells) >= 4 and len(query_row.rstrip("◀")) - len("▶ 5 ##ach ") == 6 * len(cells)

    async def click_low(app, pilot):  # the last line of query 1's cells picks query 1
        rows = [n for n, line in enumerate(app.panel("heatmap").split("\n")) if line.startswith("  2 ")]
        await pilot.click("#heatmap", offset=(40, 1 + rows[0] - 1))  # the border, then the line above query 2's
        return app.sel.query

    assert drive(make_app(bundled_model), size=(200, 50), then=click_low)["then"] == 1
