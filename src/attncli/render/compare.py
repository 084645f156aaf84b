"""Rich renderables for `attn compare`: the aligned tokens, a heatmap of the change in the
chosen head's weights, how far each shared token's vector moved, and the prediction deltas."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.compare import Comparison
from ..tokenizer import Tokenizer, Token
from ..labels import token_label
from .style import MASKED, bar, head_name


def _diff_style(x: float, scale: float) -> str:
    """Blue where B gives less weight than A, red where more; stronger for a bigger change."""
    f = min(abs(x) / scale, 1.0) if scale > 0 else 0.0
    level = round(40 + 160 * f)
    bg = f"rgb({level},40,40)" if x > 0 else f"rgb(40,40,{level})"
    return f"white on {bg}" if abs(x) > 5e-4 else "dim"


def alignment_text(c: Comparison, tokens_a: list[Token], tokens_b: list[Token]) -> Text:
    out = Text("Alignment A → B: ")
    for op, a0, a1, b0, b1 in c.opcodes:
        la = " ".join(token_label(t) for t in tokens_a[a0:a1])
        lb = " ".join(token_label(t) for t in tokens_b[b0:b1])
        if op == "equal":
            out.append(la + " ")
        elif op == "delete":
            out.append(f"[-{la}] ", style="bold blue")
        elif op == "insert":
            out.append(f"[+{lb}] ", style="bold red")
        else:
            out.append(f"[{la} → {lb}] ", style="bold magenta")
    return out


def diff_table(c: Comparison, tokens_b: list[Token]) -> Group:
    labels = [token_label(tokens_b[ib]) for _, ib in c.pairs]
    title = Text(f"Change in attention weights, B − A, layer {c.layer}, {head_name(c.view_b.head)}  [blocks.{c.layer}.attn.weights]", style="italic")
    t = Table()
    t.add_column("query ↓ / key →", style="bold", no_wrap=True)
    for lab in labels:
        t.add_column(Text(lab), justify="right", no_wrap=True)
    finite = c.weight_diff[np.isfinite(c.weight_diff)]  # [n_visible]
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    for q, lab in enumerate(labels):
        cells: list[Any] = []
        for k in range(len(labels)):
            x = float(c.weight_diff[q, k])
            cells.append(Text(MASKED, style="dim") if np.isnan(x) else Text(f"{100 * x:+.1f}", style=_diff_style(x, scale)))
        t.add_row(Text(lab), *cells)
    note = Text("Only the tokens both texts share; the change is in percentage points (red: B attends more, "
                "blue: less). A row's weights are shared out over every visible key, so adding or removing a token "
                "moves the others too.", style="dim")
    return Group(title, t, note)


def distance_table(c: Comparison, tokens_b: list[Token]) -> Group:
    title = Text(f"How far each shared token's contextual vector moved  [{c.vectors_name}]", style="italic")
    t = Table(box=None, padding=(0, 2, 0, 0))
    t.add_column("token", style="bold", no_wrap=True)
    t.add_column("cosine distance", justify="right")
    t.add_column("", style="yellow", no_wrap=True)
    scale = max(float(c.cosine_distance.max()) if c.cosine_distance.size else 0.0, 1e-12)
    for (ia, ib), dist in zip(c.pairs, c.cosine_distance):
        t.add_row(Text(f"{ia}→{ib} {token_label(tokens_b[ib])}"), f"{float(dist):.4f}", bar(float(dist) / scale, 24))
    return Group(title, t)


def _pct(p: float, signed: bool = False) -> str:
    """A probability in percent (points), with more digits when it is small."""
    x = 100 * p
    return f"{x:+.2f}" if signed and abs(x) >= 0.01 else f"{x:+.2g}" if signed else f"{x:.2f}" if x >= 0.01 else f"{x:.2g}"


def predictions_delta_table(c: Comparison, tok: Tokenizer) -> Group:
    title = Text("Next-token predictions after A and after B", style="italic")
    t = Table(box=None, padding=(0, 2, 0, 0))
    t.add_column("token", no_wrap=True)
    t.add_column("A", justify="right")
    t.add_column("B", justify="right")
    t.add_column("B − A", justify="right")
    for i, pa, pb in zip(c.prediction_ids, c.prob_a, c.prob_b):
        d = float(pb - pa)
        t.add_row(Text(repr(tok.display(i))), f"{_pct(pa)}%", f"{_pct(pb)}%",
                  Text(f"{_pct(d, signed=True)} pts", style="red" if d > 0 else "blue" if d < 0 else ""))
    return Group(title, t)


def compare_view(c: Comparison, texts: tuple[str, str], tokens: tuple[list[Token], list[Token]], tok: Tokenizer) -> Group:
    return Group(
        Text(f"A: {texts[0]!r}\nB: {texts[1]!r}"),
        alignment_text(c, *tokens), Text(""),
        diff_table(c, tokens[1]), Text(""),
        distance_table(c, tokens[1]), Text(""),
        predictions_delta_table(c, tok),
    )
