"""Generation speed: attncli's KV-cached greedy generation against transformers' generate with its
cache, on the same GGUF file, one thread each (issue 13: tokens per second at least 1.0x).

The prompt is 16 tokens; 64 new tokens are generated greedily. Each side runs ROUNDS times,
alternating (so a noisy neighbour slows both), and the ratio is the median of per-round ratios
of tokens per second. Both generate the same ids (checked). transformers uses eager attention
(attncli computes and can show every weight; sdpa hides them) and, as a second line, its default
attention.

Run: python benchmarks/generation.py [--model smollm2] [--rounds 5] [--json]
Needs the model pulled (attn models pull smollm2), torch and transformers.
"""

from __future__ import annotations

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy or torch load their BLAS

import argparse
import json
import statistics
import sys
import time

PROMPT = "Once upon a time, in a small village by the sea, there lived an old fisherman who"
NEW = 64


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch
    import transformers

    from attncli import registry
    from attncli.checkpoints import load
    from attncli.generate import generate_steps

    torch.set_num_threads(1)
    path = registry.resolve(args.model)
    model = load(args.model)
    ids = [t.id for t in model.encode(PROMPT)[0]][:16]
    assert len(ids) == 16, len(ids)
    refs = {}
    for impl in ("eager", "sdpa"):
        refs[impl] = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32, attn_implementation=impl).eval()

    def ours() -> tuple[float, list[int]]:
        t = time.perf_counter()
        out = [s.id for s in generate_steps(model, ids, NEW)]
        return time.perf_counter() - t, out

    def theirs(impl: str) -> tuple[float, list[int]]:
        x = torch.tensor([ids])
        with torch.no_grad():
            t = time.perf_counter()
            out = refs[impl].generate(x, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, use_cache=True,
                                      pad_token_id=0)
            dt = time.perf_counter() - t
        return dt, out[0, len(ids):].tolist()

    ours()  # warm both (first calls allocate)
    theirs("eager")
    times: dict[str, list[float]] = {"attncli": [], "eager": [], "sdpa": []}
    for _ in range(args.rounds):
        dt, a = ours()
        times["attncli"].append(dt)
        for impl in ("eager", "sdpa"):
            dt, b = theirs(impl)
            times[impl].append(dt)
            if a != b:
                print(f"warning: transformers ({impl}) generated other ids: {a[:8]}... vs {b[:8]}...", file=sys.stderr)
    tps = {k: [NEW / t for t in v] for k, v in times.items()}
    res = {
        "model": args.model, "prompt_tokens": len(ids), "new_tokens": NEW, "rounds": args.rounds, "threads": 1,
        "attncli_tok_s": statistics.median(tps["attncli"]),
        "transformers_eager_tok_s": statistics.median(tps["eager"]),
        "transformers_sdpa_tok_s": statistics.median(tps["sdpa"]),
        "ratio_vs_eager": statistics.median(a / b for a, b in zip(tps["attncli"], tps["eager"], strict=True)),
        "ratio_vs_sdpa": statistics.median(a / b for a, b in zip(tps["attncli"], tps["sdpa"], strict=True)),
        "load_average_1m": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{args.model}: greedy, {len(ids)}-token prompt, {NEW} new tokens, one thread, median of {args.rounds}")
        print(f"  attncli (numpy, KV cache)        {res['attncli_tok_s']:6.1f} tok/s")
        print(f"  transformers generate, eager     {res['transformers_eager_tok_s']:6.1f} tok/s"
              f"   attncli / transformers = {res['ratio_vs_eager']:.2f}x")
        print(f"  transformers generate, sdpa      {res['transformers_sdpa_tok_s']:6.1f} tok/s"
              f"   attncli / transformers = {res['ratio_vs_sdpa']:.2f}x")
        print(f"  (1-minute load average {res['load_average_1m']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
