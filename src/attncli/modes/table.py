"""The default tables: the tokens, one head's attention matrix (or the mean of heads), the
contextual vectors, what the stream reads out after the layer, and the outcome (next tokens,
a masked word's fillers, or why there are none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from ..errors import UsageError
from .base import Context, Mode, Option, Page, Renderable
from .shared import DIMS, HEAD, LAYER, TOKEN, TOP_K, fills, predictions

if TYPE_CHECKING:
    from ..analysis.readout import Readout
    from ..model import Prediction
    from ..tasks import MaskFill
    from ..views import HeadView

SCORES = Option("scores", ("--scores",), bool, False, "Show the scaled scores q·k/√d_head before softmax instead of "
                "the weights.", order=12)
WINDOW = Option("window", ("--window",), Optional[str], None, "Show rows and keys A to B-1 of the attention matrix "
                "(a long text's slice).", order=18, metavar="A:B")

# Past this many tokens a text that does not fit the width gets the query-focused view, not its last columns.
LONG = 24


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class Tables:
    view: HeadView  # the layer's head (or mean of heads): scores, weights, contextual vectors
    predictions: list[Prediction]  # the next tokens after the text; [] for an encoder
    readout: Readout | None  # what the stream reads out after the layer
    fills: list[MaskFill] | None  # a masked-language model's fillers of each mask; None for a model that fills none


def run(c: Context) -> Tables:
    from ..analysis.readout import readout
    from ..views import head_view

    return Tables(head_view(c.trace, c.layer, c.head), predictions(c), readout(c.model, c.trace, c.layer), fills(c))


def _outcome(c: Context, r: Tables) -> list[Any]:
    """What the tables end on: the next-token predictions, a masked-LM's fillers, or why there are none."""
    from ..render import table as rt

    if c.model.task.next_token:
        return [rt.predictions_table(r.predictions, after=c.text)]
    if r.fills:
        return [rt.mask_tables(r.fills, c.tokens)]
    return [rt.encoder_note(c.model, c.tokens)]


def rich(r: Tables, c: Context, width: int) -> Renderable:
    from rich.console import Group
    from rich.text import Text

    from ..labels import token_label
    from ..render import table as rt

    view, read = r.view, r.readout
    parts: list[Any] = [rt.explain_header(c.model, view)]
    warn = rt.provisional_warning(c.model)
    if warn is not None:
        parts.append(warn)
    if c.truncated:
        parts.append(Text(f"(the text was cut to its last {len(c.tokens)} tokens to fit the context)", style="yellow"))
    T = len(c.tokens)
    first = rt.first_shown([token_label(t) for t in c.tokens], width)  # one window for every table
    if c.window is None and (c.token is not None or (first and T > LONG)):  # where the chosen queries look
        from ..analysis.steps import resolve_token

        queries = [resolve_token(c.token, c.tokens)] if c.token is not None else list(range(max(0, T - 3), T))
        lo = max(0, min(queries[0] - 5, T - 10))  # the tokens around the (first) query
        parts += [Text(""), rt.tokens_table(c.tokens, lo, min(T, lo + 10)), Text(""),
                  rt.focus_table(view, c.tokens, queries), Text(""),
                  rt.vectors_table(view, c.tokens, c.dims, width=width, rows=queries), Text(""),
                  rt.readout_table(read, c.tokens, c.model.tokenizer, rows=queries), Text("")]
    else:  # the matrix: all of it, the slice --window names, or the last tokens that fit the width
        a, b = window_span(c.window, T) if c.window is not None else (first, T)
        listed = (a, b) if c.window is not None else (0, T)  # without --window every token is listed
        parts += [Text(""), rt.tokens_table(c.tokens, *listed), Text(""),
                  rt.attention_table(view, c.tokens, show_scores=c.scores, width=width, first=a, last=b,
                                     encoder=c.model.task.sees_both_sides), Text(""),
                  rt.vectors_table(view, c.tokens, c.dims, width=width, first=a, last=b), Text(""),
                  rt.readout_table(read, c.tokens, c.model.tokenizer, first=a, last=b), Text("")]
    parts += _outcome(c, r)
    return Group(*parts)


