"""Grid: the subset of rich.Table that attncli's everyday tables use, drawn without Rich's
per-cell layout machinery.

rich.Table measures and renders every cell through several generic layers (Padding,
render_lines, cropping), which made drawing `attn explain`'s four tables its largest cost
after Python's own imports. A Grid computes the same widths and writes the same lines with
the same styles, character for character (tests/unit/render/test_grid.py checks it against rich.Table);
whatever it does not cover (a table wider than the terminal, a title that would wrap, tabs,
multi-line body cells) it hands to a real rich.Table built from the same arguments.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich import box as rbox
from rich.cells import cell_len
from rich.console import JustifyMethod, OverflowMethod
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

# characters on which str.splitlines (Rich's measure) and Text.split("\n") (Rich's layout) disagree, and tabs
UNUSUAL = set("\t\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


class _Column(NamedTuple):
    header: Any
    justify: JustifyMethod
    style: str | Style | None
    header_style: str | Style | None
    no_wrap: bool
    min_width: int | None
    overflow: OverflowMethod


class Grid:
    """Same constructor arguments as rich.Table, for the ones attncli uses."""

    def __init__(self, title: Any = None, *, caption: Any = None, box: rbox.Box | None = rbox.HEAVY_HEAD,
                 show_header: bool = True, show_edge: bool = True, padding: int | tuple[int, ...] = (0, 1),
                 pad_edge: bool = True, title_justify: JustifyMethod = "center",
                 caption_justify: JustifyMethod = "center",
                 title_style: str | Style | None = None, caption_style: str | Style | None = None,
                 header_style: str | Style | None = "table.header") -> None:
        self.title, self.caption, self.box = title, caption, box
        self.show_header, self.show_edge, self.pad_edge = show_header, show_edge, pad_edge
        pad = (padding,) if isinstance(padding, int) else tuple(padding)
        self.padding = {1: lambda p: (p[0], p[0], p[0], p[0]), 2: lambda p: (p[0], p[1], p[0], p[1]),
                        4: lambda p: p}[len(pad)](pad)  # (top, right, bottom, left), as Rich's Padding reads it
        self.title_justify, self.caption_justify = title_justify, caption_justify
        self.title_style, self.caption_style, self.header_style = title_style, caption_style, header_style
        self.columns: list[_Column] = []
        self.rows: list[list[Any]] = []

    def add_column(self, header: Any = "", *, justify: JustifyMethod = "left", style: str | Style | None = None,
                   header_style: str | Style | None = None, no_wrap: bool = False, min_width: int | None = None,
                   overflow: OverflowMethod = "ellipsis") -> None:
        self.columns.append(_Column(header, justify, style, header_style, no_wrap, min_width, overflow))

    def add_row(self, *cells: Any) -> None:
        self.rows.append(list(cells) + [""] * (len(self.columns) - len(cells)))

    # ---- the same table, drawn by Rich: what a Grid falls back to ----

    def rich_table(self) -> Any:
        from rich.table import Table

        t = Table(title=self.title, caption=self.caption, box=self.box, show_header=self.show_header,
                  show_edge=self.show_edge, padding=self.padding, pad_edge=self.pad_edge,
                  title_justify=self.title_justify, caption_justify=self.caption_justify,
                  title_style=self.title_style, caption_style=self.caption_style, header_style=self.header_style)
        for c in self.columns:
            t.add_column(c.header, justify=c.justify, style=c.style, header_style=c.header_style, no_wrap=c.no_wrap,
                         min_width=c.min_width, overflow=c.overflow)
        for row in self.rows:
            t.add_row(*row)
        return t

    # ---- layout ----

    def _pads(self, i: int) -> tuple[int, int]:
        """(left, right) padding of column i."""
        _, right, _, left = self.padding
        if not self.pad_edge:
            left = 0 if i == 0 else left
            right = 0 if i == len(self.columns) - 1 else right
        return left, right

    @staticmethod
    def _text(console: Any, cell: Any) -> Text:
        """A cell as the Text Rich would draw: a copy, or a string read as the console reads strings."""
        return cell.copy() if isinstance(cell, Text) else console.render_str(str(cell), highlight=False)

    def _extra(self) -> int:
        return (2 if self.box and self.show_edge else 0) + (len(self.columns) - 1 if self.box else 0)

    def _widths(self, console: Any, max_width: int) -> list[int] | None:
        """Column widths including padding, as rich.Table computes them when everything fits; else None."""
        widths = []
        for i, c in enumerate(self.columns):
            left, right = self._pads(i)
            widest = 0
            for r, cell in enumerate(([c.header] if self.show_header else []) + [row[i] for row in self.rows]):
                plain = self._text(console, cell).plain
                if not plain.isprintable() and (UNUSUAL & set(plain) or (r or not self.show_header) and "\n" in plain):
                    return None  # tabs, other line breaks, or a body cell of several lines: Rich's own layout
                widest = max([widest] + [cell_len(line) for line in plain.split("\n")])
            w = min(widest + left + right, max_width)
            if c.min_width is not None:
                w = max(w, c.min_width + left + right)
            widths.append(w or 1)
        return None if sum(widths) > max_width else widths

    def _justified(self, console: Any, cell: Any, width: int, justify: str) -> list[Text]:
        lines = []
        for line in self._text(console, cell).split("\n", allow_blank=True):
            if justify == "left":
                line.truncate(width, overflow="ellipsis", pad=True)
            else:
                line.rstrip()
                if justify == "right":
                    line.pad_left(width - cell_len(line.plain))
                else:  # center
                    line.pad_left((width - cell_len(line.plain)) // 2)
                    line.pad_right(width - cell_len(line.plain))
            lines.append(line)
        return lines

    def _annotation(self, console: Any, text: Any, style: Any, justify: str, width: int) -> list[Segment] | None:
        t = text.copy() if isinstance(text, Text) else console.render_str(str(text), style=style, highlight=False)
        if (not t.plain.isprintable() or cell_len(t.plain) > width or justify != "left"
                or t.justify not in (None, "left")):
            return None
        t.truncate(width, overflow="fold", pad=True)
        return list(Text("\n").join([t]).render(console, end="\n"))

    def __rich_measure__(self, console: Any, options: Any) -> Measurement:
        widths = self._widths(console, options.max_width - self._extra())
        if widths is None:
            return Measurement.get(console, options, self.rich_table())
        w = sum(widths) + self._extra()
        return Measurement(w, w)

    def __rich_console__(self, console: Any, options: Any):
        widths = self._widths(console, options.max_width - self._extra())
        if widths is None:
            yield self.rich_table()
            return
        table_width = sum(widths) + self._extra()
        title = caption = None
        if self.title:
            title = self._annotation(console, self.title, Style.pick_first(self.title_style, "table.title"),
                                     self.title_justify, table_width)
        if self.caption:
            caption = self._annotation(console, self.caption, Style.pick_first(self.caption_style, "table.caption"),
                                       self.caption_justify, table_width)
        if (self.title and title is None) or (self.caption and caption is None) or any(self.padding[0::2]):
            yield self.rich_table()
            return
        if title:
            yield from title
        yield from self._body(console, options, widths)
        if caption:
            yield from caption

    def _cell_lines(self, console: Any, cell: Any, style: Style, width: int, i: int,
                    justify: str) -> list[list[Segment]]:
        left, right = self._pads(i)
        joined = Text("\n").join(self._justified(console, cell, width - left - right, justify))
        out = []
        for line in Segment.split_lines(joined.render(console)):
            segs = ([Segment(" " * left)] if left else []) + line + ([Segment(" " * right)] if right else [])
            out.append(list(Segment.apply_style(segs, style)) if style else segs)
        return out

    def _body(self, console: Any, options: Any, widths: list[int]):
        get_style = console.get_style
        box = self.box.substitute(options, safe=console.safe_box) if self.box else None
        box = box.get_plain_headed_box() if box and not self.show_header else box
        border = get_style("")
        new_line = Segment.line()
        rows: list[tuple[bool, list[Any], list[Style]]] = []
        if self.show_header:
            head = get_style(self.header_style or "")
            rows.append((True, [c.header for c in self.columns],
                         [head + get_style(c.header_style or "") for c in self.columns]))
        for row in self.rows:
            rows.append((False, row, [get_style(c.style or "") for c in self.columns]))
        if box and self.show_edge:
            yield Segment(box.get_top(widths), border)
            yield new_line
        for r, (is_header, cells, styles) in enumerate(rows):
            first, last = r == 0, r == len(rows) - 1
            rendered = [self._cell_lines(console, cell, style, w, i, c.justify)
                        for i, (cell, style, w, c) in enumerate(zip(cells, styles, widths, self.columns, strict=True))]
            height = max(len(lines) for lines in rendered)
            for lines, style, w in zip(rendered, styles, widths, strict=True):  # the header aligns to the bottom
                lines[:0] = [[Segment(" " * w, style)] for _ in range(height - len(lines))]
            if box:
                left_edge, right_edge, divider = (
                    (box.head_left, box.head_right, box.head_vertical) if first else
                    (box.foot_left, box.foot_right, box.foot_vertical) if last else
                    (box.mid_left, box.mid_right, box.mid_vertical))
                for n in range(height):
                    if self.show_edge:
                        yield Segment(left_edge, border)
                    for i, lines in enumerate(rendered):
                        yield from lines[n]
                        if i < len(rendered) - 1:
                            yield Segment(divider, border)
                    if self.show_edge:
                        yield Segment(right_edge, border)
                    yield new_line
            else:
                for n in range(height):
                    for lines in rendered:
                        yield from lines[n]
                    yield new_line
            if box and first and is_header:
                yield Segment(box.get_row(widths, "head", edge=self.show_edge), border)
                yield new_line
        if box and self.show_edge:
            yield Segment(box.get_bottom(widths), border)
            yield new_line
