"""The panels of `attn view` as Rich Text, drawn from an Explorer and a Selection for a given
size: the header, the token strip, the heatmap, the model overview, the side panel and the
help. Pure: they return Text and never print; app.py puts them on the screen.

Nothing rests on color alone: without color (NO_COLOR, --color never) cells are the shades of
render/style.py's SHADES, and the selection is marked by characters (▶ ◀ [ ]) and reverse video.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from rich.cells import cell_len
from rich.text import Text

from .. import modes
from ..errors import AttnError
from ..labels import printable
from ..render.panel_kit import MAX_LABEL, SELECTED, cut, quoted
from ..render.style import MASKED, SHADES, ramp_color, shade
from ..views import MEAN
from .explorer import STAT_HELP, Explorer, Selection

PAGES = {page.name: page for _, page in modes.pages()}  # the side panel's pages, each drawn by its mode

KEYS = [  # (keys, what they do): the footer shows the short form, the help all of it
    ("← →  h l", "query token: previous / next (Home, End: first, last)"),
    ("↑ ↓  k j", "layer: previous / next"),
    ("[ ]", "head: previous / next; after the last head comes the mean of heads"),
    ("m", "the mean of heads, or back to a head"),
    ("s", "scores (before softmax) or weights (after): the strip and the heatmap"),
    ("o", "the overview's statistic: entropy, first token, previous token, from the query"),
    ("n b", "with -g: the next / previous generation step (the query that chose each generated token)"),
    ("p  Tab", "the side panel's page: steps, next-token predictions, logit lens, DLA"),
    ("PgUp PgDn", "scroll the side panel"),
    ("?", "this help (Esc or ? closes it)"),
    ("q", "quit"),
]
FOOTER = "←→ query ↑↓ layer [ ] head m mean s scores o stat p panel ? help q quit"
FOOTER_GENERATING = "←→ query ↑↓ layer [ ] head m mean s scores n b step p panel ? help q quit"
GENERATED = "underline"  # a generated token in the strip: marked without color


def footer(ex: Explorer) -> str:
    return FOOTER if ex.generation is None else FOOTER_GENERATING


def head_label(head: int | str) -> str:
    return "mean of heads" if head == MEAN else f"head {head}"


def cell(level: float | None, color: bool, width: int) -> Text:
    """One heatmap cell: a ramp-colored block, or without color a shade; masked: blank or MASKED."""
    if level is None:
        return Text((" " if color else MASKED) * width, style="dim")
    if color:
        return Text("█" * width, style=ramp_color(level))
    return Text(shade(level) * width)


def ramp_key(color: bool, masked: bool = False) -> Text:
    """The key to the cells in one short line; `masked`: and the mark of a masked cell."""
    out = Text("0 ")
    if color:
        for x in (0.0, 0.25, 0.5, 0.75, 1.0):
            out.append("██", style=ramp_color(x))
    else:
        out.append(" ".join(ch * 2 for ch in SHADES))
    out.append(" 1", style="")
    if masked and not color:
        out.append(f"  {MASKED} masked", style="dim")
    return out


def failure(what: str, error: Exception, todo: str) -> str:
    """One line for an analysis that failed: what failed and why (an AttnError says how to fix it;
    anything else is a bug to report), then what to do meanwhile. Never a traceback."""
    reason = printable(" ".join(str(error).split())) or "(no message)"
    if isinstance(error, AttnError):
        return f"{what}: {reason}; {todo}"
    return f"{what} failed ({type(error).__name__}: {reason}); {todo}, and please report it"


def guarded(what: str, todo: str, draw: Callable[[], Text]) -> Text:
    """draw(), or in its place the one line of failure() in yellow: one panel's error stays in that panel."""
    try:
        return draw()
    except Exception as e:  # noqa: BLE001 - the boundary of one panel: the rest of the screen goes on
        return Text(failure(what, e, todo), style="bold yellow")


# ---- header and footer ---------------------------------------------------------------------

