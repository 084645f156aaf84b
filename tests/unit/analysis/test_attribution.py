"""attn explain --attribution: leave-one-out on a model whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attncli.analysis.attribution import leave_one_out
from attncli.errors import UsageError
from attncli.model import forward
from attncli.numerics import softmax
from helpers.known_models import copy_model, save_copy_model
from helpers.run_cli import run
from helpers.schema import validate

TEXT = "I do not like spinach"


@pytest.fixture(scope="module")
def setup(tiny_model):
    ids = [t.id for t in tiny_model.encode(TEXT)[0]]
    key = ids[2]  # " not": the token the model copies forward
    target = ids[0]
    config, params = copy_model(tiny_model.tokenizer.vocab_size, key, target)
    return ids, key, target, config, params


def test_the_copied_token_ranks_first(setup):
    ids, key, target, config, params = setup
    a = leave_one_out(lambda x: forward(params, config, x), ids)
    assert a.target == target
    assert a.ranking[0] == ids.index(key)
    assert a.delta[ids.index(key)] > 0.5  # without it, the prediction is gone
    # leaving out any other token before the last concentrates the copy: that helps the prediction
    # (leaving out the last one also changes whose vector predicts, so no sign is expected there)
    others = [i for i in range(len(ids) - 1) if ids[i] != key]
    assert np.all(a.delta[others] < 0)


def test_numbers_are_from_real_reruns(tiny_model):
    ids = [t.id for t in tiny_model.encode(TEXT)[0]]
    a = leave_one_out(lambda x: tiny_model.forward(x, layers=[]), ids)
    full = softmax(tiny_model.forward(ids)["logits"][-1].astype(np.float64))
    assert a.target == int(np.argmax(full)) and a.probability == pytest.approx(full[a.target])
    for i in range(len(ids)):
        p = softmax(tiny_model.forward(ids[:i] + ids[i + 1:])["logits"][-1].astype(np.float64))[a.target]
        assert a.without[i] == pytest.approx(p) and a.delta[i] == pytest.approx(full[a.target] - p)
    assert list(a.delta[a.ranking]) == sorted(a.delta, reverse=True)


def test_one_token_is_not_enough(tiny_model):
    with pytest.raises(UsageError):
        leave_one_out(lambda x: tiny_model.forward(x, layers=[]), [5])


def test_cli_attribution(tmp_path, tokenizer_json, setup):
    ids, key, target, config, params = setup
    path = save_copy_model(tmp_path / "copy", tokenizer_json, config.vocab_size, key, target)
    code, out, err = run("explain", TEXT, "-m", str(path), "--attribution", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    validate(doc)
    assert doc["target"]["id"] == target
    assert doc["ranking"][0]["index"] == ids.index(key) and doc["ranking"][0]["label"] == "not"
    code, out, err = run("explain", TEXT, "-m", str(path), "--attribution")
    assert code == 0 and err == ""
    first = [line for line in out.splitlines() if line.strip().startswith("1 ")][0]
    assert "not" in first
