"""Rich renderables for `attn compare`: the aligned tokens, a heatmap of the change in the
chosen head's weights, how far each shared token's vector moved, and the prediction deltas;
with --word, one word's meaning in each text, layer by layer; for a sentence-embedding model,
the similarity of the two sentences."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.compare import Comparison, WordDistance
from ..labels import printable
from ..tokenizer import Tokenizer, Token
from ..labels import token_label, token_repr
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


def predictions_delta_table(c: Comparison, tok: Tokenizer, masked: bool = False) -> Group:
    title = Text("Fillers of the first mask in A and in B" if masked else "Next-token predictions after A and after B",
                 style="italic")
    t = Table(box=None, padding=(0, 2, 0, 0))
    t.add_column("token", no_wrap=True)
    t.add_column("A", justify="right")
    t.add_column("B", justify="right")
    t.add_column("B − A", justify="right")
    for i, pa, pb in zip(c.prediction_ids, c.prob_a, c.prob_b):
        d = float(pb - pa)
        t.add_row(Text(token_repr(tok.display(i))), f"{_pct(pa)}%", f"{_pct(pb)}%",
                  Text(f"{_pct(d, signed=True)} pts", style="red" if d > 0 else "blue" if d < 0 else ""))
    return Group(title, t)


def _layer_label(name: str) -> str:
    return "embedding" if name.endswith("resid_pre") else f"layer {name.split('.')[1]}"


def word_table(m: WordDistance, tokens: tuple[list[Token], list[Token]]) -> Group:
    """One row per layer: how far the word's vector in A is from its vector in B, beside the control word's."""
    def spelled(indices: list[int], toks: list[Token]) -> str:
        return " ".join(token_label(toks[i]) for i in indices)

    word = printable(m.word)
    title = Text(f'Meaning in context: how far "{word}" in A is from "{word}" in B, layer by layer  '
                 f"[{m.names[0]}, then blocks.L.{m.names[-1].split('.', 2)[2]}]", style="italic")
    t = Table(box=None, padding=(0, 2, 0, 0))
    t.add_column("vector", style="bold", no_wrap=True)
    t.add_column(Text(f'"{word}"'), justify="right")
    t.add_column("", style="yellow", no_wrap=True)
    if m.control is not None:
        t.add_column(Text(f'"{printable(m.control)}" (control)'), justify="right")
        t.add_column("", style="cyan", no_wrap=True)
    both = [m.distance] + ([m.control_distance] if m.control_distance is not None else [])
    scale = max(max(float(d.max()) for d in both), 1e-12)
    for j, name in enumerate(m.names):
        row: list = [_layer_label(name), f"{float(m.distance[j]):.4f}", bar(float(m.distance[j]) / scale, 20)]
        if m.control_distance is not None:
            row += [f"{float(m.control_distance[j]):.4f}", bar(float(m.control_distance[j]) / scale, 20)]
        t.add_row(*row)
    lines = [f'cosine distance (1 - cos, 0 = the same direction) of "{word}"\'s vector in A '
             f"(tokens {spelled(m.a, tokens[0])}) and in B (tokens {spelled(m.b, tokens[1])}); a word cut into pieces "
             "is the mean of its pieces. "
             + ("At the embedding the two are the same vector (the same token, and no position or the same one). "
                if float(m.distance[0]) < 1e-9 else
                "At the embedding the word is the same token in both, at different positions. ")
             + "Each layer mixes in the words around it: the further the two vectors move apart, the more "
             "differently the model reads the word in the two texts."]
    if m.control is not None:
        lines.append(f'"{printable(m.control)}" is the control, a word of both texts whose sense does not change: '
                     "how far context alone moves a word.")
    else:
        lines.append("The texts share no other word to set beside it as a control; give one with --control WORD.")
    last, ctrl = float(m.distance[-1]), None if m.control_distance is None else float(m.control_distance[-1])
    if ctrl is not None:
        lines.append(f'After the last layer: "{word}" {last:.4f}, "{printable(m.control)}" {ctrl:.4f}.')
    return Group(title, t, Text(" ".join(lines), style="dim"))


def similarity_text(similarity: dict) -> Text:
    from ..analysis.embedding import describe

    return Text.assemble("Sentence embeddings: cosine similarity of A and B ",
                         (f"{similarity['cosine_similarity']:.4f}", "bold"),
                         f" ({describe(similarity)}; 1 = the same direction, 0 = unrelated)")


def compare_view(c: Comparison, texts: tuple[str, str], tokens: tuple[list[Token], list[Token]], tok: Tokenizer,
                 meaning: WordDistance | None = None, similarity: dict | None = None,
                 at: tuple[int, int] | None = (-1, -1), model=None) -> Group:
    parts: list[Any] = [Text(f"A: {texts[0]!r}\nB: {texts[1]!r}"), alignment_text(c, *tokens), Text("")]
    if meaning is not None:  # the word's meaning replaces the token-by-token view
        parts += [word_table(meaning, tokens)]
    else:
        parts += [diff_table(c, tokens[1]), Text(""), distance_table(c, tokens[1])]
        if c.prediction_ids:
            parts += [Text(""), predictions_delta_table(c, tok, masked=at is not None and at != (-1, -1))]
        elif model is not None and model.task.fills_masks:
            parts += [Text(""), Text("No fillers to compare: put [MASK] in both texts.", style="dim")]
    if similarity is not None:
        parts += [Text(""), similarity_text(similarity)]
    return Group(*parts)
