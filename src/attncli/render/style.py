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
    r, g, b = (round(a + (c - a) * f) for a, c in zip(RAMP[i], RAMP[i + 1]))
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
