"""`attn explain` as a table: tokens, attention of one layer and head, contextual vectors, predictions.

The expected numbers come from the hand-set model (known_models.make_known_model) or from
references.naive_forward; none is taken from attncli's own computation.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers.known_models import PROVISIONAL_NOTE
from helpers.references import hf_decode, hf_encode, naive_forward, read_model, softmax64
from helpers.run_cli import HOWS, Call, Run, attn_all, attn_on_a_pty, ok
from helpers.scrape import ANSI, COLOR_SGR, attention_rows, table_lines_after, token_rows, vector_rows, visible_cells

TEXT = "I do not like spinach"


LONG = " ".join([TEXT] * 4)
FORCE = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor"}


def calls(known_dir, tiny_dir, provisional_dir) -> dict[str, Call]:
    """Every explain run this file checks, by name; each runs once per way of running attn."""
    k = ["explain", TEXT, "-m", str(known_dir)]
    return {
        "plain": Call(k),
        "top2": Call([*k, "--top-k", "2"]),
        "scores": Call([*k, "--scores"]),
        "head1": Call([*k, "--scores", "--head", "1"]),
        "mean": Call([*k, "--scores", "--head", "mean"]),
        "layer-1": Call([*k, "--scores", "--layer", "-1"]),
        "layer1": Call([*k, "--scores", "--layer", "1"]),
        "dims3": Call([*k, "--dims", "3", "--head", "1"]),
        "dims2mean": Call([*k, "--dims", "2", "--head", "mean", "--layer", "1"]),
        "dims50": Call([*k, "--dims", "50"]),
        "truncate": Call(["explain", LONG, "-m", str(known_dir), "--truncate"]),
        "random": Call(["explain", TEXT, "-m", str(tiny_dir), "--layer", "1", "--head", "1"]),
        "bundled": Call(["explain", TEXT]),
        "provisional": Call(["explain", TEXT, "-m", str(provisional_dir)]),
        "forced": Call(k, env=FORCE),
        "forced-no-color": Call(k, env={**FORCE, "NO_COLOR": "1"}),
    }


@pytest.fixture(scope="module", params=HOWS)
def runs(request, known, tiny_model_dir, provisional_dir) -> dict[str, Run]:
    return attn_all(request.param, calls(known.path, tiny_model_dir, provisional_dir))


def test_every_run_succeeds_quietly(runs):
    for name, run in runs.items():
        assert run.code == 0, (name, run.how, run.stderr)
        assert run.stderr == "", (name, run.how, run.stderr)


def test_tokens_table_lists_every_token_of_the_models_tokenizer(runs, known):
    ids, _ = hf_encode(known.path, TEXT)
    assert len(ids) > 5  # "spinach" is cut into pieces by this small BPE
    texts = [hf_decode(known.path, [t]) for t in ids]
    # one notation in every table: no leading space; a piece that continues a word (no space before it) gets ##
    expected = [(i, ("##" if i and not text.startswith(" ") else "") + text.strip(" "), t)
                for i, (t, text) in enumerate(zip(ids, texts))]
    assert token_rows(ok(runs["plain"]).stdout) == expected


def test_split_words_are_marked(runs, known):
    _, toks = hf_encode(known.path, TEXT)
    n_pieces = len(toks) - 4  # "I", " do", " not", " like", then the pieces of " spinach"
    notes = [line for line in table_lines_after(ok(runs["plain"]).stdout, "Tokens") if "spinach" in line and "piece" in line]
    assert len(notes) == n_pieces


def test_predictions_are_the_known_models_answer(runs, known):
    p = softmax64(known.logits)
    assert p[known.target] > 0.98  # the model is built so; guards the fixture itself
    lines = table_lines_after(ok(runs["top2"]).stdout, "Next-token predictions")
    body = [line for line in lines if re.match(r"^\s*\d+\s+'", line)]
    assert len(body) == 2
    for line, rank, tid in zip(body, (1, 2), (known.target, known.runner_up)):
        assert line.split()[0] == str(rank)
        assert repr(hf_decode(known.path, [tid])) in line
        assert f"{100 * p[tid]:.1f}%" in line


def test_masked_cells_are_shown_as_masked_not_zero(runs, known):
    run = ok(runs["plain"])
    T = len(hf_encode(known.path, TEXT)[0])
    rows = attention_rows(run.stdout)
    assert len(rows) == T
    masked_cells = set()
    for q, row in enumerate(rows):
        assert row[0].startswith(f"{q} ")
        cells = row[1:]
        assert len(cells) == T
        for k, cell in enumerate(cells):
            if k > q:  # a key after the query: the future
                assert not re.search(r"\d", cell), f"masked cell ({q},{k}) shows a number: {cell!r}"
                masked_cells.add(cell)
            else:  # W_Q = 0 makes every visible score equal, so each row is uniform: 1/(q+1)
                assert abs(int(cell.rstrip("*% ")) - 100 / (q + 1)) <= 0.5
    assert len(masked_cells) == 1 and masked_cells != {""}, masked_cells
    assert "masked" in run.stdout  # the legend says what the mark means


def test_strongest_link_and_percentages_agree_with_a_naive_forward(runs, tiny_model_dir):
    ids, _ = hf_encode(tiny_model_dir, TEXT)
    W = naive_forward(*read_model(tiny_model_dir), ids).weights[1][1]  # [T, T]
    rows = attention_rows(ok(runs["random"]).stdout)
    assert len(rows) == len(ids)
    for q, row in enumerate(rows):
        cells = row[1:]
        starred = [k for k, c in enumerate(cells) if c.endswith("*")]
        assert starred == [int(np.nanargmax(W[q]))]
        for k in range(q + 1):
            assert abs(int(cells[k].rstrip("*%")) - 100 * W[q, k]) <= 0.5 + 1e-6


def test_scores_show_the_scaled_scores(runs, known):
    run = ok(runs["scores"])
    assert "scores" in table_lines_after(run.stdout, "Attention ")[0]
    want = f"{known.scores[(0, 0)]:.2f}"  # b_Q.b_K/sqrt(8) = 2*0.5*8/sqrt(8)
    assert want == "2.83"
    assert visible_cells(run.stdout) == [[want] * (q + 1) for q in range(len(attention_rows(run.stdout)))]


@pytest.mark.parametrize("name, key", [("head1", [(0, 1)]), ("mean", [(0, 0), (0, 1)])])
def test_head_choice(runs, known, name, key):
    run = ok(runs[name])
    want = f"{np.mean([known.scores[k] for k in key]):.2f}"
    assert want == ("1.41" if name == "head1" else "2.12")
    title = table_lines_after(run.stdout, "Attention ")[0]
    assert ("mean" in title) == (name == "mean")
    assert all(row == [want] * len(row) for row in visible_cells(run.stdout))


def test_negative_layer_counts_from_the_end(runs, known):
    last, one = ok(runs["layer-1"]), ok(runs["layer1"])
    assert last.stdout == one.stdout
    assert "layer 1" in table_lines_after(last.stdout, "Attention ")[0]
    want = f"{known.scores[(1, 0)]:.2f}"
    assert want == "-2.83"
    assert all(row == [want] * len(row) for row in visible_cells(last.stdout))


def test_dims_limits_the_contextual_vector_columns(runs, known):
    dims, rows = vector_rows(ok(runs["dims3"]).stdout)
    assert dims == ["d0", "d1", "d2"]
    z = known.z_rows[1]  # head 1's slice of b_V: 0.8 .. 1.5
    assert len(rows) == len(hf_encode(known.path, TEXT)[0])
    for row in rows:
        assert row[2:5] == [f"{x:+.3f}" for x in z[:3]]
        assert row[-1] == f"{np.linalg.norm(z):.3f}"  # the norm is of the whole vector


def test_dims_for_head_mean_shows_attn_out(runs, known):
    dims, rows = vector_rows(ok(runs["dims2mean"]).stdout)
    assert dims == ["d0", "d1"]
    assert rows and all(row[2:4] == [f"{x:+.3f}" for x in known.attn_out[1][:2]] for row in rows)


def test_dims_beyond_the_vector_shows_all(runs):
    dims, _ = vector_rows(ok(runs["dims50"]).stdout)
    assert dims == [f"d{i}" for i in range(8)]  # d_head 8


def test_truncate_keeps_the_last_tokens(runs, known):
    ids, _ = hf_encode(known.path, LONG)
    assert len(ids) > known.n_ctx
    run = ok(runs["truncate"])
    assert [r[2] for r in token_rows(run.stdout)] == ids[-known.n_ctx:]
    # the table shows every row, or the last ones that fit the width and says how many
    window = re.search(r"Showing the last (\d+) of (\d+) tokens", run.stdout)
    shown = known.n_ctx if window is None else int(window.group(1))
    assert window is None or int(window.group(2)) == known.n_ctx
    assert len(attention_rows(run.stdout)) == shown


def test_bundled_model_explains(runs):
    from attncli.checkpoints import bundled_path

    run = ok(runs["bundled"])
    ids, _ = hf_encode(bundled_path(), TEXT)
    assert [r[2] for r in token_rows(run.stdout)] == ids
    assert len(attention_rows(run.stdout)) == len(ids)


def test_provisional_model_says_so(runs):
    assert PROVISIONAL_NOTE in ok(runs["provisional"]).stdout
    assert PROVISIONAL_NOTE not in ok(runs["plain"]).stdout


# ---- colour ---------------------------------------------------------------------------------

def test_no_escape_codes_off_a_terminal(runs):
    for name in ("plain", "scores", "mean", "random", "bundled"):
        assert not ANSI.search(runs[name].stdout), name


def test_forced_terminal_gets_colour_and_no_color_removes_it(runs):
    coloured, plain = ok(runs["forced"]), ok(runs["forced-no-color"])
    assert COLOR_SGR.search(coloured.stdout), "a forced terminal should get colour codes"
    assert not COLOR_SGR.search(plain.stdout)
    assert attention_rows(ANSI.sub("", plain.stdout)) == attention_rows(ANSI.sub("", coloured.stdout))


def test_real_terminal_gets_colour_and_no_color_is_honoured(known):
    args = ["explain", TEXT, "-m", str(known.path)]
    out, err, code = attn_on_a_pty(args, {})
    assert code == 0 and err == ""
    assert COLOR_SGR.search(out)
    out, err, code = attn_on_a_pty(args, {"NO_COLOR": "1"})
    assert code == 0 and err == ""
    assert "Attention weights" in out
    assert not COLOR_SGR.search(out)
