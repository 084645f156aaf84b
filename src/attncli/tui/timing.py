"""When `attn view` painted its first frame, counted from the start of its process (the
benchmark in benchmarks/view_first_paint.py reads it). No Textual here: the command records
its phases before Textual is imported."""

from __future__ import annotations

import os
import time


def since_start() -> float:
    """Seconds since this process started: from ATTN_VIEW_T0 (time.time() when a benchmark
    launched it) if set, else from the kernel's start time of the process (10 ms ticks)."""
    t0 = os.environ.get("ATTN_VIEW_T0")
    if t0:
        return time.time() - float(t0)
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")  # not Linux: the benchmark's ATTN_VIEW_T0 is the way


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far."""
    t = os.times()
    return t.user + t.system
