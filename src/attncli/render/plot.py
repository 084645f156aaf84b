"""--save: every head of one layer as one matplotlib figure (PNG or SVG bytes).

matplotlib is the optional extra attncli[plot], imported only here and only when asked,
with the non-interactive Agg backend so no window or display is ever needed.
"""

from __future__ import annotations

import io
import math

import numpy as np

from ..errors import MissingExtraError
from ..tokenizer import Token
from ..trace import Trace
from ..labels import token_label

DPI = 100


def _grid(n_head: int) -> tuple[int, int]:
    """(columns, rows) of panels: up to 4 heads per row."""
    cols = min(n_head, 4)
    return cols, math.ceil(n_head / cols)


def default_size(n_head: int, n_tokens: int) -> tuple[int, int]:
    """Pixels (width, height) for the grid of heads, each panel growing with the tokens."""
    cols, rows = _grid(n_head)
    panel = max(3.0, 0.3 * n_tokens + 1.6)  # inches: room for a label per token
    return round(DPI * (cols * panel + 1.2)), round(DPI * (rows * panel + 0.8))


def heatmaps(trace: Trace, layer: int, tokens: list[Token], fmt: str, size: tuple[int, int] | None = None) -> bytes:
    """The figure as `fmt` ('png' or 'svg') bytes of exactly `size` pixels (width, height)."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("--save needs matplotlib: pip install 'attncli[plot]'") from None
    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    weights = trace.block(layer, "attn.weights")  # [H, T, T]
    masked = trace.layer_mask(layer)  # [T, T]
    H = weights.shape[0]
    width, height = size or default_size(H, len(tokens))
    cols, rows = _grid(H)
    labels = [token_label(t) for t in tokens]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= H:
            ax.axis("off")
            continue
        shown = np.ma.masked_array(weights[h].astype(np.float64), mask=masked)  # [T, T]
        image = ax.imshow(shown, vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest")
        ax.set_title(f"head {h}", fontsize=9)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("key (looked at)", fontsize=7)
        if h % cols == 0:
            ax.set_ylabel("query (looks)", fontsize=7)
    hidden = "future, or beyond the sliding window" if trace.config.is_sliding(layer) else "future"
    what = ("nothing masked: an encoder, every token sees every other" if "mask" not in trace
            else f"blank = masked ({hidden})")
    fig.suptitle(f"Attention weights, layer {layer}  [blocks.{layer}.attn.weights]; {what}", fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight (softmax, each row sums to 1)")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    return buf.getvalue()
