"""--summary: a layers x heads table for one query token, each cell the key that head
attends to most and its weight, colored by that weight."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.summary import HeadSummary
from ..tokenizer import Token
from ..labels import token_label
from .style import cell_style


def summary_table(s: HeadSummary, tokens: list[Token]) -> Group:
    labels = [token_label(t) for t in tokens]
    n_head = s.top_key.shape[1]
    title = Text(f"Where each head looks from query token {s.query} {labels[s.query]!r}: "
                 "the key it attends to most, and its weight [blocks.L.attn.weights]", style="italic")
    t = Table(box=None, padding=(0, 1, 0, 0))
    t.add_column("layer", justify="right", style="dim", no_wrap=True, min_width=5)  # kept when many heads squeeze the rest
    for h in range(n_head):
        t.add_column(f"h{h}", justify="left", no_wrap=True)
    for i, L in enumerate(s.layers):
        cells = []
        for h in range(n_head):
            w = float(s.top_weight[i, h])
            cells.append(Text(f"{labels[int(s.top_key[i, h])][:8]} {100 * w:.0f}%", style=cell_style(w)))
        t.add_row(str(L), *cells)
    note = Text("Bright cells are heads that put most of this token's attention on one key; dark ones spread it. "
                "--steps --layer L --head H --token T shows one of them step by step.", style="dim")
    return Group(title, t, note)
