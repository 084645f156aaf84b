"""How many threads a matrix product gets: OpenBLAS's for a float32 product, ours for one computed
from quantized blocks (checkpoints/gguf/products.py).

A product of a few tokens is too small to share: on this 2-core machine OpenBLAS's second thread
costs more than it gives below CUTOVER_FLOPS, and with the other core busy it makes a product up to
4x slower (benchmarks/blas_threads.py measures the rule). So a product below the cut-over runs on
one BLAS thread and a bigger one on every core. The count is set through threadpoolctl, imported the
first time a product of at least MANAGE_FLOPS happens: the bundled model's products are smaller, and
its start-up does not pay for the import.

ATTN_THREADS=N caps every product at N threads (1: never more than one). A user who set
OPENBLAS_NUM_THREADS keeps it: attncli then never changes BLAS's thread count, and uses that many
threads for its own products.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CUTOVER_FLOPS = 1 << 27  # ~134 MFLOP: below it one thread (measured: benchmarks/blas_threads.py)
MANAGE_FLOPS = 1 << 25  # ~34 MFLOP: smaller products leave BLAS as it started (the bundled model's are)

_blas: list[Any] | None = None  # threadpoolctl's controllers of the BLAS libraries loaded, once looked up
_current: int | None = None  # the thread count last set; None: as BLAS started


def env_threads(name: str) -> int | None:
    """A positive integer from the environment variable `name`, else None."""
    try:
        n = int(os.environ.get(name, ""))
    except ValueError:
        return None
    return n if n >= 1 else None


def cores() -> int:
    """Threads a product may use: ATTN_THREADS, else a user's OPENBLAS_NUM_THREADS, else every core."""
    return env_threads("ATTN_THREADS") or env_threads("OPENBLAS_NUM_THREADS") or os.cpu_count() or 1


def wanted(flops: float) -> int | None:
    """BLAS threads for a product of this many floating-point operations (None: leave BLAS alone)."""
    if "OPENBLAS_NUM_THREADS" in os.environ and env_threads("ATTN_THREADS") is None:
        return None  # the user's choice
    return 1 if flops < CUTOVER_FLOPS else cores()


def _set(n: int) -> None:
    global _blas, _current
    if _blas is None:
        from threadpoolctl import ThreadpoolController  # here, not at start: see the module docstring

        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    for lib in _blas:
        lib.set_num_threads(n)
    _current = n


def size_for(flops: float) -> None:
    """Set BLAS's threads for a float32 product of `flops` operations, when that changes anything."""
    n = wanted(flops)
    if n is None or n == _current or (_current is None and flops < MANAGE_FLOPS):
        return
    _set(n)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside (for products whose tiles run on threads of our own), as before after."""
    before = _current
    if wanted(0) is not None and _current != 1:
        _set(1)
    try:
        yield
    finally:
        if before is not None and before != _current:
            _set(before)
