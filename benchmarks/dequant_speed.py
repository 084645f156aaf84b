"""Dequantization speed of attncli's ggml kernels against gguf-py's, on the same random blocks.

For every type attncli computes itself: millions of values per second of ours
(`checkpoints.gguf.quants.dequantize`, a new array each time, and again filling one reused array with out=)
and of gguf-py (`gguf.quants.dequantize`, given the bytes as rows of --row values, the shape a
GGUF reader hands it), the median of --runs interleaved runs, and the ratio ours/gguf-py; then
the same by CPU time of this process, which a busy machine disturbs less.
Scales are random float16 of weight-like size, so no NaN, inf or subnormal slows either side.
The machine's load average is printed first: on a shared machine every number moves with it.
Usage: python benchmarks/dequant_speed.py [--values N] [--runs N] [--row N] [--types Q4_K,Q6_K]
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy: the machine is shared

import argparse
import statistics
import time
import warnings
from functools import partial

import numpy as np

from attncli.checkpoints.gguf import quants as gq


def random_blocks(qt: gq.QuantType, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [n_blocks, type_size]: random bits, float16 scales of 1e-4..1e-1, MXFP4 exponents near 2**0."""
    blocks = rng.integers(0, 256, (n_blocks, qt.type_size), dtype=np.uint8)  # [n, type_size]
    for at in qt.fp16_at:
        d = rng.uniform(1e-4, 1e-1, n_blocks) * rng.choice([-1, 1], n_blocks)  # [n]
        blocks[:, at:at + 2] = d.astype("<f2").view(np.uint8).reshape(n_blocks, 2)
    if qt.name == "MXFP4":
        blocks[:, 0] = rng.integers(110, 130, n_blocks)
    return blocks


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): on a shared machine the second leaves out waiting for a core."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=1 << 24, help="values per run (16M)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--row", type=int, default=2048, help="values per row as gguf-py is given them")
    ap.add_argument("--types", default="", help="comma-separated names; default: every type with its own kernel")
    args = ap.parse_args()

    from gguf.constants import GGMLQuantizationType
    from gguf.quants import dequantize as gguf_dequantize

    warnings.simplefilter("ignore")  # gguf-py's float16 views warn about nothing we measure
    wanted = set(filter(None, args.types.split(",")))
    types = [qt for qt in gq.QUANT_TYPES.values() if not qt.via_gguf and (not wanted or qt.name in wanted)]
    rng = np.random.default_rng(0)
    print(f"{args.values / 1e6:.1f}M values, median of {args.runs} interleaved runs, gguf-py given rows of {args.row}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("M values/s by the wall clock (ours into a new array, ours into a reused one, gguf-py) and by CPU time")
    print(f"{'type':<7} {'ours':>6} {'out=':>6} {'gguf-py':>8} {'ratio':>6} | {'ours':>6} {'gguf-py':>8} {'ratio':>6}  "
          "bit-identical")
    for qt in types:
        n_blocks = args.values // args.row * args.row // qt.block_size  # whole rows
        blocks = random_blocks(qt, n_blocks, rng)  # [n, type_size]
        raw = blocks.reshape(-1)  # [n * type_size]
        rows = raw.reshape(-1, gq.row_bytes(qt.type_id, args.row))  # [n_rows, row bytes]
        shape = (n_blocks * qt.block_size // args.row, args.row)
        reused = np.empty(shape, dtype=np.float32)  # shape
        qtype = GGMLQuantizationType(qt.type_id)
        ours_t, reused_t, theirs_t = [], [], []
        for _ in range(args.runs):
            ours_t.append(timed(partial(gq.dequantize, raw, qt.type_id, shape)))
            reused_t.append(timed(partial(gq.dequantize, raw, qt.type_id, shape, out=reused)))
            theirs_t.append(timed(partial(gguf_dequantize, rows, qtype)))
        theirs_values = np.asarray(gguf_dequantize(rows, qtype), dtype=np.float32).reshape(shape)  # shape
        same = np.array_equal(gq.dequantize(raw, qt.type_id, shape).view(np.uint32), theirs_values.view(np.uint32))
        n = n_blocks * qt.block_size

        def rate(times: list[tuple[float, float]], clock: int, n: int = n) -> float:
            return n / statistics.median(t[clock] for t in times) / 1e6

        ours, ours_reused, theirs = rate(ours_t, 0), rate(reused_t, 0), rate(theirs_t, 0)
        ours_cpu, theirs_cpu = rate(ours_t, 1), rate(theirs_t, 1)
        note = "  (gguf-py returns a view of the bytes)" if qt.name == "F32" else ""
        print(f"{qt.name:<7} {ours:>6.0f} {ours_reused:>6.0f} {theirs:>8.0f} {ours / theirs:>5.1f}x | "
              f"{ours_cpu:>6.0f} {theirs_cpu:>8.0f} {ours_cpu / theirs_cpu:>5.1f}x  {'yes' if same else 'NO'}{note}")


if __name__ == "__main__":
    main()
