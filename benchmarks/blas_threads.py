"""One BLAS thread or two for a float32 product x [T, k] @ W [k, n]: where the second thread starts
to pay, with the other core left alone and with it busy (a spinning process beside the benchmark).
This is what threads.py's CUTOVER_FLOPS rests on.

Each product is timed on 1 and 2 threads alternately (threadpoolctl), the median of repeats, as wall
time (what threads are for); the ratio two/one is the figure: under 1, the second thread helps.
Prints a table and writes benchmarks/results/blas_threads.json.

Run: python benchmarks/blas_threads.py [--seconds 0.2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

import results

# (T, k, n): the bundled model's MLP and unembedding, Qwen2.5-0.5B's, a 3B model's; 1 to 128 tokens
SHAPES = [(T, k, n) for T in (1, 6, 32, 128) for k, n in ((192, 768), (192, 4096), (896, 896), (896, 4864),
                                                           (4864, 896), (3072, 8192))]


def per_call(f, seconds: float) -> float:
    """The median time of one call of f, over repeats filling about `seconds`."""
    f()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(seconds: float) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for T, k, n in SHAPES:
        x = rng.standard_normal((T, k), dtype=np.float32)
        w = rng.standard_normal((k, n), dtype=np.float32)
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(3):  # alternate, so a change in the machine's load hits both alike
            for threads in (1, 2):
                with threadpool_limits(threads, user_api="blas"):
                    times[threads].append(per_call(partial(np.matmul, x, w), seconds / 3))
        one, two = statistics.median(times[1]), statistics.median(times[2])
        rows.append({"T": T, "k": k, "n": n, "flops": 2 * T * k * n, "one_thread_s": one, "two_threads_s": two,
                     "two_over_one": two / one})
    return rows


def cut_over(rows: list[dict]) -> float | None:
    """The smallest flops from which every bigger product is faster on two threads."""
    rows = sorted(rows, key=lambda r: r["flops"])
    for i, r in enumerate(rows):
        if all(s["two_over_one"] < 1 for s in rows[i:]):
            return r["flops"]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.2, help="time spent on each product and thread count")
    args = ap.parse_args()
    before = results.machine()
    figures = {}
    for condition in ("other core left alone", "other core busy"):
        spinner = None
        if condition.endswith("busy"):
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            rows = measure(args.seconds)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
        figures[condition] = {"products": rows, "cut_over_flops": cut_over(rows), "load_average": os.getloadavg()[0]}
        print(f"\n{condition} (1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        print(f"{'T':>4} {'k':>5} {'n':>5} {'MFLOP':>9} {'1 thread ms':>12} {'2 threads ms':>13} {'2 / 1':>6}")
        for r in sorted(rows, key=lambda r: r["flops"]):
            print(f"{r['T']:>4} {r['k']:>5} {r['n']:>5} {r['flops'] / 1e6:>9.1f} {1e3 * r['one_thread_s']:>12.3f} "
                  f"{1e3 * r['two_threads_s']:>13.3f} {r['two_over_one']:>6.2f}")
        c = figures[condition]["cut_over_flops"]
        print(f"two threads win from {c / 1e6:.0f} MFLOP on" if c else "two threads never win throughout")
    path = results.write("blas_threads", figures, before)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
