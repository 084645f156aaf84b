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