def window_span(spec: str, T: int) -> tuple[int, int]:
    """--window A:B -> (A, B), rows and keys A to B-1; either side may be left out (A: or :B)."""
    a, sep, b = spec.partition(":")
    try:
        lo = int(a) if a.strip() else 0
        hi = int(b) if b.strip() else T
    except ValueError:
        lo = hi = -1
    if not sep or not 0 <= lo < hi <= T:
        raise UsageError(f"--window {spec!r} is not a slice of this text's {T} tokens: give A:B with "
                         f"0 <= A < B <= {T}, e.g. --window 0:10")
    return lo, hi


def json(r: Tables, c: Context, stream: bool = True) -> dict[str, Any]:
    from ..render.json_doc import explain_doc

    return explain_doc(c.model, c.text, c.tokens, c.trace, r.view, r.predictions, c.truncated, stream=stream,
                       readout=r.readout, masks=r.fills)


def page(ex: Any, sel: Any, width: int, color: bool) -> Renderable:
    """attn view's predictions page: what the model predicts at the query (the next token, or the word
    at its place), and with -g the generation step made there."""
    from rich.cells import cell_len
    from rich.text import Text

    from ..labels import printable, token_repr
    from ..render.panel_kit import cut, pct, quoted
    from ..render.style import bar

    if not ex.model.task.words:
        return Text("this model has no vocabulary head (a sentence encoder): it predicts no tokens", style="yellow")
    preds = ex.model.predict(ex.trace, ex.top_k, position=sel.query)
    out = Text()
    step = ex.step_at(sel.query)
    chosen = ex.tokens[sel.query + 1].id if step is not None else None
    if step is not None:
        out.append_text(_step_lines(ex, step, any(p.id == chosen for p in preds)))
    upto = "".join(t.text for t in ex.tokens[:sel.query + 1])
    if len(upto) > 40:
        upto = "…" + upto[-39:]
    if ex.model.task.next_token:
        out.append(f"next token after {printable(repr(upto))}\n", style="bold")
    else:
        out.append(f"what the model reads at {quoted(ex, sel.query)} (masked LM)\n", style="bold")
    tw = max(cell_len(token_repr(p.text)) for p in preds)
    tw = min(tw, 16)
    bar_w = max(width - (4 + tw + 9), 0)
    for p in preds:
        out.append(f"{'*' if p.id == chosen else ' '}{p.rank:>2} ")
        out.append(f"{cut(token_repr(p.text), tw):<{tw}} {pct(p.probability):>7}")
        if bar_w:
            out.append(" " + bar(p.probability, bar_w - 1), style="green")
        out.append("\n")
    return out


def _step_lines(ex: Any, n: int, listed: bool) -> Renderable:
    """The generation step made at this query: how, and the token it chose (marked * below)."""
    from rich.text import Text

    from ..render.panel_kit import pct, word

    g = ex.generation
    s = g.steps[n]
    how = "greedy" if not g.temperature else f"sampled at temperature {g.temperature:g}" + (
        f", seed {g.seed}" if g.seed is not None else "")
    out = Text()
    out.append(f"step {n + 1} of {len(g.steps)} · {how}\n", style="bold")
    out.append(f"chose {word(ex, s.id)} at {pct(s.probability)}", style="bold")
    out.append(" (*)\n\n" if listed else ", not in the list\n\n", style="bold")
    return out


MODE = Mode("table", None, Tables, run, rich, json, options=(SCORES, DIMS, TOP_K, LAYER, HEAD, TOKEN, WINDOW),
            files=frozenset({"png", "svg", "html"}),
            page=Page("predictions", "next", 1, page, what="next-token predictions"),
            called="the default tables")
