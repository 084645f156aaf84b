"""SmolLM2-135M speed and memory: attncli (numpy) against transformers (torch, eager) on one BLAS thread.

Measures, on the pulled GGUF (attn models pull smollm2):
  load      attncli's GGUF load, and transformers' from_pretrained(gguf_file=...) for comparison
  forward   numpy forward / transformers eager forward, 6- and 128-token inputs (goal <= 1.0),
            timed alternately and reported as the median of per-pair ratios
  process   `attn explain -m smollm2 "I do not like spinach"` as a whole process (goal <= 2 s)
  memory    peak RSS of a 1,024-token forward keeping one layer (goal < 1 GB)

Run: python benchmarks/smollm2_speed.py [--quick] [--json]; transformers and torch are optional
(without them only attncli's numbers are printed). Timings are medians of repeated runs.
"""

from __future__ import annotations

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy or torch load their BLAS

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

SENTENCE = "I do not like spinach"
LONG = ("The old lighthouse keeper climbed the stairs every evening, counting the steps as his father had taught him. "
        "Ships passed in the dark, and each one carried people who never knew his name, yet trusted the light. ")


def median_time(fn, repeat: int) -> float:
    fn()  # warm up: first-touch pages, BLAS buffers
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def paired(ours, theirs, repeat: int) -> tuple[float, float, float]:
    """Median times of two functions run alternately, and the median of their per-pair ratios:
    both see the same load from whatever else runs on the machine."""
    ours(), theirs()
    a, b = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b))


def child(code: str) -> str:
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    reps_small, reps_long, reps_load = (5, 3, 2) if args.quick else (21, 9, 5)

    from attncli import registry
    from attncli.checkpoints import load

    path = registry.resolve("smollm2")
    results: dict[str, float | None] = {}

    # load: in a fresh process each time, so nothing is cached in memory but the OS's file cache
    code = ("import time; t=time.perf_counter(); from attncli.checkpoints import load; load('smollm2'); "
            "print(time.perf_counter()-t)")
    child(code)
    results["load_attncli_s"] = statistics.median(float(child(code)) for _ in range(reps_load))

    model = load("smollm2")
    ids6 = [t.id for t in model.tokenizer.encode(SENTENCE + ".")]
    long_ids = [t.id for t in model.tokenizer.encode(LONG * 8)][:128]
    assert len(ids6) == 6 and len(long_ids) == 128

    try:
        import torch
        import transformers
    except ImportError:
        torch = transformers = None
        results["forward6_attncli_s"] = median_time(lambda: model.forward(ids6), reps_small)
        results["forward128_attncli_s"] = median_time(lambda: model.forward(long_ids), reps_long)
    if torch is not None:
        torch.set_num_threads(1)
        transformers.logging.set_verbosity_error()
        t = time.perf_counter()
        ref = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                                 attn_implementation="eager").eval()
        results["load_transformers_s"] = time.perf_counter() - t

        def hf(ids, attentions=False):
            x = torch.tensor([ids])
            return lambda: ref(x, output_attentions=attentions)

        with torch.no_grad():
            for n, ids, reps in (("6", ids6, reps_small), ("128", long_ids, reps_long)):
                ours_s, theirs_s, ratios = paired(lambda: model.forward(ids), hf(ids), reps)
                results[f"forward{n}_attncli_s"], results[f"forward{n}_transformers_s"], results[f"ratio{n}"] = ours_s, theirs_s, ratios
                _, theirs_s, ratios = paired(lambda: model.forward(ids), hf(ids, True), reps)
                results[f"forward{n}_transformers_attn_s"], results[f"ratio{n}_vs_attn"] = theirs_s, ratios

    attn = os.path.join(os.path.dirname(sys.executable), "attn")

    def explain() -> None:
        subprocess.run([attn, "explain", "-m", "smollm2", SENTENCE], check=True, capture_output=True)
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    results["process_explain_s"] = median_time(explain, reps_load)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    results["process_explain_cpu_s"] = cpu / (reps_load + 1)  # user + system, all threads: immune to waiting for a core

    # VmHWM, not ru_maxrss: Linux carries a parent's peak into ru_maxrss across fork + exec
    mem = ("import numpy as np; from attncli.checkpoints import load; m=load('smollm2'); "
           "ids=np.random.default_rng(0).integers(3, 49152, 1024); m.forward(ids, layers=[15]); "
           "print([int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    results["peak_rss_1024_bytes"] = float(child(mem))
    results["load_average_1min"] = os.getloadavg()[0]  # other work on the machine inflates every time above

    if args.json:
        print(json.dumps(results, indent=2))
        return
    rows = [
        ("load (attncli, GGUF -> float32)", results["load_attncli_s"], "s", "<= 1 s"),
        ("load (transformers, same GGUF)", results.get("load_transformers_s"), "s", ""),
        ("forward, 6 tokens (attncli)", results["forward6_attncli_s"] * 1e3, "ms", ""),
        ("forward, 6 tokens (transformers eager)", (results.get("forward6_transformers_s") or 0) * 1e3 or None, "ms", ""),
        ("  ratio attncli / transformers (median pair)", results.get("ratio6"), "", "<= 1.0"),
        ("  ratio vs transformers with attentions", results.get("ratio6_vs_attn"), "", ""),
        ("forward, 128 tokens (attncli)", results["forward128_attncli_s"] * 1e3, "ms", ""),
        ("forward, 128 tokens (transformers eager)", (results.get("forward128_transformers_s") or 0) * 1e3 or None, "ms", ""),
        ("  ratio attncli / transformers (median pair)", results.get("ratio128"), "", "<= 1.0"),
        ("  ratio vs transformers with attentions", results.get("ratio128_vs_attn"), "", ""),
        (f'attn explain -m smollm2 "{SENTENCE}"', results["process_explain_s"], "s", "<= 2 s"),
        ("  (its CPU time, user + system)", results["process_explain_cpu_s"], "s", ""),
        ("peak RSS, 1,024 tokens, one layer kept", results["peak_rss_1024_bytes"] / 2**20, "MiB", "< 1 GB"),
    ]
    print(f"SmolLM2-135M-Instruct Q4_1, one BLAS thread, numpy {np.__version__}"
          + (f", torch {torch.__version__}, transformers {transformers.__version__}" if torch is not None else ""))
    for name, value, unit, goal in rows:
        shown = "-" if value is None else f"{value:.3f}" if unit in ("", "s") else f"{value:.1f}"
        print(f"  {name:<44} {shown:>9} {unit:<4} {goal}")
    print(f"  (1-minute load average during the run: {results['load_average_1min']:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
