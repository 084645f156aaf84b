"""Speed and memory of a pulled model (smollm2 or gemma3-270m): attncli (numpy) against transformers
(torch, eager attention) on one BLAS thread each, on the same GGUF file.

Measures:
  blas      which OpenBLAS kernel numpy's bundled library chose (openblas_get_corename), and torch's BLAS
  load      attncli's GGUF load in a fresh process (wall and CPU), and transformers' from_pretrained(gguf_file=...)
  forward   numpy / transformers at 6 and 128 tokens, timed alternately, the median of per-pair ratios:
              all   both compute the logits of every position (attncli's trace["logits"] whole)
              last  both compute the last position's only (what a prediction needs: attncli's logits
                    are computed per position when read; transformers' logits_to_keep=1)
  process   `attn explain -m MODEL "I do not like spinach"` as a whole process under /usr/bin/time:
            wall, CPU and peak memory
  memory    peak RSS of a 1,024-token forward keeping one layer (VmHWM, in a child process)

Writes benchmarks/results/model_speed_MODEL.json (with --load-only, model_speed_MODEL_load.json).
Run: python benchmarks/model_speed.py [--model smollm2|gemma3-270m] [--quick] [--load-only] [--json]; transformers and
torch are optional (without them only attncli's numbers are printed). Every speed is a ratio or a
median: the machine is shared, and the 1-minute load average is printed with the numbers.
"""

from __future__ import annotations

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy or torch load their BLAS

import argparse
import ctypes
import glob
import json
import statistics
import subprocess
import sys
import time

import numpy as np

import results as bench_results

SENTENCE = "I do not like spinach"
LONG = ("The old lighthouse keeper climbed the stairs every evening, counting the steps as his father had taught him. "
        "Ships passed in the dark, and each one carried people who never knew his name, yet trusted the light. ")
GOALS = {"smollm2": {"load": 1.0, "process": 2.0, "memory": 1e9},
         "gemma3-270m": {"load": 1.5, "process": 3.0, "memory": 1e9}}


def openblas_kernel() -> str:
    """The kernel numpy's bundled OpenBLAS chose for this CPU (DYNAMIC_ARCH picks one at load)."""
    folder = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
    for path in glob.glob(os.path.join(folder, "*openblas*")):
        lib = ctypes.CDLL(path)
        for name in ("openblas_get_corename", "scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    try:
        import threadpoolctl

        for info in threadpoolctl.threadpool_info():
            if info.get("internal_api") == "openblas":
                return str(info.get("architecture"))
    except ImportError:
        pass
    return "unknown"


def paired(ours, theirs, repeat: int) -> tuple[float, float, float]:
    """Median times of two functions run alternately, and the median of their per-pair ratios:
    both see the same load from whatever else runs on the machine."""
    for _ in range(3):  # warm up: first-touch pages, BLAS buffers, a vocabulary's float32 copy
        ours(), theirs()
    a, b = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b, strict=True))


