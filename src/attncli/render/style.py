"""What every Rich renderer shares: the color ramp, the cell style, bars, and the marks for
masked cells and head names. Public, so that renderers import it from here, not from each other."""

from __future__ import annotations

MASKED = "·"  # a masked (hidden) attention cell
# A dark-to-bright ramp (close to viridis) so that more attention reads as more light.
RAMP = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]


def ramp_color(x: float) -> str:
    """x in [0, 1] -> an rgb color on the ramp."""
    x = min(max(float(x), 0.0), 1.0) * (len(RAMP) - 1)
    i = min(int(x), len(RAMP) - 2)
    f = x - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(RAMP[i], RAMP[i + 1], strict=True))
    return f"rgb({r},{g},{b})"


def cell_style(x: float) -> str:
    """A heatmap cell's style for a level x in [0, 1]: ramp background, readable foreground."""
    bg = ramp_color(x)
    fg = "black" if x > 0.55 else "white"
    return f"{fg} on {bg}"


def bar(p: float, width: int = 30) -> str:
    """A horizontal bar of p * width cells, in eighths."""
    eighths = round(max(p, 0.0) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")


def head_name(head: int | str) -> str:
    return "mean of heads" if head == "mean" else f"head {head}"


SHADES = " ░▒▓█"  # what a heatmap cell shows without color, from little weight to much


def color_on(console) -> bool:
    """Whether this console shows color (not off a terminal, not under NO_COLOR or --color never)."""
    return console.color_system is not None and not console.no_color


def shade(x: float) -> str:
    """One of SHADES for a level x in [0, 1]: five equal steps."""
    return SHADES[min(int(max(float(x), 0.0) * len(SHADES)), len(SHADES) - 1)]


class Heat:
    """Cells of a heatmap that read with or without color: a colored block on a color terminal,
    a shade character (SHADES) everywhere else, so the pattern never rests on color alone.

    `levels` holds one row of values in [0, 1], None for a masked cell: blank in color, and
    MASKED without (where blank is the lowest shade).
    """

    def __init__(self, levels: list[float | None], cell: str = "██") -> None:
        self.levels, self.cell = levels, cell

    def text(self, color: bool):
        from rich.text import Text

        out = Text()
        for x in self.levels:
            if x is None:
                out.append((" " if color else MASKED) * len(self.cell), style="dim")
            elif color:
                out.append(self.cell, style=ramp_color(x))
            else:
                out.append(shade(x) * len(self.cell))
        return out

    def __rich_console__(self, console, options):
        yield self.text(color_on(console))

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        w = len(self.cell) * len(self.levels)
        return Measurement(w, w)


class RampLegend:
    """The key to the heatmap colors, with percentages; without color, the key to the shades
    that Heat draws instead, or (`shades=False`, for tables whose cells print their numbers) nothing."""

    def __init__(self, prefix: str = "", shades: bool = True, masked: bool = True) -> None:
        self.prefix, self.shades, self.masked = prefix, shades, masked  # masked: the view has masked cells to key

    def __rich_console__(self, console, options):
        from rich.text import Text

        out = Text(self.prefix)
        if not color_on(console) and not self.shades:
            return
        if color_on(console):
            for x in (0.0, 0.25, 0.5, 0.75, 1.0):
                out.append("██", style=ramp_color(x))
                out.append(f" {100 * x:.0f}%  ")
        else:
            steps = len(SHADES)
            for i, ch in enumerate(SHADES):
                lo, hi = 100 * i // steps, 100 * (i + 1) // steps
                out.append(f"[{ch * 2}] {lo}-{hi}%  ")
            if self.masked:
                out.append(f"[{MASKED * 2}] masked")
        yield out
