"""A text too long for the terminal: the attention table shows the last tokens that fit, and says so."""

from __future__ import annotations

import io
import re

import numpy as np
from rich.console import Console

from attncli.labels import token_label
from attncli.render import table as rt
from attncli.views import head_view

TEXT = "the cat sat on the mat and the dog sat on the rug"


def render(renderable, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue()


def header_indices(text: str) -> list[int]:
    """The key indices under the labels in the table's header."""
    line = next(l for l in text.splitlines() if "query ↓ / key →" in l or "q↓ k→" in l)
    return [int(x) for x in re.findall(r"\d+", line.split("k", 1)[1].split("→", 1)[1])]


def test_narrow_table_shows_the_last_tokens_and_says_so(tiny_model):
    toks, _ = tiny_model.encode(TEXT)
    view = head_view(tiny_model.forward([t.id for t in toks]), 0, 0)
    T = len(toks)
    narrow = render(rt.attention_table(view, toks, width=60), 60)
    keys = header_indices(narrow)
    assert keys == list(range(T - len(keys), T)) and len(keys) < T
    assert f"Showing the last {len(keys)} of {T} tokens" in narrow.replace("\n", " ")
    assert max(len(l) for l in narrow.splitlines()) <= 60


def test_a_narrow_terminal_shortens_the_corner_before_it_drops_a_key(bundled_model):
    # the demo at 60 columns: the long corner header would push "i" (and its 47% from "like") off the table
    toks, _ = bundled_model.encode("I do not like spinach")
    trace = bundled_model.forward([t.id for t in toks])
    view = head_view(trace, 1, 3)
    narrow = render(rt.attention_table(view, toks, width=60), 60)
    assert "q↓ k→" in narrow and "query ↓ / key →" not in narrow
    assert header_indices(narrow) == list(range(len(toks))) and "Showing the last" not in narrow
    assert "47%*" in narrow  # like -> i
    wide = render(rt.attention_table(view, toks, width=120), 120)
    assert "query ↓ / key →" in wide  # the full header while it costs nothing


def test_wide_table_shows_every_token(tiny_model):
    toks, _ = tiny_model.encode(TEXT)
    view = head_view(tiny_model.forward([t.id for t in toks]), 0, 0)
    wide = render(rt.attention_table(view, toks, width=400), 400)
    assert header_indices(wide) == list(range(len(toks)))
    assert "Showing the last" not in wide


def test_vectors_table_follows_the_window(tiny_model):
    toks, _ = tiny_model.encode(TEXT)
    view = head_view(tiny_model.forward([t.id for t in toks]), 0, 0)
    first = rt.first_shown([token_label(t) for t in toks], 60)
    assert first > 0
    text = render(rt.vectors_table(view, toks, 4, width=120, first=first), 120)
    rows = [l.split()[0] for l in text.splitlines() if re.match(r"\s*\d+ ", l)]
    assert rows == [str(i) for i in range(first, len(toks))]


LONG_TEXT = " ".join(["the cat sat on the mat and the dog sat on the log"] * 4)


def test_a_long_text_shows_where_the_last_tokens_look(bundled_model):
    """Too long for the matrix: each of the last three tokens' strongest keys, with weights and positions."""
    from helpers.run_cli import attn, ok

    run = ok(attn("runner", ["explain", LONG_TEXT]))
    toks, _ = bundled_model.encode(LONG_TEXT)
    T = len(toks)
    assert T > 24 and "the 8 keys each query token looks at most" in run.stdout
    w = bundled_model.forward([t.id for t in toks])["blocks.1.attn.weights"][3]  # the default view: layer 1, head 3
    for q in range(T - 3, T):
        k = int(np.argmax(w[q]))
        assert re.search(rf"^{q} \S+\s+{k} \S+\s+{100 * w[q, k]:.1f}%", run.stdout, re.M), q  # the strongest key first
    assert "Tokens 42 to 51 of 52" in run.stdout
    one = ok(attn("runner", ["explain", LONG_TEXT, "--token", "10"])).stdout
    assert re.search(r"^10 \S+\s+\d+ ", one, re.M) and not re.search(r"^51 ", one, re.M)
    assert "Tokens 5 to 14 of 52" in " ".join(one.split())


def test_window_shows_any_slice_of_the_matrix(bundled_model):
    from helpers.run_cli import assert_one_error_line, attn, ok

    run = ok(attn("runner", ["explain", LONG_TEXT, "--window", "20:26"]))
    assert header_indices(run.stdout) == list(range(20, 26))
    assert "Showing tokens 20 to 25 of 52" in " ".join(run.stdout.split())
    for bad in ("26:20", "x", "0:99"):
        err = attn("runner", ["explain", LONG_TEXT, "--window", bad])
        assert err.code == 2 and "--window" in assert_one_error_line(err)
