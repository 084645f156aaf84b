"""--summary: a layers x heads table for one query token, each cell the key that head
attends to most and its weight, colored by that weight."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.summary import THRESHOLDS, HeadSummary
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
    named: dict[str, list[tuple[int, int, float]]] = {}
    for i, L in enumerate(s.layers):
        for h, label in enumerate(s.labels[i]):
            if label is not None:
                named.setdefault(label.name, []).append((L, h, label.share))
    worth = Text("Heads worth a look, over every query of this text:", style="bold")
    for name in THRESHOLDS:
        if name in named:
            worth.append_text(head_group(name, named[name]))
    if not named:
        worth.append(" none has a pattern above the thresholds.")
    thresholds = ", ".join(f"{name} {100 * v:.0f}%" for name, v in THRESHOLDS.items())
    note = Text("Bright cells are heads that put most of this token's attention on one key; dark ones spread it. "
                "--steps --layer L --head H --token T shows one of them step by step. A head is named by the pattern "
                f"that holds the most of its weight, averaged over the queries it can be measured on, at least: "
                f"{thresholds} (layer.head (mean share)).", style="dim")
    return Group(title, t, Text(""), worth, note)


MAX_LISTED = 8  # a pattern shared by more heads than this is one line of head ranges, without each share


def head_group(name: str, heads: list[tuple[int, int, float]]) -> Text:
    """One line for the heads (layer, head, mean share) named by one pattern: each with its share when
    they are few; when many (a model's sink heads are most of it), the range of their shares and the
    heads as ranges within each layer, "2.3-6" for heads 3 to 6 of layer 2."""
    out = Text()
    if len(heads) <= MAX_LISTED:
        out.append(f"\n  {name}: ", style="bold")
        out.append(", ".join(f"{L}.{h} ({100 * share:.0f}%)" for L, h, share in heads))
        return out
    shares = [share for _, _, share in heads]
    out.append(f"\n  {name}, {len(heads)} heads (L.a-b: heads a to b of layer L): ", style="bold")
    out.append(" ".join(head_ranges(heads)))
    out.append(f" (mean share {100 * min(shares):.0f}% to {100 * max(shares):.0f}%)", style="dim")
    return out


def head_ranges(heads: list[tuple[int, int, float]]) -> list[str]:
    """layer.head for each run of consecutive heads in a layer, "L.a-b" for a run of more than one."""
    runs: list[list[int]] = []  # [layer, first head, last head]
    for L, h, _ in sorted(heads):
        if runs and runs[-1][0] == L and runs[-1][2] == h - 1:
            runs[-1][2] = h
        else:
            runs.append([L, h, h])
    return [f"{L}.{a}" if a == b else f"{L}.{a}-{b}" for L, a, b in runs]
