"""`attn info` (the model card), `attn --version` and `attn --help`."""

from __future__ import annotations

import json
import re
from importlib.metadata import version

import pytest

from helpers.known_models import PROVISIONAL_NOTE
from helpers.references import read_model
from helpers.run_cli import HOWS, Call, Run, attn_all, ok
from helpers.schema import validate
from helpers.scrape import card_row


@pytest.fixture(scope="module", params=HOWS)
def runs(request, known, provisional_dir) -> dict[str, Run]:
    return attn_all(request.param, {
        "table": Call(["info", "-m", str(known.path)]),
        "json": Call(["info", "-m", str(known.path), "--json"]),
        "provisional": Call(["info", "-m", str(provisional_dir)]),
        "bundled": Call(["info"]),
        "bundled-json": Call(["info", "--json"]),
        "version": Call(["--version"]),
        "help": Call(["--help"]),
    })


def n_params(path) -> int:
    _, tensors = read_model(path)
    return sum(t.size for t in tensors.values())


def test_table_is_the_model_card(runs, known):
    out = ok(runs["table"]).stdout
    hp = json.loads((known.path / "config.json").read_text())["model"]
    assert card_row(out, "name") == "known"
    assert card_row(out, "parameters") == str(n_params(known.path))
    assert card_row(out, "vocab_size") == str(hp["vocab_size"])
    assert card_row(out, "context_length") == "16"
    assert card_row(out, "n_layer") == "2" and card_row(out, "n_head") == "2" and card_row(out, "d_model") == "16"
    assert card_row(out, "architecture") == "gpt2"
    assert "weights set by hand for tests" in out  # the card says where the weights came from


def test_json_is_the_same_card(runs, known):
    info = ok(runs["json"]).json()["info"]
    assert info["parameters"] == n_params(known.path)
    assert (info["name"], info["context_length"], info["n_layer"], info["n_head"]) == ("known", 16, 2, 2)
    assert info["card"] == {"description": "weights set by hand for tests"}
    assert info["source"] == str(known.path)


def test_a_provisional_model_says_so(runs):
    assert PROVISIONAL_NOTE in ok(runs["provisional"]).stdout


def test_bundled_model_card(runs):
    from attncli.checkpoints import bundled_path

    assert ok(runs["bundled"]).stdout.strip()
    doc = ok(runs["bundled-json"]).json()
    validate(doc)
    info = doc["info"]
    # the bundled model's family is fixed (its weights are not): 2 layers, 4 heads, context 64
    assert (info["n_layer"], info["n_head"], info["context_length"]) == (2, 4, 64)
    assert info["parameters"] == n_params(bundled_path())


def test_version(runs):
    assert ok(runs["version"]).stdout == f"attn {version('attncli')}\n"


def test_help_lists_the_commands(runs):
    out = ok(runs["help"]).stdout
    for command in ("explain", "predict", "info"):
        assert re.search(rf"\b{command}\b", out)
