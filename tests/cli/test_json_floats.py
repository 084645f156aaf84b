"""Every float of every kind of --json document is written as the shortest decimal that reads back to
the same float32, as docs/reference/json.md promises: the model's values, and what is derived from them in float64
(probabilities, perplexities, entropies) alike. The float literals are read as written, not as parsed."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from helpers.run_cli import HOWS, Call, Run, attn_all, ok
from helpers.schema import schema
from helpers.train_helpers import write_corpus

TEXT = "I do not like spinach"


class Literal(str):
    """A JSON float exactly as the document spells it."""


def literals(doc: Any) -> list[Literal]:
    if isinstance(doc, Literal):
        return [doc]
    if isinstance(doc, dict):
        return [x for v in doc.values() for x in literals(v)]
    if isinstance(doc, list):
        return [x for v in doc for x in literals(v)]
    return []


def is_float32_shortest(literal: str) -> bool:
    """The decimal reads back to a float32 V (as every decimal does) and no shorter one does: it is V's
    shortest repr, which numpy's str(float32) is."""
    return float(literal) == float(str(np.float32(literal)))


def calls(corpus, cache) -> dict[str, Call]:
    mlm = ["-m", "bundled-mlm"]
    return {
        "explain": Call(["explain", TEXT, "--json"]),
        "explain-steps": Call(["explain", TEXT, "--json", "--steps", "--token", "like", "--temperature", "0.5"]),
        "explain-attribution": Call(["explain", TEXT, "--json", "--attribution"]),
        "explain-rollout": Call(["explain", TEXT, "--json", "--rollout"]),
        "explain-heads": Call(["explain", TEXT, "--json", "--head", "all"]),
        "explain-summary": Call(["explain", TEXT, "--json", "--summary"]),
        "explain-lens": Call(["explain", TEXT, "--json", "--lens"]),
        "explain-dla": Call(["explain", TEXT, "--json", "--dla"]),
        "explain-qk": Call(["explain", TEXT, "--json", "--qk", "--head", "1"]),
        "predict": Call(["predict", TEXT, "--json", "-g", "3", "--explain"]),
        "predict-masks": Call(["predict", "the cat sat on the [MASK] .", *mlm, "--json"]),
        "predict-stream": Call(["predict", "--json"], input=b"I do\nthe cat sat\n"),
        "compare": Call(["compare", TEXT, "I do like spinach", "--json"]),
        "compare-word": Call(["compare", "the cat sat on the mat", "the dog sat on the mat", *mlm, "--word", "sat",
                              "--json"]),
        "patch": Call(["patch", TEXT, "I do like spinach", "--json"]),
        "info": Call(["info", "--json"]),
        "heads": Call(["heads", str(corpus), "--json", "--workers", "1", "--induction-samples", "2"]),
        "eval": Call(["eval", str(corpus), "--json"]),
        "eval-mlm": Call(["eval", str(corpus), *mlm, "--json"]),
        "models-list": Call(["models", "list", "--json"], env={"ATTN_CACHE": str(cache)}),
        "models-verify": Call(["models", "verify", "--json"], env={"ATTN_CACHE": str(cache)}),
        "models-rm": Call(["models", "rm", "smollm2", "--json"], env={"ATTN_CACHE": str(cache)}),
    }


@pytest.fixture(scope="module", params=HOWS)
def runs(request, tmp_path_factory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("json-floats")
    return attn_all(request.param, calls(write_corpus(root, n_stories=20), root / "cache"))


def test_every_float_of_every_document_is_float32s_shortest_decimal(runs):
    kinds, checked, wrong = set(), 0, []
    for name, run in runs.items():
        for line in ok(run).stdout.splitlines():
            doc = json.loads(line, parse_float=Literal)
            kinds.add(doc["command"])
            found = literals(doc)
            checked += len(found)
            wrong += [(name, x) for x in found if not is_float32_shortest(x)]
    assert kinds == set(schema()["properties"]["command"]["enum"])  # every kind of document was looked at
    assert checked > 1000 and wrong == [], wrong[:10]


def test_the_check_can_fail():
    assert not is_float32_shortest("0.14416172640847078")  # a float64 probability, as predict wrote it
    assert not is_float32_shortest("7.644532203674316")  # a float32 logit, written as the float64 it widens to
    assert is_float32_shortest("0.14416173") and is_float32_shortest("7.644532") and is_float32_shortest("1e-05")
