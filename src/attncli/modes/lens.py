"""--lens: the logit lens; for one query token, every layer's stream through the final norm and the unembedding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import Context, Mode, Option, Page, Renderable
from .shared import TARGET, TOKEN, TOP_K, with_notes, words

if TYPE_CHECKING:
    from ..analysis.lens import Lens

FLAG = Option("lens", ("--lens",), bool, False, "Logit lens: for one query token (--token), every layer's stream "
              "through the final norm and the unembedding.", order=23)


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class LensResult:
    lens: Lens
    notes: list[str]  # on --target words that are several tokens


def run(c: Context) -> LensResult:
    from ..analysis.lens import logit_lens
    from ..analysis.steps import resolve_token

    (target,), notes = words(c, c.target)
    return LensResult(logit_lens(c.model, c.trace, resolve_token(c.token, c.tokens), c.top_k, target,
                                 progress=c.told("reading each layer's stream through the vocabulary")), notes)


def rich(r: LensResult, c: Context, width: int) -> Renderable:
    from ..render.why import lens_table

    return with_notes(lens_table(r.lens, c.tokens, c.model.tokenizer), r.notes)


def json(r: LensResult, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import lens_doc

    return dict(lens_doc(c.model, c.text, c.tokens, r.lens, c.truncated), notes=r.notes)


def page(ex: Any, sel: Any, width: int, color: bool) -> Renderable:
    """attn view's lens page: the tracked token's rank and probability at each layer, then the top tokens."""
    from rich.cells import cell_len
    from rich.text import Text

    from ..analysis.lens import logit_lens
    from ..render.panel_kit import SELECTED, pct, quoted, word

    q = sel.query
    lens = ex.reasoned(("lens", q), lambda: logit_lens(ex.model, ex.trace, q, 3), "--lens", "the lens")
    if isinstance(lens, str):
        return Text(f"no logit lens: {lens}", style="yellow")
    out = Text()
    out.append(f"logit lens at {quoted(ex, q)}: tracking {word(ex, lens.target)}\n", style="bold")
    out.append("each layer's input stream read through the final norm and unembedding; the last row is the "
               "model's own output\n", style="dim")
    last = len(lens.rows) - 1
    for row in lens.rows:
        name = "out" if row.layer == last else str(row.layer)
        out.append(f"{name:>3} ", style=SELECTED if row.layer == sel.layer else "dim")
        out.append(f"#{row.target_rank:<5} {pct(row.target_probability):>6}")
        room = width - 17
        for i, p in row.top:
            item = f"  {word(ex, i)} {100 * p:.0f}%"
            if cell_len(item) > room:
                break
            out.append(item)
            room -= cell_len(item)
        out.append("\n")
    out.append("#rank and probability of the tracked token, then the top tokens that fit", style="dim")
    return out


MODE = Mode("lens", FLAG, LensResult, run, rich, json, options=(TOKEN, TARGET, TOP_K), all_layers=True,
            requires=("words",),
            page=Page("lens", "lens", 2, page, what="logit lens"))
