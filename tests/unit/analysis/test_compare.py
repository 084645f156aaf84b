"""attn compare: identical texts change nothing; inserting a token changes things with the expected sign."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attncli.analysis.compare import align, compare
from attncli.model import forward
from helpers.known_models import copy_model
from helpers.run_cli import run
from helpers.schema import validate

A, B = "I do like spinach", "I do not like spinach"


def test_identical_texts_change_nothing(tiny_model):
    ids = [t.id for t in tiny_model.encode(B)[0]]
    ta, tb = tiny_model.forward(ids), tiny_model.forward(ids)
    for head in (0, 1, "mean"):
        c = compare(ta, tb, 1, head, 5)
        assert c.pairs == [(i, i) for i in range(len(ids))]
        finite = c.weight_diff[np.isfinite(c.weight_diff)]
        assert finite.size == len(ids) * (len(ids) + 1) // 2 and np.all(finite == 0)
        np.testing.assert_allclose(c.cosine_distance, 0, atol=1e-12)
        np.testing.assert_array_equal(c.prob_a, c.prob_b)


def test_align_finds_the_inserted_token():
    pairs, ops = align([5, 6, 8, 9], [5, 6, 7, 8, 9])
    assert pairs == [(0, 0), (1, 1), (2, 3), (3, 4)]
    assert [op[0] for op in ops] == ["equal", "insert", "equal"]


@pytest.fixture(scope="module")
def copy_setup(tiny_model):
    tok = tiny_model.tokenizer
    a = [t.id for t in tiny_model.encode(A)[0]]
    b = [t.id for t in tiny_model.encode(B)[0]]
    (not_id,) = [i for i in b if i not in a]  # the one token B adds
    target = a[-1]
    config, params = copy_model(tok.vocab_size, not_id, target)
    return a, b, b.index(not_id), target, forward(params, config, a), forward(params, config, b)


def test_inserting_the_copied_token_changes_with_the_expected_sign(copy_setup):
    a, b, at, target, ta, tb = copy_setup
    c = compare(ta, tb, 0, 0, 3)
    assert len(c.pairs) == len(a)
    for q, (qa, qb) in enumerate(c.pairs):
        row = c.weight_diff[q]
        visible = row[np.isfinite(row)]
        if qb < at:  # the inserted token is after this query: nothing changes
            np.testing.assert_allclose(visible, 0, atol=1e-7)
            assert c.cosine_distance[q] == pytest.approx(0, abs=1e-9)
        else:  # uniform attention now shares out over one more key: every shared weight falls
            assert np.all(visible < 0)
            # and the copied dimension reaches this token's vector: it moves
            assert c.cosine_distance[q] > 1e-3
    # the copied token is what predicts `target`: its probability rises in B
    d = dict(zip(c.prediction_ids, c.prob_b - c.prob_a))
    assert d[target] > 0


def test_cli_compare_text_and_json(tiny_model_dir, tiny_model):
    code, out, err = run("compare", B, A, "-m", str(tiny_model_dir), "--layer", "1", "--head", "1")
    assert code == 0 and err == ""
    assert "Alignment" in out and "[-" in out and "cosine distance" in out and "B − A" in out
    code, out, err = run("compare", B, A, "-m", str(tiny_model_dir), "--layer", "1", "--head", "1", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    validate(doc)
    ids_a = [t.id for t in tiny_model.encode(B)[0]]
    trace_a = tiny_model.forward(ids_a)
    got = np.array([[np.nan if x is None else x for x in row] for row in doc["a"]["weights"]])
    np.testing.assert_allclose(np.nan_to_num(got), trace_a["blocks.1.attn.weights"][1], rtol=1e-6, atol=1e-12)
    assert doc["vectors"]["name"] == "blocks.1.resid_post"
    assert all(p["delta"] == pytest.approx(p["probability_b"] - p["probability_a"]) for p in doc["predictions"])


def test_cli_compare_bad_head(tiny_model_dir):
    code, out, err = run("compare", A, B, "-m", str(tiny_model_dir), "--head", "9")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
