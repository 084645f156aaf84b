"""Masked-token accuracy of a masked-language model against a count baseline, on the same masks.

    python benchmarks/mlm_accuracy.py [-m MODEL] [--seed N] [TRAIN.txt] [VALID.txt]

MODEL defaults to bundled-mlm. The validation text is cut into the model's windows and 15% of
its tokens are masked with the seed (attncli.train.mlm_eval.mask_text: the same masks as
`attn eval --objective mlm`). The baseline (mlm_eval.CountBaseline) counts, in the train text
tokenized by the model's own tokenizer, which token sits between each (previous, next) pair;
it is scored twice: reading the masked windows as the model does (a neighbour that is itself
masked is unknown), and handed the true neighbours (what a both-sides count model gets when
one token at a time is hidden). Also scored: the left-only bigram.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from attncli.checkpoints import load
from attncli.train.data import documents, read_text
from attncli.train.mlm_data import encode_stream
from attncli.train.mlm_eval import EVAL_SEED, CountBaseline, mask_text, score

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train", nargs="?", default=CORPORA / "tinystories-train.txt", type=Path)
    ap.add_argument("valid", nargs="?", default=CORPORA / "tinystories-valid.txt", type=Path)
    ap.add_argument("-m", "--model", default="bundled-mlm")
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    a = ap.parse_args()

    model = load(a.model)
    data = mask_text(model, read_text(a.valid, "validation file"), a.seed)
    t0 = time.perf_counter()
    train_ids = encode_stream(model.tokenizer, documents(read_text(a.train, "corpus")))  # [N]
    both = CountBaseline(train_ids, data.specials.n_special)
    counted = time.perf_counter() - t0
    rows = [
        ("count baseline, previous + next token, same masked input", both.evaluate(data)),
        ("count baseline, previous + next token, true neighbours", both.evaluate(data, see_masked_neighbours=True)),
        ("count baseline, previous token only, true neighbour", both.evaluate(data, see_masked_neighbours=True, right=False)),
    ]
    t0 = time.perf_counter()
    rows.append((f"{model.name} (float16 weights as shipped)" if model.name == "bundled-mlm" else model.name, score(model, data)))
    scored = time.perf_counter() - t0

    n = rows[-1][1].tokens
    print(f"{a.valid.name}: {n:,} masked tokens (15%, seed {a.seed}), windows of {model.config.n_ctx}; "
          f"baseline counted on {a.train.name} ({train_ids.shape[0]:,} tokens, {counted:.0f} s); model {scored:.0f} s")
    print()
    print("| predictor | top-1 | top-5 |")
    print("|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r.top1:.2%} | {r.topk:.2%} |")
    model_top1 = rows[-1][1].top1
    for name, r in rows[:2]:
        print(f"\n{model.name} - ({name}): {100 * (model_top1 - r.top1):+.1f} points of top-1", end="")
    print()


if __name__ == "__main__":
    main()
