"""x [T, in] @ W from quantized blocks (checkpoints/gguf/products.py) against the way before it:
dequantize the whole matrix to float32 (quants.py), transpose it to [in, out], multiply. CPU time per
weight on one thread, the best of repeats, for Qwen2.5-0.5B's matrices (a 4,864 x 896 Q5_0 / Q8_0
ffn_up, an 896 x 4,864 Q4_K / Q6_K ffn_down) and 1 to 64 tokens; numpy's kernels, and numba's (the
`fast` extra) at every row count, to show where COMPILED_ROWS cuts over. The ratio products / before
is the figure (under 1: faster); the factored kind (FACTORED_ROWS) against the tiles of float32
values shows where that cut-over sits.
Writes benchmarks/results/quantized_matmul.json.

Run: python benchmarks/quantized_matmul.py [--repeats 5]
"""

from __future__ import annotations

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one BLAS thread, one of ours (threads.cores() reads it): CPU time per weight

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

import results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from attncli.checkpoints.gguf import products
from attncli.checkpoints.gguf.quants import QUANT_TYPES, dequantize
from helpers import synthetic_gguf

CASES = [("Q5_0", 4864, 896), ("Q8_0", 4864, 896), ("Q4_K", 896, 4864), ("Q6_K", 896, 4864)]
ROWS = (1, 2, 6, 16, 24, 32, 64)


def dequantize_then_multiply(x: np.ndarray, rows: np.ndarray, type_id: int, n_out: int, n_in: int) -> np.ndarray:
    """The way before products.py: the whole matrix dequantized to float32, transposed to [in, out], multiplied."""
    return x @ np.ascontiguousarray(dequantize(rows.reshape(-1), type_id, (n_out, n_in)).T)


def best(f, repeats: int) -> float:
    f()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        f()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    before = results.machine()
    rng = np.random.default_rng(0)
    by_name = {qt.name: qt for qt in QUANT_TYPES.values()}
    has_numba = products.compiled_kernels() is not None
    figures = []
    print(f"ns of CPU per weight, one thread (numba {'available' if has_numba else 'not installed'})")
    print(f"{'type':<5} {'out x in':>11} {'T':>3} {'before':>7} {'numpy':>7} {'factored':>9} {'tiles':>6} "
          f"{'numba':>6} {'numpy / before':>15}")
    for name, n_out, n_in in CASES:
        qt = by_name[name]
        rows = np.frombuffer(synthetic_gguf.random_blocks(name, n_out * n_in // qt.block_size, rng, 0.01),
                             dtype=np.uint8).reshape(n_out, -1)
        n = n_out * n_in
        for T in ROWS:
            x = rng.standard_normal((T, n_in), dtype=np.float32)
            product = partial(products.matmul, x, rows, qt.type_id, n_in)  # bound now: each T its own x
            old = best(partial(dequantize_then_multiply, x, rows, qt.type_id, n_out, n_in), args.repeats)
            os.environ["ATTN_KERNELS"] = "numpy"
            products._fast_module = None
            now = best(product, args.repeats)
            kinds = {}
            for kind, rows_limit in (("factored", 1 << 30), ("tiles", 0)):
                saved, products.FACTORED_ROWS = products.FACTORED_ROWS, rows_limit
                kinds[kind] = best(product, args.repeats)
                products.FACTORED_ROWS = saved
            os.environ.pop("ATTN_KERNELS")
            products._fast_module = None
            saved, products.COMPILED_ROWS = products.COMPILED_ROWS, 1 << 30  # numba's at every T, for the cut-over
            compiled = best(product, args.repeats) if has_numba else None
            products.COMPILED_ROWS = saved
            row = {"type": name, "out": n_out, "in": n_in, "T": T,
                   "before_ns": 1e9 * old / n, "numpy_ns": 1e9 * now / n,
                   "factored_ns": 1e9 * kinds["factored"] / n, "tiles_ns": 1e9 * kinds["tiles"] / n,
                   "numba_ns": None if compiled is None else 1e9 * compiled / n, "numpy_over_before": now / old}
            figures.append(row)
            print(f"{name:<5} {n_out:>5}x{n_in:<5} {T:>3} {row['before_ns']:>7.2f} {row['numpy_ns']:>7.2f} "
                  f"{row['factored_ns']:>9.2f} {row['tiles_ns']:>6.2f} "
                  f"{'-' if compiled is None else format(row['numba_ns'], '.2f'):>6} {row['numpy_over_before']:>15.2f}")
    print(f"(1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"written to {results.write('quantized_matmul', {'products': figures}, before)}")


if __name__ == "__main__":
    main()
