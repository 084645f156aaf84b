"""A model bigger than its float32 budget: a synthetic Q4_K_M-style GGUF with Llama-3.2-3B's shapes,
run by `attn predict` with its matrices left quantized in the memory-mapped file.

Writes (unless it is there) a llama-architecture file of random blocks, never committed: 28 layers,
d_model 3072, 24 query / 8 key-value heads, d_mlp 8192, a 128,256-entry tied embedding; Q4_K for
most matrices, Q6_K for attn_v, ffn_down and the embedding (which is also the output, as in
Llama-3.2-3B-Instruct-Q4_K_M.gguf), float32 norms: ~2.0 GB, 3.2B parameters, 12.9 GB as float32.
Its tokenizer is SmolLM2's (copied from its GGUF when pulled), else a byte-level one.

Then, under /usr/bin/time: `attn info` (the memory plan) and `attn predict "The capital of France
is" --max-memory 1G` (wall, CPU, peak RSS), and checks peak RSS <= file size + 1 GB and CPU <= 8 s
(issue 21). Writes benchmarks/results/big_gguf.json.

Run: python benchmarks/big_gguf.py [--out /tmp/attn-llama3b-q4km.gguf] [--baseline-attn PATH] [--json]
"""

from __future__ import annotations

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse
import json
import mmap
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the GGUF writer the tests use

import results as bench_results
from helpers import synthetic_gguf

LLAMA_3B = dict(n_layer=28, d=3072, d_mlp=8192, n_head=24, n_kv_head=8, vocab_size=128256, n_ctx=131072, tied=True,
                kinds={"embed": "Q6_K", "attn": "Q4_K", "attn_v": "Q6_K", "ffn": "Q4_K", "ffn_down": "Q6_K"})
VOCAB_KEYS = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
              "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
              "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token")
TEXT = "The capital of France is"


def smollm2_vocab() -> dict | None:
    from attncli import registry
    from attncli.checkpoints.gguf.reader import read_header
    from attncli.errors import ModelError

    try:
        path = registry.resolve("smollm2")
    except ModelError:
        return None
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        meta, _ = read_header(memoryview(mm), path)
    return {k: meta[k] for k in VOCAB_KEYS if k in meta}


def timed(argv: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS bytes, stdout) of a whole process, by /usr/bin/time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *argv], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{argv} failed: {out.stderr}")
    wall, user, system, kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(kb) * 1024, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/attn-llama3b-q4km.gguf"))
    ap.add_argument("--max-memory", default="1G")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--baseline-attn", help="another attn (the code before, in its own venv): the same predict, after")
    args = ap.parse_args()
    before = bench_results.machine()
    results: dict = {}
    if not args.out.exists():
        t = time.perf_counter()
        tmp = args.out.with_suffix(".partial")
        synthetic_gguf.write(tmp, vocab=smollm2_vocab(), scale=0.0005, **LLAMA_3B)
        tmp.replace(args.out)
        results["write_s"] = time.perf_counter() - t
    size = args.out.stat().st_size
    results["file_bytes"] = size
    attn = os.path.join(os.path.dirname(sys.executable), "attn")
    _, _, _, info = timed([attn, "info", "-m", str(args.out), "--max-memory", args.max_memory, "--json"])
    results["memory"] = json.loads(info)["info"]["memory"]
    wall, cpu, peak, out = timed([attn, "predict", "-m", str(args.out), TEXT, "--max-memory", args.max_memory,
                                  "-k", "3"])
    results.update(predict_s=wall, predict_cpu_s=cpu, predict_peak_bytes=peak, predict_output=out.strip(),
                   within_goal=peak <= size + 2**30, cpu_within_goal=cpu <= 8.0, load_average_1min=os.getloadavg()[0])
    if args.baseline_attn:
        b_wall, b_cpu, b_peak, _ = timed([args.baseline_attn, "predict", "-m", str(args.out), TEXT, "--max-memory",
                                          args.max_memory, "-k", "3"])
        results.update(baseline_predict_s=b_wall, baseline_predict_cpu_s=b_cpu, baseline_predict_peak_bytes=b_peak,
                       cpu_over_baseline=cpu / b_cpu)
    bench_results.write("big_gguf", results, before)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    m = results["memory"]
    print(f"synthetic Llama-3.2-3B-shaped Q4_K_M-style GGUF: {size / 1e9:.2f} GB, "
          f"{m['parameters'] / 1e9:.2f}B parameters, {m['float32_bytes'] / 1e9:.1f} GB as float32")
    print(f"  memory plan with --max-memory {args.max_memory}: {m['path']} "
          f"(estimated {m['in_place_bytes'] / 1e9:.2f} GB)")
    print(f"  attn predict: {wall:.1f} s wall, {cpu:.1f} s CPU (goal <= 8 s: {'met' if cpu <= 8 else 'NOT met'}), "
          f"peak RSS {peak / 2**20:.0f} MiB "
          f"(goal <= file + 1 GiB = {(size + 2**30) / 2**20:.0f} MiB: "
          f"{'met' if results['within_goal'] else 'NOT met'})")
    if args.baseline_attn:
        b_peak_mib = results["baseline_predict_peak_bytes"] / 2**20
        print(f"  the same with {args.baseline_attn}: {results['baseline_predict_s']:.1f} s wall, "
              f"{results['baseline_predict_cpu_s']:.1f} s CPU, peak RSS {b_peak_mib:.0f} MiB; "
              f"CPU now / then {results['cpu_over_baseline']:.2f}")
    print(f"  (1-minute load average at the end: {results['load_average_1min']:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