def child(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def timed_process(argv: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS bytes) of a whole process, by /usr/bin/time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *argv], check=True, capture_output=True, text=True)
    wall, user, system, kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(kb) * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2", choices=sorted(GOALS))
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--load-only", action="store_true", help="measure the load alone (issue 21's goal)")
    args = ap.parse_args()
    before = bench_results.machine()
    reps_small, reps_long, reps_load = (5, 3, 3) if args.quick else (21, 9, 5)
    name = args.model

    from attncli import registry
    from attncli.checkpoints import load

    path = registry.resolve(name)
    results: dict[str, float | str | None] = {"model": name, "openblas_kernel": openblas_kernel()}

    # load: in a fresh process each time, so nothing is cached in memory but the OS's file cache
    code = ("import time; t=time.perf_counter(); c=time.process_time(); from attncli.checkpoints import load; "
            f"load({name!r}); print(time.perf_counter()-t, time.process_time()-c)")
    child(code)  # fills the file cache (and the tokenizer's merge cache)
    loads = [tuple(map(float, child(code).split())) for _ in range(reps_load)]
    results["load_attncli_s"] = statistics.median(w for w, _ in loads)
    results["load_attncli_cpu_s"] = statistics.median(c for _, c in loads)
    results["load_attncli_all"] = [list(x) for x in loads]
    if args.load_only:
        results["load_average_1min"] = os.getloadavg()[0]
        path = bench_results.write(f"model_speed_{name}_load", results, before)
        print(f"{name}: load {results['load_attncli_s']:.2f} s wall, {results['load_attncli_cpu_s']:.2f} s CPU "
              f"(medians "
              f"of {reps_load}; goal <= {GOALS[name]['load']} s), load average {os.getloadavg()[0]:.1f}; {path}")
        return

    model = load(name)
    ids6 = [t.id for t in model.encode(SENTENCE + ".")[0]][:6]
    long_ids = [t.id for t in model.encode(LONG * 8)[0]][:128]
    assert len(ids6) == 6 and len(long_ids) == 128

    def ours_all(ids):
        return lambda: model.forward(ids)["logits"]

    def ours_last(ids):
        return lambda: model.forward(ids).row("logits", -1)

    try:
        import torch
        import transformers
    except ImportError:
        torch = transformers = None
    if torch is not None:
        torch.set_num_threads(1)
        results["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "other"
        transformers.logging.set_verbosity_error()
        t = time.perf_counter()
        ref = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                                 dtype=torch.float32,
                                                                 attn_implementation="eager").eval()
        results["load_transformers_s"] = time.perf_counter() - t

        def hf(ids, keep=0):
            x = torch.tensor([ids])
            return lambda: ref(x, logits_to_keep=keep).logits

        with torch.no_grad():
            for n, ids, reps in (("6", ids6, reps_small), ("128", long_ids, reps_long)):
                for kind, ours, keep in (("all", ours_all, 0), ("last", ours_last, 1)):
                    a, b, r = paired(ours(ids), hf(ids, keep), reps)
                    results[f"forward{n}_{kind}_attncli_s"], results[f"forward{n}_{kind}_transformers_s"] = a, b
                    results[f"ratio{n}_{kind}"] = r
    else:
        for n, ids in (("6", ids6), ("128", long_ids)):
            for kind, ours in (("all", ours_all), ("last", ours_last)):
                f = ours(ids)
                f(), f(), f()
                ts = []
                for _ in range(reps_small):
                    t = time.perf_counter()
                    f()
                    ts.append(time.perf_counter() - t)
                results[f"forward{n}_{kind}_attncli_s"] = statistics.median(ts)

    attn = os.path.join(os.path.dirname(sys.executable), "attn")
    runs = [timed_process([attn, "explain", "-m", name, SENTENCE]) for _ in range(reps_load)]
    results["process_explain_s"] = statistics.median(r[0] for r in runs)
    results["process_explain_cpu_s"] = statistics.median(r[1] for r in runs)
    results["process_explain_peak_bytes"] = max(r[2] for r in runs)

    # VmHWM, not ru_maxrss: Linux carries a parent's peak into ru_maxrss across fork + exec
    mem = (f"import numpy as np; from attncli.checkpoints import load; m=load({name!r}); "
           "ids=np.random.default_rng(0).integers(3, m.config.vocab_size, 1024); "
           "m.forward(ids, layers=[m.config.n_layer // 2]).row('logits', -1); "
           "print([int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    results["peak_rss_1024_bytes"] = float(child(mem))
    results["load_average_1min"] = os.getloadavg()[0]  # other work on the machine inflates every time above
    bench_results.write(f"model_speed_{name}", results, before)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    goal = GOALS[name]
    ms = lambda key: (results.get(key) or 0) * 1e3 or None  # noqa: E731
    rows = [
        ("load (attncli, GGUF)", results["load_attncli_s"], "s", f"<= {goal['load']} s"),
        ("  its CPU time", results["load_attncli_cpu_s"], "s", ""),
        ("load (transformers, same GGUF)", results.get("load_transformers_s"), "s", ""),
    ]
    for n in ("6", "128"):
        for kind, what in (("all", "every position's logits"), ("last", "the last position's logits")):
            rows += [(f"forward, {n} tokens, {what}", None, "", ""),
                     ("  attncli", ms(f"forward{n}_{kind}_attncli_s"), "ms", ""),
                     ("  transformers eager", ms(f"forward{n}_{kind}_transformers_s"), "ms", ""),
                     ("  ratio attncli / transformers (median pair)", results.get(f"ratio{n}_{kind}"), "", "<= 1.0")]
    rows += [
        (f'attn explain -m {name} "{SENTENCE}"', results["process_explain_s"], "s", f"<= {goal['process']} s"),
        ("  its CPU time, user + system", results["process_explain_cpu_s"], "s", ""),
        ("  its peak memory", results["process_explain_peak_bytes"] / 2**20, "MiB",
         f"<= {goal['memory'] / 1e9:.0f} GB"),
        ("peak RSS, 1,024 tokens, one layer kept", results["peak_rss_1024_bytes"] / 2**20, "MiB", ""),
    ]
    print(f"{name}, one BLAS thread, numpy {np.__version__} (OpenBLAS kernel {results['openblas_kernel']})"
          + (f", torch {torch.__version__} ({results['torch_blas']}), transformers {transformers.__version__}"
             if torch is not None else ""))
    for label, value, unit, target in rows:
        if value is None:
            shown = "" if not unit else "-"
        else:
            shown = f"{value:.3f}" if unit in ("", "s") else f"{value:.1f}"
        print(f"  {label:<48} {shown:>9} {unit:<4} {target}")
    print(f"  (1-minute load average at the end of the run: {results['load_average_1min']:.1f} "
          f"on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
