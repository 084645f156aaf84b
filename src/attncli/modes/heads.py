"""--head all: every head of the layer side by side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import Context, Mode, Renderable
from .shared import HEAD, LAYER


@dataclass(eq=False)  # a mode's result: equal only to itself, as every mode's result is
class Heads:
    layer: int  # the layer whose heads are drawn (from the trace)


def run(c: Context) -> Heads:
    return Heads(c.layer)


def rich(r: Heads, c: Context, width: int) -> Renderable:
    from ..render.analysis import heads_grid

    return heads_grid(c.trace, r.layer, c.tokens, width)


def json(r: Heads, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import heads_doc

    return heads_doc(c.model, c.text, c.tokens, c.trace, r.layer, c.truncated)


def chosen(values: Mapping[str, Any]) -> bool:
    return (values.get("head") or "").strip().lower() == "all"


MODE = Mode("heads", None, Heads, run, rich, json, options=(LAYER, HEAD), files=frozenset({"png", "svg", "html"}),
            called="--head all", chosen=chosen)
