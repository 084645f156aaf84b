"""--summary: for one query token, which key every layer's every head attends to most, and the
heads with a clear pattern."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import Context, Mode, Option, Renderable
from .shared import TOKEN, query

if TYPE_CHECKING:
    from ..analysis.summary import HeadSummary

FLAG = Option("summary", ("--summary",), bool, False, "For one query token (--token, default the last): which key "
              "every layer's every head attends to most, and the heads with a clear pattern.", order=22)


@dataclass
class Summary:
    summary: HeadSummary


def run(c: Context) -> Summary:
    from ..analysis.summary import head_summary

    return Summary(head_summary(c.trace, query(c)))


def rich(r: Summary, c: Context, width: int) -> Renderable:
    from ..render.summary import summary_table

    return summary_table(r.summary, c.tokens)


def json(r: Summary, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import summary_doc

    return summary_doc(c.model, c.text, c.tokens, r.summary, c.truncated)


MODE = Mode("summary", FLAG, Summary, run, rich, json, options=(TOKEN,), all_layers=True)
