"""attn heads' output: a layers x heads grid per score (each cell its number, on the ramp's color where
there is color), the heads with a clear role, the thresholds, and the --json document."""

from __future__ import annotations

from typing import Any

from ..analysis.heads import CORPUS_SCORES, LEVEL, ROLES, SCORES, HeadsResult
from ..model import Model
from .json_doc import envelope
from .style import cell_style

DEFINITIONS = {
    "previous": "mean of A[i, i-1] over every position i >= 1 of every text",
    "first": "mean of A[i, 0]: the attention sink",
    "self": "mean of A[i, i]",
    "entropy": "mean of each row's entropy / log(keys it may see): 1 = spread evenly",
    "induction": "on a random sequence repeated, mean of A[j, j-L+1] over the second copy",
    "duplicate": "on the same sequences, mean of A[j, j-L]",
}


def corpus_doc(result: HeadsResult, name: str) -> dict[str, Any]:
    return {"name": name, "texts": result.texts, "skipped": result.skipped, "cut": result.cut,
            "tokens": result.tokens, "positions": result.positions}


def options_doc(result: HeadsResult) -> dict[str, Any]:
    o = result.options
    return {"induction_length": o.induction_length, "induction_length_used": result.induction_length,
            "induction_samples": o.induction_samples, "samples_measured": result.samples, "seed": o.seed,
            "max_tokens": o.max_tokens, "bootstrap": o.bootstrap, "confidence": LEVEL}


def thresholds_doc() -> dict[str, Any]:
    return {role: {"score": score, "min": floor} for role, (score, floor) in ROLES.items()}


def heads_doc(model: Model, result: HeadsResult, corpus: str) -> dict[str, Any]:
    doc = envelope("heads", model)
    rows = []
    for L in range(result.n_layer):
        for h in range(result.n_head):
            rows.append({
                "layer": L, "head": h,
                "scores": {s: float(result.scores[s][L, h]) if s in result.scores else None for s in SCORES},
                "ci": {s: [float(x) for x in result.ci[s][L, h]] if s in result.ci else None for s in SCORES},
                "roles": result.roles[L][h],
            })
    doc.update({"corpus": corpus_doc(result, corpus), "options": options_doc(result),
                "thresholds": thresholds_doc(), "definitions": DEFINITIONS, "heads": rows, "notes": result.notes})
    return doc


def _grid(result: HeadsResult, score: str) -> Any:
    """The score of every head: a row a layer, a column a head."""
    from rich.text import Text

    from .grid import Grid

    values = result.scores[score]
    g = Grid(box=None, padding=(0, 1), pad_edge=False)
    g.add_column("layer", justify="right")
    for h in range(result.n_head):
        g.add_column(f"h{h}", justify="right")
    for L in range(result.n_layer):
        g.add_row(str(L), *[Text(f"{values[L, h]:.2f}", style=cell_style(float(values[L, h])))
                            for h in range(result.n_head)])
    return g


LISTED = 12  # heads the terminal lists per role, the strongest; --json and --html have every head's roles


def roles_lines(result: HeadsResult, limit: int | None = LISTED) -> list[str]:
    """A line per role: its rule, then each head that has it (layer.head, score and 95% interval), strongest
    first; past `limit` heads, how many more."""
    limit = limit or 1 << 30
    out = []
    for role, (score, floor) in ROLES.items():
        if score not in result.scores:
            continue
        heads = [(float(result.scores[score][L, h]), L, h) for L in range(result.n_layer) for h in range(result.n_head)
                 if role in result.roles[L][h]]
        rule = f"{role} ({score} interval's low end >= {floor:g})"
        if not heads:
            out.append(f"{rule}: none")
            continue
        heads.sort(key=lambda t: (-t[0], t[1], t[2]))
        listed = ", ".join(f"{L}.{h} {v:.2f} [{result.ci[score][L, h, 0]:.2f}, {result.ci[score][L, h, 1]:.2f}]"
                           for v, L, h in heads[:limit])
        more = f", and {len(heads) - limit} more" if len(heads) > limit else ""
        out.append(f"{rule}: {len(heads)} head{'' if len(heads) == 1 else 's'}: {listed}{more}")
    return out


def rich_heads(model: Model, result: HeadsResult, corpus: str) -> Any:
    from rich.console import Group
    from rich.text import Text

    from .style import RampLegend

    head = (f"Heads of {model.name} over {corpus}: {result.texts:,} text{'' if result.texts == 1 else 's'}, "
            f"{result.tokens:,} tokens, {result.positions:,} query positions")
    if not result.encoder and result.samples:
        head += f"; induction and duplicate on {result.samples} random sequences of {result.induction_length} " \
                "tokens repeated"
    parts: list[Any] = [Text(head, style="bold"), Text(f"Each cell is a head's score, 0 to 1 (layers down, heads "
                                                       f"across); roles need the low end of the score's "
                                                       f"{LEVEL:.0%} interval (bootstrap) to reach the threshold."),
                        RampLegend("colors: ", shades=False), Text("")]
    for score in (*CORPUS_SCORES, "induction", "duplicate"):
        if score in result.scores:
            parts += [Text(f"{score}: {DEFINITIONS[score]}", style="bold"), _grid(result, score), Text("")]
    parts.append(Text(f"Heads with a clear role (layer.head score [95% interval]; at most {LISTED} a role, the "
                      "strongest):", style="bold"))
    parts += [Text(line) for line in roles_lines(result)]
    for note in result.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)
