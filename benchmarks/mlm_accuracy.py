"""Masked-token accuracy of a masked-language model against a count baseline, on the same masks.

    python benchmarks/mlm_accuracy.py [-m MODEL] [--seed N] [--record] [TRAIN.txt] [VALID.txt]

MODEL defaults to bundled-mlm. The validation text is cut into the model's windows and 15% of
its tokens are masked with the seed (attncli.train.mlm_eval.mask_text: the same masks as
`attn eval --objective mlm`). The baseline (mlm_eval.CountBaseline) counts, in the train text
tokenized by the model's own tokenizer, which token sits between each (previous, next) pair;
it is scored twice: reading the masked windows as the model does (a neighbour that is itself
masked is unknown), and handed the true neighbours (what a both-sides count model gets when
one token at a time is hidden). Also scored: the left-only bigram.

--record writes the baseline's figures into the model directory's card ("count_baseline" in
config.json, replaced atomically: a temporary file beside it, then os.replace), so that
`attn info` and tests/unit/checkpoints/test_bundled_mlm.py can show and check them without the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from attncli.checkpoints import bundled_path, load
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
    ap.add_argument("--record", action="store_true",
                    help="write the baseline's figures into the model's card (config.json)")
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
        ("count baseline, previous token only, true neighbour",
         both.evaluate(data, see_masked_neighbours=True, right=False)),
    ]
    t0 = time.perf_counter()
    label = f"{model.name} (float16 weights as shipped)" if model.name == "bundled-mlm" else model.name
    rows.append((label, score(model, data)))
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
    if a.record:
        same, true = rows[0][1], rows[1][1]
        record(model_dir(a.model), {
            "top1": round(same.top1, 4), "top5": round(same.topk, 4),
            "what": "previous + next token counted on the train slice, reading the same masked input as the model",
            "true_neighbours": {"top1": round(true.top1, 4), "top5": round(true.topk, 4)},
            "masked_tokens": same.tokens, "mask_seed": a.seed, "train_file": a.train.name, "valid_file": a.valid.name,
            "model_top1": round(model_top1, 4), "model_top5": round(rows[-1][1].topk, 4),
            "command": "python benchmarks/mlm_accuracy.py --record",
        })


def model_dir(spec: str) -> Path:
    path = bundled_path() / "mlm" if spec == "bundled-mlm" else Path(spec)
    if not (path / "config.json").is_file():
        sys.exit(f"mlm_accuracy.py: --record needs a model directory with a config.json, not {spec}")
    return path


def record(path: Path, baseline: dict) -> None:
    """Put `baseline` into the card of path/config.json; the file is replaced whole, never half-written."""
    target = path / "config.json"
    doc = json.loads(target.read_text(encoding="utf-8"))
    doc.setdefault("card", {})["count_baseline"] = baseline
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".config.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"\nrecorded count_baseline in {target}")


if __name__ == "__main__":
    main()
