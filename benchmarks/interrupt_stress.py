"""Ctrl-C in attn train under CPU load: run tests/unit/train/test_train_interrupt.py many times while busy
loops keep every core occupied, and count the runs that fail (the answer must be 0).

    python benchmarks/interrupt_stress.py [--runs 50] [--burners N]   # N: the number of cores

Each run is a fresh `python -m pytest` of that file; a run that fails keeps its output in
the report. Exit status: 0 when no run failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT / "tests" / "unit" / "train" / "test_train_interrupt.py"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--burners", type=int, default=os.cpu_count() or 2,
                    help="busy loops beside the tests (default: one per core)")
    a = ap.parse_args()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.burners)]
    failed = []
    t0 = time.monotonic()
    try:
        for i in range(1, a.runs + 1):
            start = time.monotonic()
            run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEST)],
                                 cwd=ROOT, capture_output=True, text=True)
            summary = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
            print(f"run {i:3d}: {'ok    ' if run.returncode == 0 else 'FAILED'} {time.monotonic() - start:6.1f} s  "
                  f"{summary}", flush=True)
            if run.returncode != 0:
                failed.append((i, run.stdout + run.stderr))
    finally:
        for b in burners:
            b.kill()
            b.wait()
    for i, output in failed:
        print(f"\n---- run {i} ----\n{output}")
    print(f"\n{len(failed)} of {a.runs} runs of {TEST.relative_to(ROOT)} failed, with {a.burners} busy loops "
          f"on {os.cpu_count()} cores ({time.monotonic() - t0:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
