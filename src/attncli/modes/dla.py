"""--dla: direct logit attribution; what each head and MLP adds to the logit of the top token (or
--target, minus --contrast) at one query token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .base import Context, Mode, Option, Page, Renderable
from .shared import TARGET, TOKEN, with_notes, words

if TYPE_CHECKING:
    from ..analysis.dla import DLA

FLAG = Option("dla", ("--dla",), bool, False, "Direct logit attribution: what each head and MLP adds to the logit of "
              "the top token (or --target) at one query token.", order=24)
CONTRAST = Option("contrast", ("--contrast",), Optional[str], None, "With --dla: attribute the logit difference "
                  "target minus this word.", order=26)


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class DLAResult:
    dla: DLA
    notes: list[str]  # on --target/--contrast words that are several tokens


def run(c: Context) -> DLAResult:
    from ..analysis.dla import direct_logit_attribution
    from ..analysis.steps import resolve_token

    (target, contrast), notes = words(c, c.target, c.contrast)
    return DLAResult(direct_logit_attribution(c.model, c.trace, resolve_token(c.token, c.tokens), target, contrast),
                     notes)


def rich(r: DLAResult, c: Context, width: int) -> Renderable:
    from ..render.why import dla_view

    return with_notes(dla_view(r.dla, c.tokens, c.model.tokenizer), r.notes)


def json(r: DLAResult, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import dla_doc

    return dict(dla_doc(c.model, c.text, c.tokens, r.dla, c.truncated), notes=r.notes)


def page(ex: Any, sel: Any, width: int, color: bool) -> Renderable:
    """attn view's DLA page: the selected head's (or layer's) part, the largest parts, every head as a grid."""
    from rich.text import Text

    from ..analysis.dla import direct_logit_attribution
    from ..render.panel_kit import SELECTED, quoted, signed, signed_style, word
    from ..render.style import bar
    from ..views import MEAN

    d = ex.reasoned(("dla", sel.query), lambda: direct_logit_attribution(ex.model, ex.trace, sel.query), "--dla",
                    "DLA")
    if isinstance(d, str):
        return Text(f"no DLA here: {d}", style="yellow")
    out = Text()
    out.append(f"direct logit attribution at {quoted(ex, sel.query)}: what each part writes into the logit of "
               f"{word(ex, d.target)}\n", style="bold")
    if sel.head != MEAN:
        out.append(f"this head, {sel.layer}.{sel.head}: {signed(float(d.heads[sel.layer, int(sel.head)]))}\n")
    else:
        out.append(f"layer {sel.layer}'s heads together: {signed(float(d.heads[sel.layer].sum()))}\n")
    parts: list[tuple[str, float]] = [(f"head {L}.{h}", float(d.heads[L, h])) for L in range(d.heads.shape[0])
                                      for h in range(d.heads.shape[1])]
    parts += [(f"MLP {L}", float(x)) for L, x in enumerate(d.mlps)] + [("embeddings", d.embed), ("biases", d.biases)]
    parts.sort(key=lambda p: -abs(p[1]))
    scale = max(abs(p[1]) for p in parts) or 1.0
    out.append("largest parts:\n", style="dim")
    bar_w = max(width - 19, 0)
    for name, x in parts[:6]:
        out.append(f"  {name:<10} ")
        out.append(f"{signed(x):>6}", style=signed_style(x, scale, color))
        if bar_w:
            out.append(" " + bar(abs(x) / scale, bar_w - 1), style="red" if x > 0 else "blue")
        out.append("\n")
    H = d.heads.shape[1]
    if 4 + 6 * (H + 1) <= width:  # every head as a grid, when it fits
        out.append("   " + "".join(f"{'h' + str(h):>6}" for h in range(H)) + f"{'MLP':>6}\n", style="dim")
        for L in range(d.heads.shape[0]):
            out.append(f"{L:>3}", style=SELECTED if L == sel.layer else "dim")
            for h in range(H):
                x = float(d.heads[L, h])
                mark = L == sel.layer and h == sel.head
                out.append(f"{'[' if mark else ' '}{signed(x):>5}", style=signed_style(x, scale, color))
            out.append(f"{signed(float(d.mlps[L])):>6}\n", style=signed_style(float(d.mlps[L]), scale, color))
    out.append(f"sum {d.total:+.2f} = the model's logit {d.logit:+.2f}\n")
    out.append("+ pushes toward the token, - away; only what a part writes directly (later layers' use of it is "
               "not counted)", style="dim")
    return out


MODE = Mode("dla", FLAG, DLAResult, run, rich, json, options=(TOKEN, TARGET, CONTRAST), all_layers=True,
            requires=("next_token",),
            page=Page("dla", "DLA", 3, page))
