"""Time `attn explain "I do not like spinach"` as a whole process against the stack's own
floor: `python -c "import numpy, rich.console, rich.table, typer, tokenizers, safetensors"`
(what drawing a table from this weights format needs), in the same run on the same machine.

Reports medians of interleaved runs and their ratio to that floor (the number docs/performance.md gives),
in wall time and in CPU time (user + system of the whole process). On a quiet machine the two agree (one
thread does the work); on a busy one the wall time also measures the other processes, so the CPU ratio is
the one that says what attn costs. Writes benchmarks/results/startup.json.
Usage: python benchmarks/startup.py [--runs N] [--baseline-attn PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

import results


def time_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of `cmd`."""
    c0, t0 = results.cpu_seconds(children=True), time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0, results.cpu_seconds(children=True) - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--text", default="I do not like spinach")
    ap.add_argument("--baseline-attn", help="another attn (e.g. the code before, in its own venv): run interleaved too")
    args = ap.parse_args()
    before = os.getloadavg()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    attn = shutil.which("attn") or sys.exit("attn is not on PATH; pip install . first")
    # pip compiles an installed package's bytecode; an editable install (or PYTHONDONTWRITEBYTECODE)
    # would otherwise compile attncli's sources on every start, which no user pays.
    import attncli

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(attncli.__file__)], check=True)
    cases = {
        # The baseline: Rich's console and table, Typer, and the two libraries the weights format needs.
        "floor: import numpy, rich.console, rich.table, typer, tokenizers, safetensors": [
            sys.executable, "-c", "import numpy, rich.console, rich.table, typer, tokenizers, safetensors"],
        "context: python -c 'import numpy, rich, typer'": [sys.executable, "-c", "import numpy, rich, typer"],
        f"attn explain {args.text!r}": [attn, "explain", args.text],
        f"attn explain {args.text!r} --json": [attn, "explain", args.text, "--json"],
        f"attn predict {args.text!r}": [attn, "predict", args.text],
    }
    if args.baseline_attn:
        cases[f"baseline: attn explain {args.text!r}"] = [args.baseline_attn, "explain", args.text]
    times: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    for cmd in cases.values():  # warm the file cache once
        time_once(cmd, env)
    for _ in range(args.runs):  # interleave so drifts in machine load hit every case alike
        for name, cmd in cases.items():
            wall, cpu = time_once(cmd, env)
            times[name].append(wall)
            cpus[name].append(cpu)
    base = statistics.median(next(iter(times.values())))
    base_cpu = statistics.median(next(iter(cpus.values())))
    print(f"{'command':<72} {'wall s':>7} {'÷ floor':>8} {'CPU s':>7} {'÷ floor':>8}")
    for name, ts in times.items():
        m, c = statistics.median(ts), statistics.median(cpus[name])
        print(f"{name:<72} {m:7.3f} {m / base:8.2f} {c:7.3f} {c / base_cpu:8.2f}")
    figures = {name: {"median_s": statistics.median(ts), "over_floor": statistics.median(ts) / base, "all_s": ts,
                      "median_cpu_s": statistics.median(cpus[name]),
                      "cpu_over_floor": statistics.median(cpus[name]) / base_cpu, "all_cpu_s": cpus[name]}
               for name, ts in times.items()}
    after = os.getloadavg()
    print(f"(1-minute load average {before[0]:.1f} before, {after[0]:.1f} after, on {os.cpu_count()} cores)")
    print(f"written to {results.write('startup', figures, {**results.machine(), 'load_average': list(before)})}")


if __name__ == "__main__":
    main()
