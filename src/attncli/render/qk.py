"""`attn explain --qk`: one score taken apart, as Rich renderables and as the --json document.

The terminal shows the largest pairs in words, then each part's share summed over the other side;
the document holds every pair. Signed numbers are always printed, colour only repeats their sign."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analysis.qk import Part, QKAttribution
from ..labels import token_label
from ..model import Model
from ..tokenizer import Token
from .json_doc import envelope, floats, tokens_doc
from .why import signed

SHOWN_PARTS = 8  # rows of the by-part table; --json has every part


def _who(tokens: list[Token], i: int) -> str:
    return f"{token_label(tokens[i])!r}"  # repr: quoted, and every character a terminal would obey escaped


def pair_sentence(r: QKAttribution, tokens: list[Token], i: int, j: int) -> str:
    """"'like''s query, from head 0.2's output, against 'not''s key, from its embedding: +1.90 of 3.40"."""
    q, k = r.query_parts[i], r.key_parts[j]
    return (f"{_who(tokens, r.query)}'s query, from {q.source}, against {_who(tokens, r.key)}'s key, from "
            f"{k.source}: {signed(float(r.contributions[i, j]))} of {r.score:.2f}")


def _style(x: float) -> str:
    return "red" if x > 0 else "blue" if x < 0 else ""


def _by_part(r: QKAttribution, top: int) -> tuple[Table, int]:
    """Each part's row (query) or column (key) sum, the parts with the largest either shown."""
    q_sum, k_sum = r.contributions.sum(axis=1), r.contributions.sum(axis=0)
    rows: dict[str, list[float | None]] = {}
    for side, parts, sums in ((0, r.query_parts, q_sum), (1, r.key_parts, k_sum)):
        for part, x in zip(parts, sums, strict=True):  # b_Q and b_K share a row: each side's projection bias
            rows.setdefault("b_Q / b_K" if part.name in ("b_Q", "b_K") else part.label, [None, None])[side] = float(x)
    order = sorted(rows, key=lambda name: -max(abs(v) for v in rows[name] if v is not None))
    t = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    t.add_column("part", no_wrap=True)
    t.add_column("query side", justify="right", no_wrap=True)
    t.add_column("key side", justify="right", no_wrap=True)
    for name in order[:top]:
        cells = [Text("", style="dim") if v is None else Text(signed(v), style=_style(v)) for v in rows[name]]
        t.add_row(name, *cells)
    return t, max(0, len(order) - top)


def _note(r: QKAttribution) -> str:
    """How the parts were made, in the words of this model's kind."""
    here = [f for f in r.frozen if f.startswith(f"blocks.{r.layer}.")]  # this layer's; the stream's before it
    earlier = len(r.frozen) - len(here)
    held = here + ([f"{earlier} norm{'s' if earlier > 1 else ''} of the stream before it"] if earlier else [])
    steps = (["this layer's norm"] if f"blocks.{r.layer}.ln1" in here else []) + ["W_Q or W_K"]
    steps += ["the Q/K norm"] if any("_norm" in f for f in here) else []
    steps += ["rotary at the token's position"] if r.rotary else []
    made = ", ".join(steps[:-1]) + " and " + steps[-1] if len(steps) > 1 else steps[0]
    biases = ", the biases" if any(p.bias for p in r.query_parts + r.key_parts) else ""
    return ("Each part is what one component of the residual stream (the embeddings, each earlier head's and MLP's "
            f"output{biases}) becomes through {made}."
            + (f" The norms' scales are held at each token's actual values ({', '.join(held)}), so the parts add "
               "up to the score exactly." if held else " The parts add up to the score exactly.")
            + " A part's share says what it contributes through this head's W_Q and W_K, not what removing it "
            "would change."
            + (" b_K adds the same to every key's score from this query, so it moves no weight."
               if any(p.name == "b_K" for p in r.key_parts) else ""))


