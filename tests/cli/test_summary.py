"""explain --summary: for one query token, every layer and head's strongest key and weight."""

from __future__ import annotations

import json
import math
import re

import pytest

from attncli.analysis.summary import head_summary
from helpers.run_cli import attn, run
from helpers.schema import validate


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


def test_a_pattern_shared_by_many_heads_is_one_grouped_line_on_smollm2():
    """SmolLM2's sink heads are most of its 270: the list of them took 20 lines, each head with its share.
    Grouped, it is one line of ranges; every head named in --json still appears in it, once."""
    from attncli import registry
    from attncli.errors import ModelError

    try:
        registry.resolve("smollm2")
    except ModelError:
        pytest.skip("SmolLM2 is not pulled (run: attn models pull smollm2; CI pulls it)")
    text = "The cat sat on the mat because it was tired"
    doc = attn("process", ["explain", text, "-m", "smollm2", "--summary", "--json"]).json()
    named: dict[str, set[tuple[int, int]]] = {}
    for layer in doc["layers"]:
        for head in layer["heads"]:
            if head["label"] is not None:
                named.setdefault(head["label"]["name"], set()).add((layer["layer"], head["head"]))
    sink = "first token (sink)"
    assert len(named.get(sink, ())) > 20  # the case the grouping is for

    r = attn("process", ["explain", text, "-m", "smollm2", "--summary"], env={"NO_COLOR": "1", "COLUMNS": "120"})
    assert r.code == 0, r.stderr
    section = r.stdout.split("Heads worth a look, over every query of this text:\n")[1].split("Bright cells")[0]
    assert len(section.splitlines()) <= len(named) + 4  # was one line of 6 heads or so for each, 20 for the sinks
    start = r"([a-z][a-z ()]*?)(?:, \d+ heads \(L\.a-b: heads a to b of layer L\))?: "
    groups = re.split(rf"\n  (?={start.replace('(', '(?:', 1)})", "\n" + section)  # (a group would be kept)
    shown: dict[str, list[tuple[int, int]]] = {}
    for group in filter(None, (g.strip() for g in groups)):
        found = re.match(rf"{start}(.*)", group, re.DOTALL)
        assert found, group
        name, heads = found.groups()
        assert name not in shown, f"{name} is listed twice"
        shown[name] = []
        for L, a, b in re.findall(r"(\d+)\.(\d+)(?:-(\d+))?(?: \(\d+%\))?", heads.replace("\n", " ")):
            shown[name] += [(int(L), h) for h in range(int(a), int(b or a) + 1)]
    assert {name: sorted(heads) for name, heads in shown.items()} == {n: sorted(h) for n, h in named.items()}
    assert all(len(heads) == len(set(heads)) for heads in shown.values())
