"""Token labelling speed: seconds per character of Tokenizer.encode (tokens, their labels, words and
spans) at 8k and at 64k characters, on the same text (issue 17: it was quadratic, 85 s to refuse 100k).

The ratio of the two times per character is about 1 when the work is linear in the text (a
quadratic one gives about 8). Each length runs ROUNDS times, alternating, and each time is the
median. A second table times what a user waits for: Model.encode of a 100,000-character text,
refused (more than the context) and with --truncate (its last tokens kept).

Run: python benchmarks/label_speed.py [--model bundled|smollm2|...] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

SHORT, LONG = 8_000, 64_000
LIMIT = 5.0  # seconds a 100k-character text may take to be refused, or cut with --truncate (issue 17)


def corpus(n: int) -> str:
    """n characters of the words of README and the docs pages (what README held before the docs site; some with
    accents, emoji and box-drawing: bytes cut between tokens)."""
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    words = [w for page in pages for w in page.read_text(encoding="utf-8").split()]
    rnd = random.Random(0)
    out: list[str] = []
    size = 0
    while size < n:
        out.append(rnd.choice(words) + rnd.choice(["", "", "", " 🥦", " café", "\n"]))
        size += len(out[-1]) + 1
    return " ".join(out)[:n]


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a model name or path (default: the bundled model)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from attncli.checkpoints import load
    from attncli.errors import UsageError

    model = load(args.model)
    tok = model.tokenizer
    texts = {n: corpus(n) for n in (SHORT, LONG)}
    times: dict[int, list[float]] = {n: [] for n in texts}
    for _ in range(args.rounds):
        for n, text in texts.items():
            times[n].append(timed(tok.encode, text))
    per_char = {n: statistics.median(t) / n for n, t in times.items()}
    ratio = per_char[LONG] / per_char[SHORT]

    big = corpus(100_000)

    def refuse() -> None:
        try:
            model.encode(big)
        except UsageError:
            return
        raise SystemExit("the 100,000-character text fits this model's context: nothing to refuse")

    refused = statistics.median(timed(refuse) for _ in range(args.rounds))
    truncated = statistics.median(timed(model.encode, big, True) for _ in range(args.rounds))
    result = {
        "model": model.name, "rounds": args.rounds,
        "seconds_per_char": {str(n): per_char[n] for n in texts},
        "tokens": {str(n): len(tok.encode(t)) for n, t in texts.items()},
        "ratio_64k_to_8k": ratio,
        "refuse_100k_seconds": refused, "truncate_100k_seconds": truncated,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"model {model.name}, median of {args.rounds} rounds")
        for n in texts:
            print(f"  {n:>6,} characters ({result['tokens'][str(n)]:,} tokens): "
                  f"{per_char[n] * 1e6:.2f} µs per character")
        print(f"  ratio 64k/8k per character: {ratio:.2f} (1 is linear, 8 would be quadratic)")
        print(f"  100,000 characters refused in {refused:.3f} s, with --truncate tokenized in {truncated:.3f} s")
    slow = max(refused, truncated) > LIMIT
    return 1 if slow or ratio > 2 else 0


if __name__ == "__main__":
    sys.exit(main())
