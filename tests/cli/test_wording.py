"""Words that should agree with the numbers they describe: plurals, ranges of layers, empty fields."""

from __future__ import annotations

import pytest

from helpers.run_cli import HOWS, attn, ok


@pytest.mark.parametrize("how", HOWS)
def test_the_walkthrough_names_the_layers_before_the_one_it_shows(how, make_model_dir):
    deep = make_model_dir(n_layer=3)
    one = ok(attn(how, ["explain", "I do not like spinach", "-m", str(deep), "--steps", "--layer", "1", "--head", "0"]))
    assert "changed by layer 0;" in one.stdout.replace("\n", " ") and "layers 0 to 0" not in one.stdout
    two = ok(attn(how, ["explain", "I do not like spinach", "-m", str(deep), "--steps", "--layer", "2", "--head", "0"]))
    assert "changed by layers 0 to 1" in " ".join(two.stdout.split())


@pytest.mark.parametrize("how", HOWS)
def test_info_leaves_out_what_the_card_leaves_empty(how, make_model_dir):
    path = make_model_dir(card={"description": "test model", "valid_file": None, "corpus": "c.txt"})
    run = ok(attn(how, ["info", "-m", str(path)]))
    assert "None" not in run.stdout and "valid_file" not in run.stdout
    assert "c.txt" in run.stdout
    assert ok(attn(how, ["info", "-m", str(path), "--json"])).json()["info"]["card"]["valid_file"] is None


@pytest.mark.parametrize("how", HOWS)
def test_eval_counts_in_words_that_agree(how, tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("once upon a time.\n", encoding="utf-8")
    run = ok(attn(how, ["eval", str(one)]))
    first = run.stdout.splitlines()[0]
    assert " 1 tokens" not in first and " 1 words" not in first
    assert "tokens" in first and "words" in first  # several of each here
    from attncli.commands.train import count

    assert (count(1, "token"), count(2, "token"), count(2048, "word")) == ("1 token", "2 tokens", "2,048 words")
