"""How many threads a matrix product gets: OpenBLAS's for a float32 product, ours for the tiles of one
computed from quantized blocks (checkpoints/gguf/products.py).

A second thread only pays when the product is big and a core is free for it. Measured on this
2-core machine (benchmarks/blas_threads.py): with the other core busy, two OpenBLAS threads made
every product from 0.3 to 6,400 MFLOP slower, up to 400x for small ones (the second thread waits
for the scheduler), and the issue's 6 x 896 by 896 x 4,864 product ran at 20 GFLOP/s on one thread
and 5 on two. So: a product below CUTOVER_FLOPS runs on one thread; a bigger one on as many cores as
the 1-minute load average leaves free besides this process (at least one).

The count is set through threadpoolctl, imported the first time a product of at least
MANAGE_FLOPS happens: the bundled model's products are smaller, and its start-up does not pay for
the import. ATTN_THREADS=N sets the threads a big product gets (1: never more than one), whatever
the load. A user who set OPENBLAS_NUM_THREADS keeps it: attncli then never changes BLAS's thread
count, and uses that many threads for its own products.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CUTOVER_FLOPS = 1 << 26  # ~67 MFLOP, ~3 ms on one core here: below it one thread (benchmarks/blas_threads.py)
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
    """Threads a big product may use: ATTN_THREADS, else a user's OPENBLAS_NUM_THREADS, else the cores
    the load average leaves free besides this process (at least one)."""
    fixed = env_threads("ATTN_THREADS") or env_threads("OPENBLAS_NUM_THREADS")
    if fixed:
        return fixed
    n = os.cpu_count() or 1
    try:
        others = max(0.0, os.getloadavg()[0] - 1.0)  # the runnable threads besides ours
    except OSError:
        others = 0.0
    return max(1, min(n, int(n - others + 0.5)))


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
    if _current is None and flops < MANAGE_FLOPS:
        return
    n = wanted(flops)
    if n is not None and n != _current:
        _set(n)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside (for products whose tiles run on threads of our own)."""
    if wanted(0) is not None and _current != 1:
        _set(1)
    yield
