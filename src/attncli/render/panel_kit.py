"""What the side-panel pages of `attn view` share (modes/ draws each page, tui/panels.py the rest):
the marks that need no color, labels cut to fit, percentages and signed numbers. Pure Rich Text."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len, set_cell_size

from ..labels import token_repr

SELECTED = "reverse bold"  # the query token, the selected row and layer: visible without color
MAX_LABEL = 12  # a token label longer than this is cut in the heatmap and the side panel


def cut(label: str, width: int) -> str:
    """A label cut to `width` cells with an ellipsis."""
    if cell_len(label) <= width:
        return label
    return set_cell_size(label, max(width - 1, 0)) + "…"


def quoted(ex: Any, i: int) -> str:
    """Token i of an Explorer as `3 "label"`."""
    return f'{i} "{cut(ex.labels[i], MAX_LABEL)}"'


def pct(p: float) -> str:
    pct = 100 * p
    return f"{pct:.1f}%" if pct >= 1 else f"{pct:.2f}%" if pct >= 0.01 else "<0.01%"


def word(ex: Any, i: int) -> str:
    """Token id i of an Explorer's model, quoted and cut."""
    return cut(token_repr(ex.model.tokenizer.display(i)), 14)  # escapes what a terminal obeys or hides


def signed(x: float) -> str:
    return " 0.00" if round(x, 2) == 0 else f"{x:+.2f}"


def signed_style(x: float, scale: float, color: bool) -> str:
    """Red for a push toward, blue for away, as strong as |x| / scale; no style without color."""
    if not color:
        return ""
    f = min(abs(x) / scale, 1.0) if scale > 0 else 0.0
    level = round(40 + 160 * f)
    return f"white on rgb({level},40,40)" if x > 0 else f"white on rgb(40,40,{level})" if x < 0 else ""
