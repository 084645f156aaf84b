"""Sizes in bytes, shown in one unit system: binary (KiB, MiB, GiB, TiB are powers of 1024), the
one `--max-memory` reads (its K, M, G and T), `free` and docker count in."""

from __future__ import annotations

BINARY = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def binary_size(n: int) -> str:
    """Bytes as people read them: 500 * 2**20 -> '500.0 MiB', 253_113_024 -> '241.4 MiB', 900 -> '900 bytes'."""
    for prefix in ("T", "G", "M", "K"):
        if n >= BINARY[prefix]:
            return f"{n / BINARY[prefix]:,.1f} {prefix}iB"
    return f"{n:,} bytes"


def parse_size(value: str | None, option: str = "--max-memory") -> int | None:
    """'2G', '512M', '1.5GiB', '300000000' -> bytes (K, M, G, T are powers of 1024: BINARY)."""
    if value is None:
        return None
    import re

    from .errors import UsageError

    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", value)
    if m is None or float(m.group(1)) <= 0:
        raise UsageError(f"{option} {value!r} is not a size; give bytes or a number with K, M, G or T, e.g. 2G")
    return int(float(m.group(1)) * BINARY.get(m.group(2).upper(), 1))
