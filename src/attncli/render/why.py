"""Rich renderables for the "why" methods: the logit lens table, the direct-logit-attribution
heatmap, and the two activation-patching heatmaps. Signed numbers are colored by sign (red
pushes toward the target, blue away) and always printed, so nothing rests on color."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.dla import DLA
from ..analysis.lens import Lens
from ..analysis.patching import Patching
from ..labels import token_label, token_repr
from ..tokenizer import Token, Tokenizer
from .grid import Grid
from .style import bar


def word(tok: Tokenizer, i: int) -> str:
    """A vocabulary entry as a prediction table writes it: quoted, spaces visible."""
    return token_repr(tok.display(i))  # every character a terminal would obey or hide, as an escape


def signed(x: float, digits: int = 2) -> str:
    """A signed number, but one that rounds to zero prints as 0 (no -0.00 from rounding noise)."""
    return f"{0.0:.{digits}f}".rjust(digits + 3) if round(x, digits) == 0 else f"{x:+.{digits}f}"


def _signed_style(x: float, scale: float) -> str:
    f = min(abs(x) / scale, 1.0) if scale > 0 else 0.0
    level = round(40 + 160 * f)
    return f"white on rgb({level},40,40)" if x > 0 else f"white on rgb(40,40,{level})" if x < 0 else ""


def lens_table(lens: Lens, tokens: list[Token], tok: Tokenizer) -> Group:
    q = lens.query
    title = Text(f"Logit lens at token {q} {token_label(tokens[q])!r}: each layer's stream through the final norm "
                 f"and the unembedding; tracking {word(tok, lens.target)}", style="italic")
    t = Grid(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    t.add_column("layer", justify="right", style="dim")
    t.add_column("read at", no_wrap=True, style="dim")
    t.add_column("top tokens", no_wrap=True)
    t.add_column("target rank", justify="right")
    t.add_column("target prob.", justify="right")
    t.add_column("", no_wrap=True, style="green")
    for row in lens.rows:
        top = "  ".join(f"{word(tok, i)} {100 * p:.0f}%" for i, p in row.top)
        t.add_row(str(row.layer), row.name, top, str(row.target_rank), f"{100 * row.target_probability:.2f}%",
                  bar(row.target_probability, 12))
    note = Text("Each row reads the residual stream entering that block (the last row: after the last block, which is "
                "the model's own prediction) as if the model stopped there. Layers before the last were not trained to "
                "be read this way: an early row shows what is already there in the final unembedding's terms, not what "
                "the layer computes.", style="dim")
    return Group(title, t, note)


def dla_view(d: DLA, tokens: list[Token], tok: Tokenizer) -> Group:
    q = d.query
    what = word(tok, d.target) + (f" minus {word(tok, d.contrast)}" if d.contrast is not None else "")
    title = Text(f"Direct logit attribution at token {q} {token_label(tokens[q])!r}: what each head and MLP writes "
                 f"toward the logit of {what}", style="italic")
    n_layer, H = d.heads.shape
    scale = float(max(np.abs(d.heads).max(), np.abs(d.mlps).max(), 1e-12))
    t = Table(box=None, padding=(0, 1, 0, 0))
    t.add_column("layer", justify="right", style="dim")
    for h in range(H):
        t.add_column(f"h{h}", justify="right", no_wrap=True)
    t.add_column("MLP", justify="right", no_wrap=True)
    for L in range(n_layer):
        cells = [Text(signed(x), style=_signed_style(x, scale)) for x in d.heads[L]]
        cells.append(Text(signed(float(d.mlps[L])), style=_signed_style(float(d.mlps[L]), scale)))
        t.add_row(str(L), *cells)
    best = np.unravel_index(int(np.argmax(np.abs(d.heads))), d.heads.shape)
    sums = Text(f"heads {d.heads.sum():+.3f} + MLPs {d.mlps.sum():+.3f} + embeddings {d.embed:+.3f} + biases "
                f"{d.biases:+.3f} = {d.total:+.3f}; the model's logit{' difference' if d.contrast is not None else ''}: "
                f"{d.logit:+.3f}")
    note = Text(f"Largest head: {best[0]}.{best[1]} ({d.heads[best]:+.3f}). Positive (red) pushes toward the target, "
                "negative (blue) away. The final norm's scale at this token is held fixed (linearized, as TransformerLens "
                "does), so the parts add up to the logit. DLA counts only what a part writes directly into the logit: a "
                "head whose output later layers use shows little here.", style="dim")
    return Group(title, t, sums, note)


def patch_view(p: Patching, tokens_clean: list[Token], tokens_corrupt: list[Token], tok: Tokenizer,
               texts: tuple[str, str]) -> Group:
    n_rows, T = p.resid.shape
    head = Text(f"clean:   {texts[0]!r}\ncorrupt: {texts[1]!r}\nmetric: logit({word(tok, p.target)}) - "
                f"logit({word(tok, p.contrast)}) at the last token: clean {p.clean_diff:+.3f}, corrupt {p.corrupt_diff:+.3f}")
    t = Table(box=None, padding=(0, 1, 0, 0))
    t.add_column("stream", style="dim", no_wrap=True)
    for j, tk in enumerate(tokens_corrupt):
        t.add_column(Text(f"{token_label(tk)}\n") + Text(str(j), style="dim"), justify="right", no_wrap=True)
    for L in range(n_rows):
        name = f"blocks.{L}.resid_pre" if L < n_rows - 1 else "after the last block"
        cells: list[Any] = []
        for j in range(T):
            x = float(p.resid[L, j])
            cells.append(Text("·", style="dim") if np.isnan(x) else Text(signed(x), style=_signed_style(x, 1.0)))
        t.add_row(name, *cells)
    n_layer, H = p.heads.shape
    h = Table(box=None, padding=(0, 1, 0, 0))
    h.add_column("layer", justify="right", style="dim")
    for k in range(H):
        h.add_column(f"h{k}", justify="right", no_wrap=True)
    for L in range(n_layer):
        h.add_row(str(L), *(Text(signed(float(x)), style=_signed_style(float(x), 1.0)) for x in p.heads[L]))
    note = Text("1 = the patch brings back all of the clean run's logit difference, 0 = none of it; · = a position the "
                "corrupted text has no aligned token for. Patching finds what carries the difference between these two "
                "texts; another corruption may find other parts.", style="dim")
    return Group(head, Text(""), Text("The residual stream patched from clean into corrupt, one layer and position at a "
                                      "time: the fraction of the difference restored", style="italic"), t, Text(""),
                 Text("Each head's output patched in (at every aligned position): the fraction restored", style="italic"),
                 h, note)
