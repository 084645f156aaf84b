"""Reading attn's terminal output back: the Rich tables' rows and cells, and escape codes."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# An SGR sequence that sets a colour: 30-37/90-97 fg, 40-47/100-107 bg, 38;.. / 48;.. extended.
COLOR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")

# A row of the Tokens table: index, repr of the token's text, id.
TOKEN_ROW = re.compile(r"^\s*(\d+)\s+(\S+|'[^']*')\s+(\d+)\b")  # index, label (no spaces but a quoted blank), id


def table_lines_after(stdout: str, title_start: str) -> list[str]:
    """The lines from the first one that starts with `title_start` (a table's title) on."""
    lines = stdout.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    return lines[i:]


def attention_rows(stdout: str) -> list[list[str]]:
    """The body cells of the attention table, one list per query row, first cell the row label."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Attention "))
    rows = []
    in_body = False
    for line in lines[start + 1:]:
        if line.startswith("┡"):
            in_body = True
            continue
        if line.startswith("└"):
            break
        if in_body and line.startswith("│"):
            rows.append([c.strip() for c in line.strip("│").split("│")])
    return rows


def visible_cells(stdout: str) -> list[list[str]]:
    """Each query row's cells up to the diagonal (marks stripped); checks the later ones show no number."""
    rows = attention_rows(stdout)
    for q, row in enumerate(rows):
        assert all(not re.search(r"\d", c) for c in row[q + 2:])
    return [[c.rstrip("* ") for c in row[1:q + 2]] for q, row in enumerate(rows)]


def token_rows(stdout: str) -> list[tuple[int, str, int]]:
    """(index, label, id) of each row of the Tokens table (the label as every table writes it: ##pieces)."""
    rows = []
    for line in table_lines_after(stdout, "Tokens")[2:]:  # title, header
        if not line.strip():
            break
        m = TOKEN_ROW.match(line)
        assert m, f"not a token row: {line!r}"
        rows.append((int(m[1]), m[2], int(m[3])))
    return rows


def vector_rows(stdout: str) -> tuple[list[str], list[list[str]]]:
    """The contextual vectors table: its dimension columns (d0, d1, ...) and its rows split on spaces,
    each up to its norm (the columns after it, turned and reads like, are left out)."""
    lines = table_lines_after(stdout, "Contextual vectors")
    header = next(line for line in lines if line.split()[:2] == ["token", "d0"]).split()
    end = next(i for i, line in enumerate(lines) if line.startswith(("Next-token", "What layer")))
    norm_at = header.index("norm") + 1  # the token cell "3 like" is two words
    rows = [line.split()[:norm_at + 1] for line in lines[:end] if re.match(r"^\s*\d+ \S", line)]
    return [h for h in header if re.fullmatch(r"d\d+", h)], rows


def card_row(stdout: str, key: str) -> str:
    """The value of the `attn info` table's row named `key`."""
    m = re.search(rf"^\s*{re.escape(key)}\s+(.+?)\s*$", stdout, re.M)
    assert m, f"no {key!r} row in:\n{stdout}"
    return m[1]