def qk_view(r: QKAttribution, tokens: list[Token], top_k: int) -> Group:
    why = "the key it attends to most" if not r.key_given else "the key asked for"
    title = Text(f"Why layer {r.layer} head {r.head} attends from token {r.query} {_who(tokens, r.query)} to token "
                 f"{r.key} {_who(tokens, r.key)} ({why})\nscore {r.score:+.3f} (q·k × {r.scale:.4g}, as --scores "
                 f"shows it), weight {r.weight:.2f}", style="italic")
    n_pairs = r.contributions.size
    table, more = _by_part(r, SHOWN_PARTS)
    has_bias = any(p.bias for p in r.query_parts + r.key_parts)
    sums = Text(f"{len(r.query_parts)} query parts × {len(r.key_parts)} key parts = {n_pairs} pairs, adding up to "
                f"{r.total:+.3f}" + (f" ({r.bias_total:+.3f} of it from pairs with a bias)" if has_bias else "")
                + f"; the model's score: {r.score:+.3f}")
    return Group(title, Text(""),
                 Text(f"The largest pairs, query part × key part (of {n_pairs}; --json has every pair):",
                      style="bold"),
                 *(Text(pair_sentence(r, tokens, i, j)) for i, j, _ in r.largest(top_k)), Text(""),
                 Text("By part: each query part against the whole key, each key part against the whole query",
                      style="bold"), table,
                 *([Text(f"… and {more} more parts (--json has every one)", style="dim")] if more else []),
                 sums, Text(_note(r), style="dim"))


def _part_doc(part: Part, share: float) -> dict[str, Any]:
    return {"name": part.name, "layer": part.layer, "head": part.head, "label": part.label, "bias": part.bias,
            "total": share}


def qk_doc(model: Model, text: str, tokens: list[Token], r: QKAttribution, top_k: int,
           truncated: bool = False) -> dict[str, Any]:
    """--qk: the score of one query and key of one head, as query part × key part."""
    doc = envelope("explain-qk", model)
    doc.update({"text": text, "truncated": truncated, "tokens": tokens_doc(tokens)})
    doc["view"] = {"layer": r.layer, "head": r.head, "kv_head": r.kv_head}
    doc["query"] = {"index": r.query, "label": token_label(tokens[r.query])}
    doc["key"] = {"index": r.key, "label": token_label(tokens[r.key]), "given": r.key_given}
    doc["score"] = {"value": r.score, "weight": r.weight, "scale": r.scale,
                    "name": f"blocks.{r.layer}.attn.scores[{r.head}, {r.query}, {r.key}]"}
    doc["method"] = ("each query and key as a sum of parts: every component of the residual stream (embeddings, each "
                     "earlier head's output through its rows of W_O, each MLP's output, the attention output biases, "
                     "the earlier norms' biases) through the layer's norm and W_Q or W_K (their biases parts of their "
                     "own), the Q/K norm and rotary; each norm's scale held at its actual input's; contributions[i][j] "
                     "= query part i · key part j × scale")
    doc["frozen_norms"] = list(r.frozen)
    doc["rotary"] = r.rotary
    q_sum, k_sum = r.contributions.sum(axis=1), r.contributions.sum(axis=0)
    doc["query_parts"] = [_part_doc(p, float(x)) for p, x in zip(r.query_parts, q_sum, strict=True)]
    doc["key_parts"] = [_part_doc(p, float(x)) for p, x in zip(r.key_parts, k_sum, strict=True)]
    doc["contributions"] = floats(r.contributions)
    doc["largest"] = [{"query_part": i, "key_part": j, "value": x, "words": pair_sentence(r, tokens, i, j)}
                      for i, j, x in r.largest(top_k)]
    doc["sum"] = {"total": r.total, "biases": r.bias_total, "score": r.score, "difference": r.total - r.score,
                  "note": "the contributions add up to total, which equals the model's score up to float32 rounding; "
                          "biases is what the pairs with a bias part on either side add"}
    return doc
