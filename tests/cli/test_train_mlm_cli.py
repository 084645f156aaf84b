"""attn train --objective mlm and attn eval --objective mlm, end to end: the directory it writes
loads in attncli's format and runs through the core forward; the same guarantees as causal
training (seed -> weights, --resume, NaN stop); one-line refusals for the wrong objective."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from attncli.checkpoints import native
from attncli.errors import Interrupted
from attncli.train import mlm
from attncli.train.trainer import TrainOptions, train
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok
from helpers.schema import validate
from helpers.train_helpers import TINY_FLAGS, TINY_OPTIONS, write_corpus

MLM_FLAGS = ["--objective", "mlm", *TINY_FLAGS]
MLM_OPTIONS = dict(TINY_OPTIONS, objective="mlm")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlm")
    corpus = write_corpus(tmp)
    valid = write_corpus(tmp, "valid.txt", n_stories=20, seed=1)
    out = tmp / "m"
    run = ok(attn("runner", ["train", str(corpus), "--out", str(out), "--valid", str(valid), "--steps", "80",
                             "--lr", "0.005", "--lowercase", *MLM_FLAGS]))
    return corpus, valid, out, run


def test_the_directory_and_its_card(trained):
    corpus, valid, out, run = trained
    doc = json.loads((out / "config.json").read_text())
    assert doc["format_version"] == 4  # block_norm: format 4's name for version 3's post_norm
    hp = doc["model"]
    assert (hp["causal"], hp["block_norm"], hp["embed_norm"], hp["head"], hp["architecture"]) == (False, "post", True, "mlm", "bert")
    card = doc["card"]
    assert card["objective"] == "mlm" and card["steps"] == 80 and card["tokens_seen"] == 80 * 8 * 16
    assert "--objective mlm" in card["training_command"] and "--lowercase" in card["training_command"]
    assert "masked-language model" in card["description"] and "WordPiece" in card["description"]
    assert 0 <= card["valid_top1"] <= card["valid_top5"] <= 1 and card["valid_masked_tokens"] > 0
    assert card["valid_mask_seed"] == 0 and card["valid_loss_masked"] > 0
    assert re.search(r"masked-token top-1 [\d.]+%, top-5 [\d.]+%", run.stdout)


def test_saved_weights_run_through_the_core_forward(trained):
    _, _, out, _ = trained
    model = native.load(out)
    assert mlm.supported(model.config) and model.config.is_encoder
    state = load_file(str(out / "train_state.safetensors"))
    params = {k.removeprefix("param."): v for k, v in state.items() if k.startswith("param.")}
    ids = np.array([model.tokenizer.backend.encode("once upon a [MASK] the cat saw a ball.").ids])  # [CLS] ... [SEP]
    assert ids[0, 0] == 2 and ids[0, -1] == 3 and 4 in ids
    T = ids.shape[1]
    logits, _ = mlm.forward(params, model.config, ids, np.arange(T))
    np.testing.assert_allclose(model.forward(ids[0])["logits"], logits, atol=1e-5)  # float32 weights, saved as they train


def test_eval_defaults_to_the_objective_the_model_was_made_for(trained, how_json):
    _, valid, out, _ = trained
    how, as_json = how_json
    flags = ["--json"] if as_json else []
    plain = ok(attn(how, ["eval", str(valid), "-m", str(out), *flags]))
    explicit = ok(attn(how, ["eval", str(valid), "-m", str(out), "--objective", "mlm", *flags]))
    assert plain.stdout == explicit.stdout
    card = native.load(out).card
    if as_json:
        doc = plain.json()
        validate(doc)
        assert doc["command"] == "eval-mlm" and doc["mask_seed"] == 0 and doc["k"] == 5
        assert (doc["top1_accuracy"], doc["topk_accuracy"], doc["masked_tokens"]) == pytest.approx(
            (card["valid_top1"], card["valid_top5"], card["valid_masked_tokens"]), abs=5e-5)
    else:
        assert f"top-1 accuracy   {card['valid_top1']:.2%}" in plain.stdout
        assert "masked tokens (15% of the tokens, all [MASK], seed 0" in plain.stdout


@pytest.fixture(params=[(h, j) for h in HOWS for j in (False, True)], ids=lambda p: f"{p[0]}-{'json' if p[1] else 'text'}")
def how_json(request):
    return request.param


@pytest.mark.parametrize("how", HOWS)
def test_the_wrong_objective_is_one_line(trained, tiny_model_dir, how):
    _, valid, out, _ = trained
    run = attn(how, ["eval", str(valid), "-m", str(out), "--objective", "causal"])
    assert run.code == 2 and "encoder" in assert_one_error_line(run) and "--objective mlm" in run.stderr
    run = attn(how, ["eval", str(valid), "-m", str(tiny_model_dir), "--objective", "mlm"])
    assert run.code == 2 and "no masked-LM head" in assert_one_error_line(run)
    run = attn(how, ["eval", str(valid), "-m", str(out), "--objective", "bert"])
    assert run.code == 2 and "--objective" in assert_one_error_line(run)
    run = attn(how, ["train", str(valid), "--out", str(out.parent / "x"), "--objective", "bert"])
    assert run.code == 2 and "--objective must be one of causal, mlm" in assert_one_error_line(run)
    assert not (out.parent / "x").exists()


def test_same_seed_same_weights(tmp_path):
    corpus = write_corpus(tmp_path)

    def run(name: str, seed: int) -> dict[str, np.ndarray]:
        train(TrainOptions(corpus=corpus, out=tmp_path / name, steps=15, seed=seed, **MLM_OPTIONS))
        return load_file(str(tmp_path / name / "model.safetensors"))

    a, b, c = run("a", 7), run("b", 7), run("c", 8)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert any(not np.array_equal(a[n], c[n]) for n in a)
    # the vocabulary too: tokenizers' WordPieceTrainer would number its ## pieces in hash order
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    corpus = write_corpus(tmp_path)
    train(TrainOptions(corpus=corpus, out=tmp_path / "whole", steps=12, seed=3, **MLM_OPTIONS))
    pressed = []

    def ctrl_c_at_5(p):
        if p.phase == "train" and p.step == 5:
            pressed.append(True)

    with pytest.raises(Interrupted, match="interrupted at step 5"):
        train(TrainOptions(corpus=corpus, out=tmp_path / "split", steps=12, seed=3, **MLM_OPTIONS), ctrl_c_at_5,
              stop=lambda: bool(pressed))
    train(TrainOptions(corpus=corpus, out=tmp_path / "split", steps=12, seed=3, resume=True, **MLM_OPTIONS))
    whole = load_file(str(tmp_path / "whole" / "train_state.safetensors"))
    split = load_file(str(tmp_path / "split" / "train_state.safetensors"))
    for name in whole:
        assert np.array_equal(whole[name], split[name]), name


@pytest.mark.parametrize("how", HOWS)
def test_resume_keeps_the_objective(tmp_path, how):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "m"
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "3", *MLM_FLAGS]))
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "5", "--resume", *MLM_FLAGS]))
    assert native.load(out).card["training_command"].count("--objective mlm") == 2
    run = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "8", "--resume", *TINY_FLAGS])
    assert run.code == 2 and "resume it with --objective mlm" in assert_one_error_line(run)  # a usage mistake


@pytest.mark.parametrize("how", HOWS)
def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path, how):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "m"
    run = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "20", "--lr", "1e30",
                     "--checkpoint-every", "1", *MLM_FLAGS])
    assert run.code == 1 and run.stdout == ""
    message = assert_one_error_line(run)
    nan_step, kept = map(int, re.search(r"NaN at step (\d+).*checkpoint \(step (\d+)\)", message).groups())
    assert kept == nan_step - 1 >= 1
    assert native.load(out).card["steps"] == kept
