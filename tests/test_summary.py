"""explain --summary: for one query token, every layer and head's strongest key and weight."""

from __future__ import annotations

import json
import math

from run_cli import run
from schema import validate

from attncli.analysis.summary import head_summary


def test_summary_matches_the_weights_read_by_hand(tiny_model):
    toks, _ = tiny_model.encode("the cat sat on the mat")
    trace = tiny_model.forward([t.id for t in toks])
    q = 3
    s = head_summary(trace, q)
    for i, L in enumerate(trace.layers):
        w = trace[f"blocks.{L}.attn.weights"]
        for h in range(w.shape[0]):
            row = [float(x) for x in w[h, q]]
            best = max(range(len(row)), key=lambda k: (row[k], -k))
            assert s.top_key[i, h] == best
            assert math.isclose(s.top_weight[i, h], row[best], rel_tol=1e-6)
            ent = -sum(p * math.log2(p) for p in row if p > 0)
            assert math.isclose(s.entropy_bits[i, h], ent, rel_tol=1e-5, abs_tol=1e-9)
            assert all(x == 0 for x in row[q + 1:])  # a causal query sees no later key


def test_summary_json_validates_and_masks_future_keys(tiny_model_dir):
    code, out, err = run("explain", "the cat sat on the mat", "-m", str(tiny_model_dir), "--summary", "--token", "1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc)
    assert doc["command"] == "explain-summary" and doc["query"]["index"] == 1
    for layer in doc["layers"]:
        for head in layer["heads"]:
            assert all(x is None for x in head["weights"][2:])
            assert math.isclose(sum(head["weights"][:2]), 1.0, rel_tol=1e-6)
            assert head["weights"][head["top_key"]] == head["top_weight"]


def test_summary_table_names_every_layer_and_head(tiny_model_dir):
    code, out, err = run("explain", "the cat sat", "-m", str(tiny_model_dir), "--summary")
    assert code == 0, err
    assert "h0" in out and "h1" in out and "Where each head looks" in out


def test_summary_refuses_other_modes_and_bad_tokens(tiny_model_dir):
    code, out, err = run("explain", "the cat", "-m", str(tiny_model_dir), "--summary", "--steps")
    assert code == 2 and out == "" and err.startswith("attn: error:") and "cannot be combined" in err
    code, out, err = run("explain", "the cat", "-m", str(tiny_model_dir), "--summary", "--token", "dog")
    assert code == 2 and out == "" and "--token 'dog'" in err
