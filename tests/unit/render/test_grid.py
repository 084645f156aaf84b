"""render.grid.Grid draws what rich.Table draws, character for character and style for style.

Grid is attncli's fast path for its everyday tables; rich.Table is the reference. Every case is
drawn by both on the same console, and compared as plain text and as the style of every cell.
"""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from rich import box
from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from attncli.render.grid import Grid


def console(width: int = 100, color: bool = True) -> Console:
    return Console(file=io.StringIO(), width=width, color_system="truecolor" if color else None, force_terminal=color,
                   highlight=False, markup=False, emoji=False, legacy_windows=False)


def styled_chars(c: Console, renderable) -> list[tuple[str, str]]:
    """Every character drawn, with the style it is drawn in."""
    out = []
    for seg in c.render(renderable, c.options):
        if seg.control:
            continue
        style = str(seg.style) if seg.style else ""
        out.extend((ch, style) for ch in seg.text)
    return out


def same(grid: Grid, width: int = 100) -> None:
    for color in (True, False):
        c = console(width, color)
        got, want = styled_chars(c, grid), styled_chars(c, grid.rich_table())
        assert "".join(ch for ch, _ in got) == "".join(ch for ch, _ in want)
        assert got == want
        c.print(grid)
        text = c.file.getvalue()
        c2 = console(width, color)
        c2.print(grid.rich_table())
        assert text == c2.file.getvalue()  # the bytes a terminal gets, escape codes included


def draws_itself(grid: Grid, width: int = 100) -> bool:
    """Whether the Grid drew the table (True) or handed it to rich.Table (False)."""
    c = console(width)
    return all(isinstance(x, Segment) for x in grid.__rich_console__(c, c.options))


def sample(**kw) -> Grid:
    g = Grid(**kw)
    g.add_column("#", justify="right", style="dim")
    g.add_column(Text("token\n") + Text("0", style="dim"), justify="right", no_wrap=True)
    g.add_column("note", style="yellow", min_width=6)
    g.add_row("0", Text("100%*", style="white on rgb(68,1,84) bold"), "piece 1 of 2")
    g.add_row("12", Text("3% ", style="black on rgb(253,231,37)"), "")
    g.add_row("7", "x", Text("é 🥦 我", style="cyan"))
    return g


def test_the_tables_attncli_draws():
    grids = [sample(title="Attention weights, head 3", title_justify="left"),
             sample(title="Tokens", title_justify="left", box=None, pad_edge=False, padding=(0, 2, 0, 0)),
             sample(title="Contextual vectors", title_justify="left", caption="first 8 of 48 dims",
                    caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False),
             sample(box=None, padding=(0, 2, 0, 0)),
             sample(box=box.SQUARE, show_header=False)]
    for g in grids:
        assert draws_itself(g)  # the fast path, not the fallback, is what is compared here
        same(g)


def test_what_it_cannot_draw_it_hands_to_rich():
    narrow = sample(title="a title longer than the table is wide, which Rich wraps", title_justify="left")
    tight = sample(title="t", title_justify="left")  # at 12 columns the table does not fit: Rich shrinks it
    centered = sample(title="centered")  # Rich's default title_justify
    tabs = sample()
    tabs.add_row("a\tb", "two\nlines", "z")
    for g, width in ((narrow, 100), (tight, 12), (centered, 100), (tabs, 100)):
        assert not draws_itself(g, width)
        same(g, width)


cells = st.one_of(st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), max_size=8),
                  st.builds(lambda s, style: Text(s, style=style), st.text("ab %*·", max_size=6),
                            st.sampled_from(["", "bold", "dim", "white on rgb(1,2,3)", "cyan"])))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(cells, min_size=3, max_size=3), max_size=5),
       justify=st.lists(st.sampled_from(["left", "right", "center"]), min_size=3, max_size=3),
       kind=st.sampled_from(["heavy", "none", "simple"]), width=st.integers(20, 120),
       title=st.one_of(st.none(), st.text(alphabet="abc xyz", min_size=1, max_size=40)))
def test_any_small_table(rows, justify, kind, width, title):
    kw = {"heavy": {}, "none": {"box": None, "padding": (0, 2, 0, 0), "pad_edge": False},
          "simple": {"box": box.SIMPLE_HEAD, "pad_edge": False}}[kind]
    g = Grid(title=title, title_justify="left", **kw)
    for i, j in enumerate(justify):
        g.add_column(f"c{i}", justify=j, style=["", "dim", "cyan"][i] or None, min_width=[None, 4, None][i])
    for row in rows:
        g.add_row(*row)
    same(g, width)


def test_segments_are_plain_segments():
    c = console()
    assert all(isinstance(s, Segment) for s in c.render(sample(), c.options))
