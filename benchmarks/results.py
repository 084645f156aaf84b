"""Where a benchmark's figures go: benchmarks/results/NAME.json, written atomically, with the machine
they were measured on (kernel, cores, CPU, load average before and after) and the versions of what
ran; the script prints them too. Shared by the benchmark scripts; imports nothing of attncli's
but atomic.py.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_seconds(children: bool = False) -> float:
    """User + system CPU time of this process (or of its waited-for children) so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"kernel": platform.release(), "machine": platform.machine(), "cpu": model, "cores": os.cpu_count(),
            "python": platform.python_version(), "load_average": list(os.getloadavg())}


def versions() -> dict[str, str]:
    out = {}
    for name in ("numpy", "attncli", "threadpoolctl", "numba", "tokenizers", "torch", "transformers"):
        mod = sys.modules.get(name)
        if mod is None:
            try:
                mod = __import__(name)
            except ImportError:
                continue
        out[name] = str(getattr(mod, "__version__", "?"))
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                                for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        pass
    return out


def write(name: str, figures: dict[str, Any], machine_before: dict[str, Any] | None = None) -> Path:
    """benchmarks/results/NAME.json: the figures, the machine (load average at the start and the end)
    and the versions; atomically (attncli's atomic.py)."""
    from attncli import atomic

    after = machine()
    doc = {"benchmark": name, "argv": sys.argv[1:], "machine": machine_before or after,
           "load_average_end": after["load_average"], "versions": versions(), "figures": figures}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    atomic.write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return path
