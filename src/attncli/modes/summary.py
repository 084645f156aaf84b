"""--summary: for one query token, which key every layer's every head attends to most, and the
heads with a clear pattern."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .base import Context, Mode, Option, Renderable
from .shared import TOKEN, query

if TYPE_CHECKING:
    from ..analysis.summary import HeadSummary

FLAG = Option("summary", ("--summary",), bool, False, "For one query token (--token, default the last): which key "
              "every layer's every head attends to most, and the heads with a clear pattern.", order=22)




CENSUS = Option("census", ("--census",), Optional[str], None, "With --summary: show each head's roles from this "
                "census of the same model (what attn heads writes with its JSON option).", order=29, metavar="FILE")


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class Summary:
    summary: HeadSummary
    census: Any  # analysis.heads.CensusRoles of --census, or None


def read_census(path: str) -> Any:
    """--census FILE's JSON document, or one usage line saying what is wrong with it."""
    import json as json_
    from pathlib import Path

    from ..errors import UsageError

    try:
        return json_.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--census {path}: no such file; make it with attn heads CORPUS --json > {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else "not a JSON document"
        raise UsageError(f"--census {path}: cannot read it ({why}); give the output of attn heads --json") from None


def run(c: Context) -> Summary:
    from ..analysis.heads import census_roles
    from ..analysis.summary import head_summary

    roles = None if c.census is None else census_roles(read_census(c.census), c.model, c.census)
    return Summary(head_summary(c.trace, query(c)), roles)


def rich(r: Summary, c: Context, width: int) -> Renderable:
    from ..render.summary import summary_table

    return summary_table(r.summary, c.tokens, r.census)


def json(r: Summary, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import summary_doc

    return summary_doc(c.model, c.text, c.tokens, r.summary, c.truncated, r.census)


MODE = Mode("summary", FLAG, Summary, run, rich, json, options=(TOKEN, CENSUS), all_layers=True)
