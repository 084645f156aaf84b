"""Rich renderables for explain, predict and info. Functions return renderables; the CLI prints."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich import box
from rich.cells import cell_len
from rich.console import Group
from rich.text import Text

from ..labels import PIECE, printable, token_label, token_note, token_repr, token_text
from ..model import Model, Prediction
from ..tokenizer import Token
from ..units import binary_size
from ..views import HeadView
from .grid import Grid
from .style import MASKED, RampLegend, bar, cell_style, head_name


def percent(p: float) -> str:
    """A probability as a percentage with the digits that matter: 78.2%, 0.11%, <0.01%."""
    pct = 100 * p
    return f"{pct:.1f}%" if pct >= 1 else f"{pct:.2f}%" if pct >= 0.01 else "<0.01%"


def titled(title: str, table: Any, caption: str | None = None) -> Group:
    """A table under its title (and over its caption), each its own line: a title never wraps
    to the width of a narrow table."""
    parts: list[Any] = [Text(title, style="italic"), table]
    if caption:
        parts.append(Text(caption, style="dim italic"))
    return Group(*parts)


def tokens_table(tokens: list[Token], first: int = 0, last: int | None = None) -> Group:
    t = Grid(box=None, pad_edge=False, padding=(0, 2, 0, 0))
    t.add_column("#", justify="right", style="dim")
    t.add_column("token")
    t.add_column("id", justify="right", style="cyan")
    t.add_column("note", style="yellow")
    last = len(tokens) if last is None else last
    for tok in tokens[first:last]:
        t.add_row(str(tok.index), token_label(tok), str(tok.id), token_note(tok, tokens))
    shown = "" if (first, last) == (0, len(tokens)) else f" {first} to {last - 1} of {len(tokens)}"
    return titled(f"Tokens{shown}", t)


CORNER = "query ↓ / key →"  # the attention table's corner header
SHORT_CORNER = "q↓ k→"  # the same, when the full one would push a key column off a narrow terminal


def _fits(labels: list[str], width: int, corner: str) -> int:
    """How many of the last tokens fit `width` columns with this corner header."""
    row_w = max(cell_len(corner), *(cell_len(f"{i} {lab}") for i, lab in enumerate(labels))) + 4
    fits, used = 0, row_w
    for lab in reversed(labels):  # the last tokens first: they see all the others
        used += max(cell_len(lab), 5) + 3
        if used > width:
            break
        fits += 1
    return fits


def corner_for(labels: list[str], width: int | None) -> str:
    """The corner header: the short one only when it keeps a key column the long one would drop."""
    if width is None or _fits(labels, width, CORNER) >= len(labels):
        return CORNER
    return SHORT_CORNER if _fits(labels, width, SHORT_CORNER) > _fits(labels, width, CORNER) else CORNER


def first_shown(labels: list[str], width: int | None) -> int:
    """The first token of the window that fits `width` columns (0: every token fits)."""
    if width is None:
        return 0
    T = len(labels)
    fits = _fits(labels, width, corner_for(labels, width))
    return T - max(fits, 2) if fits < T else 0


def attention_table(view: HeadView, tokens: list[Token], show_scores: bool = False, width: int | None = None,
                    first: int | None = None, last: int | None = None, encoder: bool = False) -> Group:
    """Rows look (queries), columns are looked at (keys). Weights as percentages, or scores.

    A text too long for `width` shows its last tokens' rows and columns from `first` (by
    default first_shown's), and says so.
    """
    labels = [token_label(t) for t in tokens]
    if first is None:
        first = first_shown(labels, width)
    what = "scores" if show_scores else "weights"
    t = Grid()
    t.add_column(corner_for(labels, width), style="bold", no_wrap=True)
    last = len(tokens) if last is None else last
    for i in range(first, last):
        t.add_column(Text(f"{labels[i]}\n") + Text(str(i), style="dim"), justify="right", no_wrap=True)
    for q in range(first, last):
        visible = ~view.masked[q]  # [T]
        best = int(np.argmax(np.where(visible, view.weights[q], -1.0)))
        if show_scores:
            row_s = view.scores[q][visible]
            lo, hi = float(row_s.min()), float(row_s.max())
        cells: list[Any] = []
        for k in range(first, last):
            if view.masked[q, k]:
                cells.append(Text(MASKED, style="dim"))
                continue
            w = float(view.weights[q, k])
            if show_scores:
                s = float(view.scores[q, k])
                body, level = f"{s:.2f}", (s - lo) / (hi - lo) if hi > lo else 1.0
            else:
                body, level = f"{100 * w:.0f}%", w
            mark = "*" if k == best else " "
            style = cell_style(level) + (" bold" if k == best else "")
            cells.append(Text(body + mark, style=style))
        t.add_row(f"{q} {labels[q]}", *cells)
    name = f"blocks.{view.layer}.attn.{what}"
    how = (f"{name}: q·k/√d_head, before softmax" if show_scores
           else f"{name}: softmax of the scores, the share of attention; each row sums to 100%")
    masked = any(view.masked[q, k] for q in range(first, last) for k in range(first, last))
    hidden = "token (future, or beyond the sliding window)" if np.tril(view.masked).any() else "(future) token"
    legend = Text(
        f"Each row is one token's query compared with the key of every token it may see ({how}). "
        f"* marks the row's strongest link"
        f"{f'; {MASKED} a masked ' + hidden if masked else ''}"
        f"{f'; {PIECE} a piece of the word before' if any(t.continues for t in tokens) else ''}."
        + (" Nothing is masked: in an encoder every token sees every other, before and after it (a causal model "
           "hides the later ones)." if encoder else ""), style="dim"
    )
    if last < len(tokens):
        legend.append(f"\nShowing tokens {first} to {last - 1} of {len(tokens)} (--window); a row's strongest link may lie "
                      "outside them, and --json or --html has every cell.", style="yellow")
    elif first:
        legend.append(f"\nShowing the last {len(tokens) - first} of {len(tokens)} tokens, as many as fit the width "
                      "(a row's strongest link may lie to the left); --json or --html has every cell.", style="yellow")
    key = RampLegend("cell colors: " if not show_scores else "cell colors, from the row's lowest score to its highest: ",
                     shades=False)
    return Group(Text(f"Attention {what}, layer {view.layer}, {head_name(view.head)}", style="italic"), t, key, legend)


def focus_table(view: HeadView, tokens: list[Token], queries: list[int], k: int = 8) -> Group:
    """For a text too long for the matrix: each chosen query token's strongest keys, with their weights
    and positions, read from the same view (blocks.L.attn.weights of one head, or the mean)."""
    labels = [token_label(t) for t in tokens]
    t = Grid(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    t.add_column("query", no_wrap=True, style="bold")
    t.add_column("key", no_wrap=True)
    t.add_column("weight", justify="right")
    t.add_column("", no_wrap=True, style="green")
    for q in queries:
        row = np.where(view.masked[q], -1.0, view.weights[q])  # [T]
        top = np.lexsort((np.arange(row.shape[0]), -row))[:k]  # strongest first, ties by position
        for n, key in enumerate(top):
            if row[key] < 0:
                break
            w = float(row[key])
            t.add_row(f"{q} {labels[q]}" if n == 0 else "", f"{key} {labels[key]}", f"{100 * w:.1f}%", bar(w, 16))
    title = (f"Attention weights, layer {view.layer}, {head_name(view.head)}: the {k} keys each query token looks at "
             f"most  [blocks.{view.layer}.attn.weights]")
    note = Text(f"The text is {len(tokens)} tokens: its {len(tokens)}x{len(tokens)} matrix does not fit the width. "
                "--token picks the query (text or index), --window A:B shows rows and keys A to B-1 as a table, "
                "and --json or --html has every cell.", style="dim")
    return Group(Text(title, style="italic"), t, note)


def vectors_table(view: HeadView, tokens: list[Token], dims: int, width: int = 120, first: int = 0,
                  last: int | None = None, rows: list[int] | None = None) -> Group:
    """The first `dims` dims of each contextual vector (fewer if `width` columns cannot hold them)."""
    vec = view.vectors  # [T, n]
    n = vec.shape[1]
    label_w = max(cell_len(f"{i} {token_label(t)}") for i, t in enumerate(tokens))
    fits = max(1, (width - label_w - 18) // 9)  # each dim "+0.123" plus padding; room for norm
    shown = min(dims, n, fits)
    if view.head == "mean":
        what = f"all heads combined through W_O  [{view.vectors_name}]"
    else:
        what = f"head {view.head}'s weighted sum of values  [{view.vectors_name}[{view.head}]]"
    t = Grid(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("token", style="bold", no_wrap=True)
    for j in range(shown):
        t.add_column(f"d{j}", justify="right", no_wrap=True, min_width=6)
    if shown < n:
        t.add_column("…", justify="center", style="dim")
    t.add_column("norm", justify="right", style="cyan")
    norms = view.norms  # [T]
    shown_rows = rows if rows is not None else range(first, len(tokens) if last is None else last)
    for i in shown_rows:  # the attention table's window: the same tokens in both
        tok = tokens[i]
        row = [f"{float(x):+.3f}" for x in vec[i, :shown]]
        if shown < n:
            row.append("…")
        t.add_row(f"{i} {token_label(tok)}", *row, f"{norms[i]:.3f}")
    caption = f"first {shown} of {n} dims" + (" (as many as fit; widen the terminal for more)" if shown < min(dims, n) else "")
    return titled(f"Contextual vectors, layer {view.layer}: {what}", t, caption)


def readout_table(readout: Any, tokens: list[Token], tokenizer: Any, first: int = 0, last: int | None = None,
                  rows: list[int] | None = None) -> Group:
    """For a reader: how far this layer's attention turned each token's vector, and what that
    vector reads like through the model's own unembedding (analysis/readout.py)."""
    L = readout.layer
    reads = {pos: ", ".join(token_text(tokenizer.display(i)).strip() or token_repr(tokenizer.display(i))
                            for i, _ in near)
             for pos, near in zip(readout.positions, readout.nearest)}
    vocabulary = bool(readout.positions)  # a sentence encoder has no vocabulary head to read a vector in
    t = Grid(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    t.add_column("token", style="bold", no_wrap=True)
    t.add_column("turned", justify="right", no_wrap=True)
    t.add_column("", no_wrap=True, style="yellow")
    if vocabulary:
        t.add_column("reads like", no_wrap=True, style="green")
    for i in (rows if rows is not None else range(first, len(tokens) if last is None else last)):
        tok = tokens[i]
        deg = float(readout.turned[i])
        t.add_row(f"{i} {token_label(tok)}", f"{deg:.0f}°", bar(deg / 90.0, 12), *([reads.get(i, "")] if vocabulary else []))
    caption = (f"turned: the angle between the token's vector before and after this layer's attention "
               f"(blocks.{L}.resid_pre to {readout.after}; 0° = attention left it as it was). ")
    caption += ("reads like: that vector through the final norm (or head) and the unembedding, the entries it is "
                "nearest to, as if the model stopped here." if vocabulary else
                "(No \"reads like\": this model has no vocabulary head to read a vector in.)")
    return titled(f"What layer {L}'s attention did to each token", t, caption)


def predictions_table(preds: list[Prediction], after: str | None = None, title: str | None = None) -> Group:
    title = title or "Next-token predictions" + (f" after {after!r}" if after is not None else "")
    t = Grid(box=None, padding=(0, 2, 0, 0))
    t.add_column("#", justify="right", style="dim")
    t.add_column("token", no_wrap=True)
    t.add_column("probability", justify="right")
    t.add_column("", style="green", no_wrap=True)
    for p in preds:
        t.add_row(str(p.rank), token_repr(p.text), percent(p.probability), bar(p.probability))
    return Group(Text(title, style="italic"), t)


def generation_table(steps: list[dict[str, Any]], layer: int, head: int | str, tokens: list[Token],
                     width: int = 120) -> Group:
    """--explain: every generated token, how sure the model was, what else it weighed, and where it
    looked; three alternatives and three keys from 100 columns, two below."""
    most = 3 if width >= 100 else 2
    t = Grid(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    t.add_column("#", justify="right", style="dim")
    t.add_column("token", no_wrap=True, style="bold green")
    t.add_column("probability", justify="right")
    t.add_column("alternatives", no_wrap=True)
    t.add_column("attended to most", no_wrap=True)
    words = [token_label(t) for t in tokens]  # what each key reads as: the prompt's tokens, then the generated ones
    for n, s in enumerate(steps):
        row = s["attention"]["weights"]
        top = sorted(range(len(row)), key=lambda k: -row[k])[:most]
        others = [a for a in s["alternatives"] if a["id"] != s["id"]][:most]
        alts = "  ".join(f"{token_repr(a['text'])} {percent(a['probability'])}" for a in others)
        looks = "  ".join(f"{k} {words[k]} {100 * row[k]:.0f}%" for k in top)
        t.add_row(str(n + 1), token_repr(s["text"]), percent(s["probability"]), alts, looks)
        words.append(token_text(s["text"]).strip() or token_repr(s["text"]))
    return titled(f"Generation, token by token (layer {layer}, {head_name(head)})", t,
                  f"attended to most: the largest weights in the row of blocks.{layer}.attn.weights "
                  "of the position that chose the token")
def mask_title(index: int, tokens: list[Token], n: int, j: int) -> str:
    """'Fillers for the mask at token 4, between "not" and "spinach"' (with 'mask 2 of 3' when several)."""
    def near(i: int) -> str | None:  # the neighbouring word as the input spells it ("spinach", not its piece "spin")
        if not 0 <= i < len(tokens) or tokens[i].special:
            return None
        return printable(tokens[i].word_text) if tokens[i].word_text else token_label(tokens[i])

    before, after = near(index - 1), near(index + 1)
    where = (f', between "{before}" and "{after}"' if before and after else f', after "{before}"' if before
             else f', before "{after}"' if after else "")
    which = f"mask {j + 1} of {n}" if n > 1 else "the mask"
    return f"Fillers for {which} at token {index}{where}"


def mask_tables(fills: list[Any], tokens: list[Token], text: str | None = None) -> Group:
    """A masked-language model's top-k words for each mask, one table per mask."""
    parts: list[Any] = []
    if text is not None:
        parts.append(Text(printable(text), style="bold"))
    for j, f in enumerate(fills):
        parts.append(predictions_table(f.predictions, title=mask_title(f.index, tokens, len(fills), j)))
    parts.append(Text("Each masked word is predicted from the words on both sides of it: an encoder's attention "
                      "sees the whole text.", style="dim"))
    return Group(*parts)


def encoder_note(model: Model, tokens: list[Token]) -> Text:
    """What an encoder's explain shows instead of next-token predictions."""
    if not model.task.words:
        from ..analysis.embedding import describe, pooling_of

        return Text(f"No word predictions: {printable(model.name)} is a sentence encoder with no vocabulary head; its "
                    f"output is a sentence embedding ({describe(pooling_of(model.card))}). attn compare A B compares "
                    "two texts with it.", style="dim")
    return Text("No [MASK] in the text, so nothing to fill in: a masked-language model predicts a masked word from "
                "both sides, e.g. \"I do not [MASK] spinach\".", style="dim")


def generated_text(prompt: str, continuation: str) -> Text:
    out = Text(printable(prompt, newlines=True))
    out.append(printable(continuation, newlines=True), style="bold green")
    return out


def explain_header(model: Model, view: HeadView) -> Text:
    c = model.config
    kind = ", an encoder: every token sees every other" if model.task.sees_both_sides else ""
    return Text.assemble("Model ", (printable(model.name), "cyan"),
                         f": {c.n_layer} layers × {c.n_head} heads, d_model {c.d_model}{kind}")


def provisional_warning(model: Model) -> Any:
    """A yellow panel for a model whose card says it is provisional, else None."""
    if model.card.get("provisional"):
        from rich.panel import Panel

        return Panel(Text(printable(str(model.card.get("description", "This model is provisional: its numbers are not meaningful."))),
                          style="yellow"))
    return None


def info_table(model: Model, info: dict[str, Any]) -> Group:
    from .json_doc import kind_sentence

    t = Grid(box=None, show_header=False, padding=(0, 2, 0, 0))
    t.add_column(style="bold")
    t.add_column()
    def show(v: Any) -> str:  # card values come from model files: made printable
        if isinstance(v, dict):
            return ", ".join(f"{printable(str(k))}: {show(x)}" for k, x in v.items() if x is not None)
        return printable(str(v))

    for key, value in info.items():
        for k2, v2 in (value.items() if isinstance(value, dict) else [(None, value)]):
            if v2 is None:  # a field the card leaves empty (e.g. no validation file): nothing to show
                continue
            if key == "memory" and isinstance(v2, int) and (k2 == "budget" or str(k2).endswith("_bytes")):
                v2 = binary_size(v2)
            elif key == "memory" and isinstance(v2, list):
                v2 = ", ".join(v2) if 0 < len(v2) <= 2 else f"{len(v2)} matrices" if v2 else "nothing"
            t.add_row(printable(key if k2 is None else f"{key}.{k2}"), show(v2))
    parts: list[Any] = [titled(f"Model: {printable(model.name)}", t, kind_sentence(model))]
    warn = provisional_warning(model)
    if warn is not None:
        parts.insert(0, warn)
    return Group(*parts)
