"""Rich renderables for attribution (a ranked bar list), rollout (a heatmap table) and
--head all (every head of a layer as a small block-character heatmap, fitted to the width)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich import box
from rich.columns import Columns
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.attribution import Attribution
from ..labels import token_label
from ..tokenizer import Token
from ..trace import Trace
from .style import MASKED, Heat, RampLegend, bar, cell_style


def attribution_bars(a: Attribution, tokens: list[Token], target_text: str, text: str, pooling: str = "") -> Group:
    labels = [token_label(t) for t in tokens]
    scale = max(float(np.abs(a.delta).max()), 1e-12)
    embedding = a.measure == "embedding"
    if embedding:
        title = (f"Which token mattered: leave-one-out, how far the sentence embedding of {text!r} "
                 "moves without each token")
    elif a.position is not None:
        title = (f"Which token mattered: leave-one-out for the mask's top filler {target_text!r} "
                 f"({100 * a.probability:.3g}% at token {a.position} of {text!r})")
    else:
        title = (f"Which token mattered: leave-one-out for the top prediction {target_text!r} "
                 f"({100 * a.probability:.3g}% after {text!r})")
    t = Table(box=None, padding=(0, 2, 0, 0))
    t.add_column("#", justify="right", style="dim")
    t.add_column("token", no_wrap=True, style="bold")
    t.add_column("similarity" if embedding else "without it", justify="right")
    t.add_column("distance" if embedding else "change", justify="right")
    t.add_column("", no_wrap=True)
    for r, i in enumerate(a.ranking):
        d = float(a.delta[i])
        change = Text(bar(abs(d) / scale, 24), style="green" if d >= 0 else "red")
        if embedding:
            t.add_row(str(r + 1), Text(f"{i} {labels[i]}"), f"{float(a.without[i]):.4f}", f"{d:.4f}", change)
        else:
            t.add_row(str(r + 1), Text(f"{i} {labels[i]}"), f"{100 * float(a.without[i]):.3g}%", f"{100 * d:+.2g} pts",
                      change)
    if embedding:
        note = Text("Each token is left out in turn and the model is run again: similarity is the cosine similarity of "
                    f"the sentence embedding ({pooling}) without it to the whole text's, distance is 1 minus it. "
                    "A sentence encoder predicts no words, so this is what it measures: the larger, the more the "
                    "token shaped the embedding.", style="dim")
    else:
        what = "the mask's top filler's probability (read at the mask)" if a.position is not None \
            else "the top prediction's probability"
        note = Text(f"Each token is left out in turn and the model is run again: the change is how much {what} falls "
                    "without it (green: the token helped it; red: it held it back)."
                    + (" The mask itself is never left out." if a.position is not None else ""), style="dim")
    return Group(Text(title, style="italic"), t, note)


def rollout_table(r: np.ndarray, masked: np.ndarray, tokens: list[Token]) -> Group:
    labels = [token_label(t) for t in tokens]
    t = Table(title="Attention rollout across all layers (Abnar and Zuidema, 2020)", title_justify="left")
    t.add_column("token ↓ / from →", style="bold", no_wrap=True)
    for i, lab in enumerate(labels):
        t.add_column(Text(f"{lab}\n") + Text(str(i), style="dim"), justify="right", no_wrap=True)
    for q in range(len(tokens)):
        cells: list[Any] = []
        for k in range(len(tokens)):
            if masked[q, k]:
                cells.append(Text(MASKED, style="dim"))
            else:
                x = float(r[q, k])
                cells.append(Text(f"{100 * x:.0f}%", style=cell_style(x)))
        t.add_row(f"{q} {labels[q]}", *cells)
    note = Text("Each row: how much of that token's vector after the last layer traces back to each input token, "
                "following attention through every layer (heads averaged, plus the residual connection, rows "
                "renormalized). An approximation that ignores the MLPs, not a quantity the model computes.",
                style="dim")
    return Group(t, note)


def _heatmap(weights: np.ndarray, masked: np.ndarray, title: str, cell: str) -> Table:
    t = Table(title=title, box=box.SQUARE, show_header=False, padding=(0, 0), pad_edge=False, title_style="bold")
    t.add_column(style="dim", justify="right", no_wrap=True)
    t.add_column(no_wrap=True)
    for q in range(weights.shape[0]):
        row = [None if masked[q, k] else float(weights[q, k]) for k in range(weights.shape[1])]
        t.add_row(f"{q} ", Heat(row, cell))
    return t


def heads_grid(trace: Trace, layer: int, tokens: list[Token], width: int) -> Group:
    """Every head of `layer` as one small heatmap each, as many side by side as `width` holds.

    Colored blocks on a color terminal; shade characters otherwise, with a key that matches.
    """
    weights = trace.block(layer, "attn.weights")  # [H, T, T]
    masked = trace.layer_mask(layer)  # [T, T]
    H, T = weights.shape[0], weights.shape[1]
    label_w = len(str(T - 1)) + 1
    cell = "██" if label_w + 2 * T + 2 <= width else "█"
    maps = [_heatmap(weights[h], masked, f"head {h}", cell) for h in range(H)]
    key = Text("tokens: " + "  ".join(f"{i}={token_label(t)}" for i, t in enumerate(tokens)), style="dim")
    return Group(Text(f"Attention weights of every head, layer {layer}  [blocks.{layer}.attn.weights]", style="bold"),
                 Columns(maps, padding=(0, 2)), RampLegend("keys → / queries ↓   ", masked=bool(masked.any())), key)