def header(ex: Explorer, sel: Selection, width: int = 200) -> Text:
    """The model, then what is selected; the model's size is left out when the line would not fit."""
    c = ex.config
    what = Text.assemble((f"layer {sel.layer}", "bold"), " · ", (head_label(sel.head), "bold"), " · query ",
                         (quoted(ex, sel.query), "bold"), " · ", ("scores" if sel.scores else "weights", "bold"))
    if ex.generation is not None:
        n = ex.step_at(sel.query)
        what.append(f" · step {n + 1}/{len(ex.generation.steps)}" if n is not None else
                    f" · {len(ex.generation.steps)} generated", style="bold")
    name = cut(printable(ex.model.name), 24)
    size = f" ({c.n_layer} layers × {c.n_head} heads)"
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(name, style="bold")
    out.append((size if cell_len(name + size) + 3 + what.cell_len <= width else "") + "   ")
    out.append_text(what)
    for note in notes(ex):
        out.append("\n")
        out.append(note, style="bold yellow")
    return out


def notes(ex: Explorer) -> list[str]:
    """What the reader must know about these numbers: an ablation, a cut text, layers not kept."""
    out = []
    if ex.model.ablation is not None:
        from ..analysis.ablation import describe

        out.append(f"! {describe(*ex.model.ablation)}: not the model's own numbers")
    if ex.truncated:
        out.append(f"! the text was cut to its last {ex.T} tokens to fit the context")
    if not ex.all_layers:
        out.append(f"! only layer {', '.join(map(str, ex.layers))} is kept: the text is too long to keep every layer "
                   "(shorten it to see them all, and the lens and DLA)")
    if ex.model.card.get("provisional"):
        out.append("! this model is provisional: its numbers are not meaningful")
    return out


# ---- the token strip -----------------------------------------------------------------------

def strip_rows(ex: Explorer, width: int) -> list[list[int]]:
    """The tokens wrapped into rows of `width` cells: each token its label, one space between."""
    rows: list[list[int]] = [[]]
    used = 0
    for j, label in enumerate(ex.labels):
        w = min(max(cell_len(label), 1), width)
        if rows[-1] and used + 1 + w > width:
            rows.append([])
            used = 0
        used += w + (1 if len(rows[-1]) else 0)
        rows[-1].append(j)
    return rows


