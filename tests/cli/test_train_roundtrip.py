"""attn train writes a model directory that load, explain, predict, info and eval all read,
and whose weights give the same logits through model.forward as during training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attncli.checkpoints import native
from attncli.train import gpt
from helpers.run_cli import HOWS, attn, ok
from helpers.schema import validate
from helpers.train_helpers import TINY_FLAGS, write_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trained")
    corpus = write_corpus(tmp)
    valid = write_corpus(tmp, "valid.txt", n_stories=10, seed=1)
    out = tmp / "model"
    run = ok(attn("runner", ["train", str(corpus), "--out", str(out), "--valid", str(valid), "--steps", "60",
                             "--lr", "0.01", "--lowercase", *TINY_FLAGS]))
    return corpus, valid, out, run


def test_the_directory_and_its_card(trained):
    corpus, valid, out, run = trained
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json",
                                                     "train_state.json", "train_state.safetensors"]
    card = json.loads((out / "config.json").read_text())["card"]
    assert card["provisional"] is False
    assert card["corpus"] == "corpus.txt" and card["valid_file"] == "valid.txt"
    assert card["steps"] == 60 and card["tokens_seen"] == 60 * 8 * 16
    command = card["training_command"].split("attn train ", 1)[1]  # after an optional OPENBLAS_NUM_THREADS=n
    assert command.startswith(f"{corpus} --out {out} --valid {valid} ")
    assert "--lowercase" in card["training_command"]
    assert card["valid_ppl_token"] == pytest.approx(np.exp(card["valid_loss_token"]), rel=1e-3)
    for key in ("description", "corpus_license", "wall_time_s", "valid_ppl_word", "trained_by"):
        assert key in card
    assert "per word" in run.stdout


def test_loaded_weights_give_the_training_logits(trained):
    _, _, out, _ = trained
    model = native.load(out)
    ids = np.array([[model.tokenizer.backend.token_to_id("<|endoftext|>")] + [t.id for t in model.tokenizer.encode("once upon a time the cat saw a ball.")]])[:, :16]
    logits, _ = gpt.forward(model.params, model.config, ids)
    np.testing.assert_allclose(logits[0], model.forward(ids[0])["logits"], atol=1e-5)


@pytest.mark.parametrize("how", HOWS)
def test_explain_predict_info_eval_read_it(trained, how):
    _, valid, out, _ = trained
    ok(attn(how, ["explain", "the cat saw a ball", "--model", str(out)]))
    pred = ok(attn(how, ["predict", "once upon a", "--model", str(out), "--json"])).json()
    assert pred  # a document came back
    info = ok(attn(how, ["info", "--model", str(out)]))
    assert "corpus.txt" in info.stdout
    ev = ok(attn(how, ["eval", str(valid), "--model", str(out), "--json"])).json()
    card = json.loads((out / "config.json").read_text())["card"]
    assert ev["schema_version"] == "1.0" and ev["command"] == "eval"
    validate(ev)
    assert ev["perplexity_per_word"] == pytest.approx(card["valid_ppl_word"], rel=1e-3)
    assert ev["loss_per_token"] == pytest.approx(card["valid_loss_token"], abs=1e-3)
