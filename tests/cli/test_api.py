"""The Python API (attncli.load, LoadedModel.run -> Run): the same numbers and documents as the
installed `attn` command gives, checked against the CLI's own output and against sums done here."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import attncli
from attncli.errors import ModelError, UsageError
from helpers.run_cli import attn, ok
from helpers.schema import validate

TEXT = "I do not like spinach"


@pytest.fixture(scope="module")
def model():
    return attncli.load()


@pytest.fixture(scope="module")
def run(model):
    return model.run(TEXT)


def test_importing_attncli_loads_no_cli_or_terminal_library():
    code = ("import sys, attncli; m = attncli.load(); r = m.run('I do not like'); r.predictions(); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('typer', 'click', 'textual') "
            "or k == 'rich.table'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_attention_is_what_explain_json_shows(run):
    doc = ok(attn("process", ["explain", TEXT, "--json"])).json()
    for layer in doc["attention"]:
        for h in layer["heads"]:
            shown = np.array([[np.nan if x is None else x for x in row] for row in h["weights"]], dtype=np.float64)
            ours = run.attention(layer["layer"], h["head"]).astype(np.float64)
            seen = ~np.isnan(shown)
            np.testing.assert_array_equal(ours[seen].astype(np.float32), shown[seen].astype(np.float32))
            assert (ours[~seen] == 0).all()  # the masked cells the JSON leaves null are exactly 0
    assert run.attention(1).shape == (run.model.config.n_head, len(run.tokens), len(run.tokens))


def test_intermediates_by_name_are_the_forward_pass_s(run):
    q, k = run["blocks.1.attn.q"].astype(np.float64), run["blocks.1.attn.k"].astype(np.float64)
    scores = run["blocks.1.attn.scores"]
    dh = q.shape[-1]
    group = q.shape[0] // k.shape[0]
    for h in range(q.shape[0]):
        for i in range(q.shape[1]):
            for j in range(i + 1):  # the causal cells: q_i . k_j / sqrt(d_head), summed here by hand
                want = sum(q[h, i, c] * k[h // group, j, c] for c in range(dh)) / math.sqrt(dh)
                assert abs(scores[h, i, j] - want) <= 1e-5 * (1 + abs(want))
    assert run.names[0] == "embed" and "logits" in run.names


def test_predictions_and_tokens_are_predict_json_s(model, run):
    doc = ok(attn("process", ["predict", TEXT, "--json", "-k", "5"])).json()
    assert [p["id"] for p in run.predictions(k=5)] == [p["id"] for p in doc["predictions"]]
    assert [p["text"] for p in run.predictions(k=5)] == [p["text"] for p in doc["predictions"]]
    np.testing.assert_allclose([p["probability"] for p in run.predictions(k=5)],
                               [p["probability"] for p in doc["predictions"]], rtol=1e-6)
    assert [t["id"] for t in run.tokens] == [t["id"] for t in doc["tokens"]]


def test_to_json_is_the_document_explain_json_writes(run):
    doc = ok(attn("process", ["explain", TEXT, "--json"])).json()
    ours = run.to_json()
    validate(ours)
    assert ours == doc


def test_the_analyses_agree_with_the_cli(run):
    qk = run.qk(layer=1, head=2)
    assert float(qk.score) == float(run["blocks.1.attn.scores"][2, qk.query, qk.key])
    assert abs(qk.contributions.sum() - qk.score) < 1e-4  # the parts add up to the score
    lens = run.lens()
    assert lens.target == run.predictions(1)[0]["id"]  # the lens tracks the model's own top token
    assert run.rollout().shape == (len(run.tokens), len(run.tokens))
    assert np.allclose(run.rollout().sum(axis=1), 1, atol=1e-5)
    walk = run.steps(token="like", layer=1, head=2)
    assert walk.position == 3
    assert run.attribution() is not None and run.dla() is not None


def test_generate_is_predict_generate_s(model):
    doc = ok(attn("process", ["predict", "Once upon a", "-g", "4", "--json"])).json()
    steps = model.generate("Once upon a", 4)
    assert all(s.weights is None for s in steps.steps)  # no attention rows unless asked
    explained = model.generate("Once upon a", 4, explain=True, layer=1)
    assert [s.id for s in explained.steps] == doc["generated"]["ids"] and explained.steps[0].weights.shape[0] == 4
    assert [s.id for s in steps.steps] == doc["generated"]["ids"]


def test_compare_and_patch_run(model):
    comparison = attncli.compare(model, "I do not like it", "I do like it")
    patching = attncli.patch(model, "I do not like it", "I do like it")
    assert comparison is not None and patching is not None


def test_errors_are_the_typed_errors_the_cli_maps_to_exit_codes(model, tmp_path):
    with pytest.raises(ModelError):
        attncli.load(str(tmp_path / "missing"))
    with pytest.raises(UsageError):
        model.run("   ")
    with pytest.raises(UsageError):
        attncli.load(max_memory="lots")
    mlm = attncli.load("bundled-mlm")
    with pytest.raises(UsageError):
        mlm.generate("Once upon a", 3)
    fills = mlm.run("I do not [MASK] spinach").predictions(k=3)
    assert len(fills) == 1 and len(fills[0]["predictions"]) == 3 and fills[0]["index"] == 4


def test_in_a_notebook_the_run_is_the_offline_page_and_in_a_terminal_the_tables(run):
    from rich.console import Console

    page = run._repr_html_()
    assert page.startswith("<iframe srcdoc=")
    outside = page.replace("http://www.w3.org/", "").replace("https://www.w3.org/", "")  # XML namespaces, not fetched
    assert "http://" not in outside and "https://" not in outside  # offline: nothing to fetch
    console = Console(width=120, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(run)
    text = console.export_text()
    shown = ok(attn("process", ["explain", TEXT], env={"COLUMNS": "120", "NO_COLOR": "1"})).stdout
    assert [line.rstrip() for line in text.split("\n")[:6]] == shown.split("\n")[:6]  # the CLI drops padding


def test_heads_is_attn_heads_json(model):
    doc = ok(attn("process", ["heads", "--json", "--induction-samples", "3", "--workers", "1"])).json()
    result = attncli.heads(model, induction_samples=3)
    for h in doc["heads"]:
        for score, value in h["scores"].items():
            assert abs(float(result.scores[score][h["layer"], h["head"]]) - value) <= 1e-6
        assert result.roles[h["layer"]][h["head"]] == h["roles"]
    assert result.texts == doc["corpus"]["texts"]
