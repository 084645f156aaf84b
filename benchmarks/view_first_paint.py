"""Time `attn view "I do not like spinach"`'s first paint on the bundled model, counted from the
start of its process, against `attn explain` of the same text as a whole process, in the same run.

attn view runs on a pseudo-terminal of 80 x 24 (as in a terminal window); the app writes its
timings (seconds since ATTN_VIEW_T0, the time.time() just before the launch) to the file named
by ATTN_VIEW_TIMINGS when its first frame is on the screen (Textual's Ready), then gets `q`.
Runs are interleaved so drifts in machine load hit both alike; OPENBLAS_NUM_THREADS=1.

Writes benchmarks/results/view_first_paint.json.
Usage: python benchmarks/view_first_paint.py [--runs N]
(from a checkout without installing: PYTHONPATH=src python benchmarks/view_first_paint.py)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

TEXT = "I do not like spinach"
ATTN = [sys.executable, "-m", "attncli"]  # the `attn` entry point's code, from whatever attncli is importable


def _drain(fd: int, until: float, done) -> None:
    """Read the terminal's output (a full pty would block the app) until done() or the deadline."""
    while time.monotonic() < until and not done():
        ready, _, _ = select.select([fd], [], [], 0.01)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def view_once(env: dict[str, str], text: str) -> dict[str, float]:
    """One `attn view TEXT` on a fresh 80 x 24 pty: its timings (first paint, ...) and its whole time."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "timings.json"
        run_env = dict(env, TERM="xterm-256color", ATTN_VIEW_TIMINGS=str(out), ATTN_VIEW_T0=repr(time.time()))
        t0 = time.perf_counter()
        proc = subprocess.Popen([*ATTN, "view", text], stdin=slave, stdout=slave, stderr=slave, env=run_env,
                                start_new_session=True)
        os.close(slave)
        try:
            _drain(master, time.monotonic() + 60, lambda: out.exists() and out.stat().st_size > 0)
            if not out.exists():
                raise SystemExit("attn view painted nothing within 60 s")
            time.sleep(0.05)  # the file is written in one go; let it be closed
            timings = json.loads(out.read_text())
            os.write(master, b"q")
            _drain(master, time.monotonic() + 30, lambda: proc.poll() is not None)
            proc.wait(timeout=30)
            timings["whole"] = time.perf_counter() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
    if proc.returncode != 0:
        raise SystemExit(f"attn view exited with {proc.returncode}")
    return timings


def explain_once(env: dict[str, str], text: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([*ATTN, "explain", text], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--text", default=TEXT)
    args = ap.parse_args()
    import results

    before = results.machine()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    # pip compiles an installed package's bytecode; from a checkout, compile it once so no run pays for it
    import textual

    import attncli

    for pkg in (attncli, textual):
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(pkg.__file__)], check=True)
    view_once(env, args.text)  # warm the file cache once
    explain_once(env, args.text)
    views: list[dict[str, float]] = []
    explains: list[float] = []
    for _ in range(args.runs):
        views.append(view_once(env, args.text))
        explains.append(explain_once(env, args.text))

    def med(key: str) -> float:
        return statistics.median(v[key] for v in views)

    explain = statistics.median(explains)
    paint = med("first paint")
    print(f"attncli from {os.path.dirname(attncli.__file__)}, textual {textual.__version__}, {args.runs} runs, "
          f"OPENBLAS_NUM_THREADS=1, 80 x 24 pty")
    print(f"{'attn view ' + repr(args.text) + ': seconds from the process start':<64} {'median':>7}")
    for key, what in (("command", "options parsed (Python, Typer, attncli imported)"),
                      ("trace", "model loaded, trace and statistics computed"),
                      ("textual imported", "Textual imported"), ("mounted", "the app mounted"),
                      ("first paint", "FIRST PAINT (the first frame on the screen)")):
        print(f"  {what:<62} {med(key):7.3f}")
    print(f"  {'CPU seconds used by the first paint':<62} {med('cpu'):7.3f}")
    print(f"attn explain {args.text!r}, the whole process{'':<21} {explain:7.3f}")
    print(f"first paint ÷ explain's whole process: {paint / explain:.2f}   "
          f"(first paint: min {min(v['first paint'] for v in views):.3f}, "
          f"max {max(v['first paint'] for v in views):.3f})")
    print(f"first paint within 0.5 s: {'yes' if paint <= 0.5 else 'NO'}")

    figures = {"runs": args.runs, "textual": textual.__version__, "first_paint_s": paint, "explain_s": explain,
               "first_paint_over_explain": paint / explain, "goal_over_explain": 1.3,
               "phases_s": {key: med(key) for key in ("command", "trace", "textual imported", "mounted", "first paint",
                                                       "cpu")},
               "all_first_paint_s": [v["first paint"] for v in views], "all_explain_s": explains}
    print(f"written to {results.write('view_first_paint', figures, before)}")


if __name__ == "__main__":
    main()
