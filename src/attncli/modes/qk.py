"""--qk: why a head attends; one head's score for one query (--token) and one key (--key) taken
apart into query part x key part (analysis/qk.py), adding up to the cell --scores shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .base import Context, Mode, Option, Renderable
from .shared import HEAD, LAYER, TOKEN, TOP_K, query

if TYPE_CHECKING:
    from ..analysis.qk import QKAttribution

FLAG = Option("qk", ("--qk",), bool, False, "Why a head attends: one head's score for one query (--token) and key "
              "(--key) taken apart into query part × key part (embeddings, earlier heads and MLPs, biases).", order=27)
KEY = Option("key", ("--key",), Optional[str], None, "With --qk: the key token, its text (first match) or index. "
             "Default: the key the head attends to most.", order=28)


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class QK:
    parts: QKAttribution


def run(c: Context) -> QK:
    from ..analysis.qk import qk_attribution
    from ..analysis.steps import resolve_token

    key = None if c.key is None else resolve_token(c.key, c.tokens, option="--key")
    return QK(qk_attribution(c.model, c.trace, c.layer, int(c.head), query(c), key))


def rich(r: QK, c: Context, width: int) -> Renderable:
    from ..render.qk import qk_view

    return qk_view(r.parts, c.tokens, c.top_k)


def json(r: QK, c: Context) -> dict[str, Any]:
    from ..render.qk import qk_doc

    return qk_doc(c.model, c.text, c.tokens, r.parts, c.top_k, c.truncated)


MODE = Mode("qk", FLAG, QK, run, rich, json, options=(LAYER, HEAD, TOKEN, KEY, TOP_K), all_layers=True, one_head=True)
