"""--steps: attention walked through step by step for one head and one query token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .base import Context, Mode, Option, Page, Renderable
from .shared import DIMS, HEAD, LAYER, TOKEN, TOP_K, query

if TYPE_CHECKING:
    from ..analysis.steps import Walkthrough
    from ..model import Prediction

FLAG = Option("steps", ("--steps",), bool, False, "Walk through attention step by step for one query token (see "
              "--token).", order=16)


def _check_temperature(t: float) -> None:
    if not 0 < t < float("inf"):  # NaN fails it too
        raise UsageError(f"--temperature must be a positive number, got {t:g}")


TEMPERATURE = Option("temperature", ("--temperature", "-t"), float, 1.0, "With --steps: a what-if that divides the "
                     "scores by T before softmax (the model uses 1).", order=19, check=_check_temperature)


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class Steps:
    walkthrough: Walkthrough
    predictions: list[Prediction]  # what the query's last vector predicts (the next token, or the word at its place)


def run(c: Context) -> Steps:
    from ..analysis.steps import walkthrough

    i = query(c)
    # what the query's last vector predicts: the next token (causal), the word at its place (masked-LM), none
    preds = c.model.task.at(c.model, c.trace, c.top_k, i)
    return Steps(walkthrough(c.trace, c.layer, int(c.head), i, c.temperature), preds)


def rich(r: Steps, c: Context, width: int) -> Renderable:
    from ..render.steps import steps_panels

    return steps_panels(r.walkthrough, c.tokens, r.predictions, dims=min(c.dims, 8), width=width, model=c.model)


def json(r: Steps, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import steps_doc

    return steps_doc(c.model, c.text, c.tokens, r.walkthrough, r.predictions, c.truncated)


MAX_STEP_KEYS = 48  # the page lists every key up to this many, else the top ones


def page(ex: Any, sel: Any, width: int, color: bool) -> Renderable:
    """attn view's steps page: each key's score and weight for the query, the entropy, the top keys, |z|;
    for the mean of heads, the averaged row."""
    import math

    import numpy as np
    from rich.cells import cell_len
    from rich.text import Text

    from ..analysis.steps import MeanRow, mean_row, walkthrough
    from ..render.panel_kit import MAX_LABEL, SELECTED, cut, pct, quoted
    from ..render.style import MASKED, bar
    from ..views import MEAN

    L, q = sel.layer, sel.query
    w: Any = (walkthrough(ex.trace, L, int(sel.head), q) if sel.head != MEAN else
              mean_row(ex.trace, ex.view(L, MEAN), q))
    out = Text()
    if isinstance(w, MeanRow):
        out.append(f"{quoted(ex, q)} · layer {L} · mean of heads\n", style="bold")
        out.append(f"the mean of the {ex.config.n_head} heads' rows; q, k and v belong to one head: [ ] picks one\n",
                   style="dim")
    else:
        out.append(f"{quoted(ex, q)} · layer {L} · head {sel.head}\n", style="bold")
        n = f"{w.scale_dim:g}"
        kv = f", key/value head {w.kv_head}" if w.kv_head != w.head else ""
        out.append(f"score = q·k ÷ √{n}; weight = softmax(scores){kv}\n", style="dim")
    scores, weights, masked = w.scores, w.weights, w.masked
    T = ex.T
    shown = list(range(T))
    if T > MAX_STEP_KEYS:  # the highest weights, in order of position
        shown = sorted(np.argsort(-weights, kind="stable")[:MAX_STEP_KEYS // 2].tolist())
    iw = len(str(T - 1))
    lw = min(max(cell_len(ex.labels[j]) for j in shown), MAX_LABEL)
    bar_w = max(width - (2 + iw + 1 + lw + 8 + 8), 0)
    best = int(np.argmax(np.where(masked, -1.0, weights)))
    out.append(f"  {'key':<{iw + 1 + lw}} ", style="dim")
    out.append(f"{'score':>7}", style="bold underline" if sel.scores else "dim")
    out.append(f"{'weight':>8}", style="dim" if sel.scores else "bold underline")
    out.append("\n")
    for j in shown:
        label = cut(ex.labels[j], lw)
        out.append("* " if j == best else "  ", style="bold")
        out.append(f"{j:>{iw}} {label}{' ' * (lw - cell_len(label))}", style=SELECTED if j == q else "")
        if masked[j]:
            out.append(f"{MASKED:>7}{MASKED:>8}", style="dim")
        else:
            out.append(f"{float(scores[j]):>+7.2f}{pct(float(weights[j])):>8}")
            if bar_w:
                out.append(" " + bar(float(weights[j]), bar_w - 1), style="green")
        out.append("\n")
    if len(shown) < T:
        out.append(f"({len(shown)} of {T} keys: the highest weights)\n", style="dim")
    visible = int((~masked).sum())
    even = math.log2(visible) if visible > 1 else 0.0
    out.append(f"entropy {w.entropy_bits:.2f} bits (0 = one key, {even:.2f} = even over {visible})\n")
    order = np.argsort(-np.where(masked, -1.0, weights), kind="stable")[:min(3, visible)]
    out.append("top keys: " + ", ".join(f'"{cut(ex.labels[j], MAX_LABEL)}" {pct(float(weights[j]))}' for j in order)
               + "\n")
    if isinstance(w, MeanRow):
        out.append(f"|attn.out| {w.out_norm:.3f}  [blocks.{L}.attn.out: every head through W_O]", style="dim")
    else:
        out.append(f"|z| {float(np.linalg.norm(w.z.astype(np.float64))):.3f}  [blocks.{L}.attn.z, {w.d_head} dims]",
                   style="dim")
    return out


MODE = Mode("steps", FLAG, Steps, run, rich, json, options=(TOKEN, TEMPERATURE, DIMS, TOP_K, LAYER, HEAD),
            one_head=True, page=Page("steps", "steps", 0, page))