def shown_rows(ex: Explorer, sel: Selection, width: int, max_lines: int | None) -> list[list[int]]:
    """The strip's rows that fit `max_lines` (two lines each): those around the query's."""
    rows = strip_rows(ex, max(width, 4))
    keep = len(rows) if max_lines is None else max(1, max_lines // 2)
    if len(rows) > keep:
        at = next(r for r, row in enumerate(rows) if sel.query in row)
        first = min(max(at - keep // 2, 0), len(rows) - keep)
        rows = rows[first:first + keep]
    return rows


def strip_hit(ex: Explorer, sel: Selection, width: int, max_lines: int | None, x: int, y: int) -> int | None:
    """The token at (x, y) of the strip, for a click."""
    rows = shown_rows(ex, sel, width, max_lines)
    if not 0 <= y // 2 < len(rows):
        return None
    at = 0
    for j in rows[y // 2]:
        w = cell_len(cut(ex.labels[j], max(width, 4)) or " ")
        if at <= x < at + w:
            return j
        at += w + 1
    return None


def token_strip(ex: Explorer, sel: Selection, width: int, max_lines: int | None = None, color: bool = True) -> Text:
    """Every token (wrapped), and under each a line of its shade of the query's attention on it:
    the query in reverse video, the keys it may not see dimmed."""
    width = max(width, 4)
    rows = shown_rows(ex, sel, width, max_lines)
    levels = ex.levels(sel)
    out = Text(no_wrap=True, overflow="crop")
    for r, row in enumerate(rows):
        if r:
            out.append("\n")
        heat = Text()
        for n, j in enumerate(row):
            label = cut(ex.labels[j], width) or " "
            w = cell_len(label)
            if n:
                out.append(" ")
                heat.append(" ")
            style = SELECTED if j == sel.query else "dim" if levels[j] is None else ""
            if j >= ex.prompt:
                style = f"{style} {GENERATED}".strip()
            out.append(label, style=style)
            x = levels[j]
            if x is None:
                heat.append((" " if color else MASKED) * w, style="dim")
            elif color:
                heat.append("▀" * w, style=ramp_color(x))
            else:
                heat.append(shade(x) * w)
        out.append("\n")
        out.append_text(heat)
    return out


def strip_height(ex: Explorer, width: int, max_lines: int) -> int:
    return min(2 * len(strip_rows(ex, max(width, 4))), max(2, max_lines - max_lines % 2))


def strip_title(ex: Explorer, sel: Selection) -> str:
    title = f"tokens, shaded by query {quoted(ex, sel.query)}'s {'scores' if sel.scores else 'weights'}"
    return title if ex.generation is None else title + " · generated underlined"


# ---- the heatmap ---------------------------------------------------------------------------

def window(centre: int, n: int, total: int) -> int:
    """The first index of a window of n of `total` that holds `centre`, as centred as it can be."""
    return min(max(centre - n // 2, 0), max(total - n, 0))


class HeatmapLayout(NamedTuple):
    """Where the heatmap's parts go in a panel of a given size."""

    iw: int  # the query index's width
    lw: int  # the label's width
    prefix: int  # "▶ ", index, label and a space before the cells
    cw: int  # a cell's width in columns
    rh: int  # a cell's height in lines: a query's row takes rh lines
    c0: int  # the first key shown
    ncols: int  # keys shown
    r0: int  # the first query shown
    nrows: int  # queries shown


def heatmap_layout(ex: Explorer, sel: Selection, width: int, height: int) -> HeatmapLayout:
    """The heatmap sized from its panel: cells grow to fill the room the keys and queries leave, and
    stay between twice as wide as tall and twice as tall as wide on the screen (a line is about two
    columns tall: rh <= cw <= 4 rh). A text longer than the room shows the rows and keys around the query."""
    T, q = ex.T, sel.query
    iw = len(str(T - 1))
    lw = min(max(cell_len(lab) for lab in ex.labels), MAX_LABEL)
    prefix = 2 + iw + 1 + lw + 1  # "▶ " index, label, space
    room = max(width - prefix - 1, 1)  # the columns for cells, the query's ◀ left out
    lines = max(height - 2, 1)  # the lines for rows: the key header and the legend left out
    least = 2 if room >= 2 * min(T, 16) else 1  # the narrowest cell: two columns when 16 keys fit so
    rh = max(1, min(lines // T, room // T))
    cw = max(least, min(room // T, 4 * rh))
    ncols = max(1, min(T, room // cw))
    if not ex.model.task.sees_both_sides:  # the keys up to the query, where its weight is
        c0 = max(0, min(max(q + 1, ncols), T) - ncols)
    else:
        c0 = window(q, ncols, T)
    nrows = max(1, min(T, lines // rh))
    return HeatmapLayout(iw, lw, prefix, cw, rh, c0, ncols, window(q, nrows, T), nrows)


def heatmap_hit(ex: Explorer, sel: Selection, width: int, height: int, y: int) -> int | None:
    """The query row at line y of the heatmap, for a click."""
    lay = heatmap_layout(ex, sel, width, height)
    return lay.r0 + (y - 1) // lay.rh if 1 <= y <= lay.nrows * lay.rh else None


def heatmap(ex: Explorer, sel: Selection, width: int, height: int, color: bool = True) -> Text:
    """The head's weights (or scores): a row per query, a column per key, each cell as large as the
    panel allows; the query's row marked ▶ ◀ with its label reversed. A text longer than the space
    shows the rows and keys around the query, and says which."""
    T = ex.T
    q = sel.query
    iw, lw, prefix, cw, rh, c0, ncols, r0, nrows = heatmap_layout(ex, sel, width, height)
    out = Text(no_wrap=True, overflow="crop")
    out.append(_key_header(c0, ncols, cw, q, prefix), style="dim")
    for r in range(r0, r0 + nrows):
        levels = ex.levels(sel, r)
        me = r == q
        for line in range(rh):  # the row's label on its first line, its cells on every line
            out.append("\n")
            if line == 0:
                out.append("▶ " if me else "  ", style="bold")
                out.append(f"{r:>{iw}} ", style="dim" if not me else "bold")
                label = cut(ex.labels[r], lw)
                out.append(label + " " * (lw - cell_len(label)), style=SELECTED if me else "")
                out.append(" ")
            else:
                out.append(" " * prefix)
            for k in range(c0, c0 + ncols):
                out.append_text(cell(levels[k], color, cw))
            if me and line == 0:
                out.append("◀", style="bold")
    out.append("\n")
    legend = ramp_key(color, bool(ex.view(sel.layer, sel.head).masked.any()))
    legend.append("  " + ("the row's lowest score to its highest" if sel.scores else "weight"), style="dim")
    if nrows < T or ncols < T:
        legend.append(f"  rows {r0}-{r0 + nrows - 1}, keys {c0}-{c0 + ncols - 1} of 0-{T - 1}", style="yellow")
    elif legend.cell_len + 32 <= width:
        legend.append("  rows: queries, columns: keys", style="dim")
    out.append_text(legend)
    return out


def _key_header(c0: int, n: int, cw: int, q: int, prefix: int) -> str:
    """Key indices over the columns, as many as fit without touching: the query's first."""
    line = [" "] * (n * cw + 8)
    order = [q] + [k for k in range(c0, c0 + n) if k != q]
    for k in order:
        if not c0 <= k < c0 + n:
            continue
        s, at = str(k), (k - c0) * cw
        if all(c == " " for c in line[max(at - 1, 0):at + len(s) + 1]):
            line[at:at + len(s)] = list(s)
    return " " * prefix + "".join(line).rstrip()


def heatmap_title(ex: Explorer, sel: Selection) -> str:
    title = f"layer {sel.layer} · {head_label(sel.head)} · {'scores' if sel.scores else 'weights'}"
    if ex.roles is not None and sel.head != MEAN:  # --census: what this head does over a corpus
        roles = ex.roles.roles.get((sel.layer, int(sel.head)), [])
        title += f" · roles: {', '.join(roles) if roles else 'none'}"
    return title


def heatmap_height(ex: Explorer) -> int:
    return ex.T + 2


# ---- the model overview ----------------------------------------------------------------------

def overview_layout(ex: Explorer, sel: Selection, width: int, height: int) -> tuple[int, int, list[int], int, int]:
    """(layer label width, cell width, the numbered heads shown, first layer row, rows)."""
    H, layers = ex.config.n_head, ex.layers
    lw = 1 + len(str(max(layers)))
    col = ex.column(sel.head)
    cw = 3 if lw + 1 + (H + 1) * 4 + 1 <= width else 2
    fit = max(1, (width - lw - 1 - (cw + 2)) // (cw + 1))  # numbered heads that fit beside the mean
    h0 = window(col if col < H else H - 1, min(fit, H), H)
    nrows = max(1, min(len(layers), height - 3))
    return lw, cw, list(range(h0, min(h0 + fit, H))), window(layers.index(sel.layer), nrows, len(layers)), nrows


def overview_hit(ex: Explorer, sel: Selection, width: int, height: int, x: int, y: int) -> tuple[int, int | str] | None:
    """The (layer, head) of the overview cell at (x, y), for a click."""
    lw, cw, heads, r0, nrows = overview_layout(ex, sel, width, height)
    if not 1 <= y <= nrows:
        return None
    at = lw + 1
    for c in [*heads, ex.config.n_head]:
        at += 1 if c == ex.config.n_head else 0  # the mean's column stands one space further
        if at <= x < at + cw:
            return ex.layers[r0 + y - 1], ex.heads[c]
        at += cw + 1
    return None


def overview(ex: Explorer, sel: Selection, width: int, height: int, color: bool = True) -> Text:
    """Every kept layer × head (and the mean of heads, μ) as a cell colored by the chosen statistic;
    the selected one in brackets, its layer reversed; its value written out below."""
    grid = ex.stat_grid(sel)  # [n_kept, H + 1]
    H = ex.config.n_head
    layers = ex.layers
    col = ex.column(sel.head)
    li = layers.index(sel.layer)
    lw, cw, heads, r0, nrows = overview_layout(ex, sel, width, height)
    out = Text(no_wrap=True, overflow="crop")
    head_row = " " * (lw + 1) + " ".join(f"{h:^{cw}}" for h in heads) + "  " + f"{'μ':^{cw}}"
    out.append(head_row, style="dim")
    for i in range(r0, r0 + nrows):
        L = layers[i]
        out.append("\n")
        out.append(f"L{L:<{lw - 1}}", style=SELECTED if L == sel.layer else "dim")
        out.append(" ")
        for n, c in enumerate([*heads, H]):
            if n:
                out.append("  " if c == H else " ")
            x = float(grid[i, c])
            if L == sel.layer and c == col:
                inner = cw - 2
                out.append("[", style="bold")
                if inner:
                    out.append_text(cell(x, color, inner))
                out.append("]", style="bold")
            else:
                out.append_text(cell(x, color, cw))
    top = ex.query_top(sel.query)[0] if sel.stat == "from the query" else None
    value = float(grid[li, col])
    where = f"{sel.layer}.{'μ' if sel.head == MEAN else sel.head}"
    line = f"\n{sel.stat} at {where}: {value:.2f}"
    if top is not None:
        line += f" on {quoted(ex, int(top[li, col]))}"
    out.append(line, style="bold")
    out.append("\n")
    out.append_text(ramp_key(color))
    if len(heads) < H or nrows < len(layers):
        out.append(f"  heads {heads[0]}-{heads[-1]}, layers {layers[r0]}-{layers[r0 + nrows - 1]}", style="yellow")
    return out


def overview_title(sel: Selection) -> str:
    return f"model · {sel.stat} (o)"


def overview_height(ex: Explorer) -> int:
    return len(ex.layers) + 3


# ---- the side panel --------------------------------------------------------------------------

def side_panel(ex: Explorer, sel: Selection, width: int, color: bool = True) -> Text:
    """The tabs, then the selected page for the query: steps, predictions, lens or DLA."""
    width = max(width, 20)
    out = Text()
    for n, page in enumerate(PAGES.values()):
        if n:
            out.append("│", style="dim")
        out.append(f" {page.tab} ", style=SELECTED if page.name == sel.section else "dim")
    out.append("\n")
    page = PAGES[sel.section]
    out.append_text(guarded(f"the {page.what or page.tab} at {quoted(ex, sel.query)}", "p shows another page",
                            lambda: page.draw(ex, sel, width, color)))
    return out


def side_title(ex: Explorer, sel: Selection) -> str:
    return f"query {quoted(ex, sel.query)} (p: page)"


# ---- help ----------------------------------------------------------------------------------

def help_text() -> Any:
    from rich.console import Group
    from rich.table import Table

    def grid(rows: list[tuple[str, str]]) -> Table:
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True)
        t.add_column()
        for a, b in rows:
            t.add_row(a, b)
        return t

    return Group(Text("attn view: keys", style="bold"), grid(KEYS), Text(""), Text("The panels", style="bold"),
                 grid(PANELS), Text(""), Text("The overview's statistics", style="bold"), grid(list(STAT_HELP.items())),
                 Text(""), Text("With a mouse: click a token or a heatmap row to pick the query, an overview cell to "
                                "pick its layer and head.", style="dim"))


PANELS = [
    ("tokens", "the text's tokens; under each, the selected query's weight on it (or its score); the query reversed, "
               "keys it may not see dimmed"),
    ("heatmap", "the layer and head's attention: a row per query (▶ the selected one ◀), a column per key"),
    ("model", "every layer × head, and the mean of heads (μ), colored by a statistic; [ ] marks the one shown"),
    ("side", "for the query: the steps (scores, weights, entropy, top keys, |z|), the next-token predictions, "
             "the logit lens and direct logit attribution"),
]

