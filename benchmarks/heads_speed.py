"""attn heads' speed and memory, each as a ratio to a baseline measured in the same run:

1. the census's time per text over a plain forward pass on the same text (which the census must do
   anyway): Census.count_text against what `attn explain` does to a text before drawing it
   (Model.encode, then Model.forward), interleaved text by text, on the built-in corpus; with the
   texts/s of each (the bundled model, and SmolLM2 if it is pulled);
2. `attn heads --workers 2` over `--workers 1`, as whole processes on the same corpus (the built-in
   corpus, repeated), medians of interleaved runs;
3. the peak memory (maximum resident set) of `attn heads --workers 1` on 10,000 texts over 1,000.

Writes benchmarks/results/heads_speed.json (with --only PART, heads_speed_PART.json). Usage:
  python benchmarks/heads_speed.py [--models bundled,smollm2] [--runs 3] [--repeat 4] [--texts 1000]
      [--only per-text|workers|memory] [--blas-threads N]

--blas-threads N (e.g. 1) sets OPENBLAS_NUM_THREADS for this script and every attn it runs: on a
busy 2-core machine OpenBLAS's second thread waits on the scheduler, and a one-process run of the
bundled model's small products then measures that, not the census (benchmarks/blas_threads.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results


def per_text(spec: str, limit: int | None, passes: int = 2) -> dict:
    """Census per text over one forward, on the built-in corpus's texts."""
    from attncli.analysis.heads import Census, Options, text_ids
    from attncli.checkpoints import load
    from attncli.corpus import open_corpus

    model = load(None if spec == "bundled" else spec)
    texts = [t for _, t in open_corpus(None).texts()][:limit]
    counter = Census(model, Options())
    part = counter.new_partial()
    ids = [text_ids(model, t, counter.limit)[0] for t in texts]  # type: ignore[index]

    def plain(text: str) -> None:
        model.forward([t.id for t in model.encode(text)[0]])

    forward = census = 0.0
    for p in range(passes + 1):  # the first pass warms caches up (the tokenizer's, the best texts') and is not counted
        for i, t in enumerate(texts):
            t0 = time.perf_counter()
            plain(t)
            t1 = time.perf_counter()
            counter.count_text(part, p * len(texts) + i, t)
            t2 = time.perf_counter()
            if p:
                forward += t1 - t0
                census += t2 - t1
    n = len(texts) * passes
    return {"model": spec, "texts": n, "tokens": sum(map(len, ids)) * passes, "forward_s_per_text": forward / n,
            "census_s_per_text": census / n, "census_over_forward": census / forward,
            "census_texts_per_s": n / census, "forward_texts_per_s": n / forward}


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds of a whole process, and its peak resident set in KiB, as GNU time reports it.

    Not this script's own wait4: Linux carries a process's peak across exec, and a child forked from
    this script (which may hold SmolLM2 by then) starts with this script's pages, so its peak would be
    ours. GNU time is small, and what it forks starts from it."""
    gnu_time = "/usr/bin/time"
    if not os.path.exists(gnu_time):
        sys.exit("the memory figures need GNU time (/usr/bin/time: apt-get install time)")
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as out:
        t0 = time.perf_counter()
        proc = subprocess.run([gnu_time, "-f", "%M", "-o", out.name, *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        elapsed = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed: {proc.stderr}")
        return elapsed, int(out.read().split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="bundled,smollm2")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs of each --workers case")
    ap.add_argument("--repeat", type=int, default=4, help="times the built-in corpus is repeated for --workers")
    ap.add_argument("--texts", type=int, default=1000, help="the smaller corpus of the memory case (10x the larger)")
    ap.add_argument("--smollm2-texts", type=int, default=40, help="texts of the per-text case on SmolLM2")
    ap.add_argument("--only", choices=("per-text", "workers", "memory"))
    ap.add_argument("--workers-model", default="bundled", help="the -m of the --workers case")
    ap.add_argument("--blas-threads", type=int)
    args = ap.parse_args()
    if args.blas_threads:  # before numpy is imported, here and in every process started from here
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    parts = {args.only} if args.only else {"per-text", "workers", "memory"}
    before = results.machine()
    attn = shutil.which("attn") or sys.exit("attn is not on PATH; pip install -e . first")
    from attncli import registry
    from attncli.corpus import builtin_path

    figures: dict = {"per_text": [], "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "as OpenBLAS starts")}
    for spec in args.models.split(",") if "per-text" in parts else []:
        if spec != "bundled" and not registry.is_pulled(registry.KNOWN[spec]):
            print(f"skipped {spec}: not pulled")
            continue
        row = per_text(spec, None if spec == "bundled" else args.smollm2_texts)
        figures["per_text"].append(row)
        print(f"{spec}: census {row['census_s_per_text'] * 1e3:.1f} ms/text ({row['census_texts_per_s']:.1f} texts/s), "
              f"forward {row['forward_s_per_text'] * 1e3:.1f} ms/text: census / forward = "
              f"{row['census_over_forward']:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text(builtin_path().read_text(encoding="utf-8") * args.repeat, encoding="utf-8")
        base = [attn, "heads", str(corpus), "--json", *([] if args.workers_model == "bundled" else
                                                       ["-m", args.workers_model])]
        times: dict[str, list[float]] = {"1": [], "2": []}
        for _ in range(args.runs if "workers" in parts else 0):
            for w, runs in times.items():
                runs.append(timed([*base, "--workers", w])[0])
        if "workers" in parts:
            one, two = statistics.median(times["1"]), statistics.median(times["2"])
            texts = 194 * args.repeat
            figures["workers"] = {"model": args.workers_model, "texts": texts, "runs": args.runs,
                                  "workers_1_s": times["1"],
                                  "workers_2_s": times["2"], "median_1_s": one, "median_2_s": two,
                                  "workers_2_over_1": two / one}
            print(f"--workers 2 / --workers 1 on {texts} texts: {two:.2f} s / {one:.2f} s = {two / one:.3f}")
        if "memory" not in parts:
            suffix = "" if args.workers_model == "bundled" else f"_{args.workers_model}"
            print(f"wrote {results.write(f'heads_speed_{args.only}{suffix}', figures, before)}")
            return
        small, large = Path(tmp) / "small.txt", Path(tmp) / "large.txt"
        lines = builtin_path().read_text(encoding="utf-8").splitlines()
        small.write_text("\n".join(lines[i % len(lines)] for i in range(args.texts)), encoding="utf-8")
        large.write_text("\n".join(lines[i % len(lines)] for i in range(10 * args.texts)), encoding="utf-8")
        memory = {}
        for name, path, n in (("small", small, args.texts), ("large", large, 10 * args.texts)):
            seconds, kib = timed([attn, "heads", str(path), "--json", "--workers", "1", "--induction-samples", "1"])
            memory[name] = {"texts": n, "seconds": seconds, "peak_kib": kib}
        ratio = memory["large"]["peak_kib"] / memory["small"]["peak_kib"]
        figures["memory"] = {**memory, "peak_large_over_small": ratio}
        print(f"peak memory {memory['large']['texts']:,} texts / {memory['small']['texts']:,} texts: "
              f"{memory['large']['peak_kib'] / 1024:.1f} MiB / {memory['small']['peak_kib'] / 1024:.1f} MiB = "
              f"{ratio:.3f}")
    name = f"heads_speed_{args.only}" if args.only else "heads_speed"
    print(f"wrote {results.write(name, figures, before)}")


if __name__ == "__main__":
    main()
