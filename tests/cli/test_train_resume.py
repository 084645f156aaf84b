"""--resume continues at the saved step with the saved weights, optimizer moments and RNG:
an interrupted run that is resumed ends with exactly the weights of an uninterrupted one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from attncli.errors import Interrupted, TrainingError
from attncli.train.trainer import TrainOptions, train
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok
from helpers.train_helpers import TINY_FLAGS, TINY_OPTIONS, write_corpus


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    corpus = write_corpus(tmp_path)
    train(TrainOptions(corpus=corpus, out=tmp_path / "whole", steps=12, seed=3, **TINY_OPTIONS))

    pressed = []  # what Ctrl-C does in the CLI: stop() says so from then on, and train() stops after the step

    def ctrl_c_at_5(p):
        if p.phase == "train" and p.step == 5:
            pressed.append(True)

    with pytest.raises(Interrupted, match="interrupted at step 5"):
        train(TrainOptions(corpus=corpus, out=tmp_path / "split", steps=12, seed=3, **TINY_OPTIONS), ctrl_c_at_5,
              stop=lambda: bool(pressed))
    state = json.loads((tmp_path / "split" / "train_state.json").read_text())
    assert state["step"] == 5 and state["adam_step"] == 5

    steps = []
    train(TrainOptions(corpus=corpus, out=tmp_path / "split", steps=12, seed=3, resume=True, **TINY_OPTIONS),
          lambda p: steps.append(p.step) if p.phase == "train" else None)
    assert steps == list(range(6, 13))
    whole = load_file(str(tmp_path / "whole" / "train_state.safetensors"))
    split = load_file(str(tmp_path / "split" / "train_state.safetensors"))
    for name in whole:
        assert np.array_equal(whole[name], split[name]), name


@pytest.mark.parametrize("how", HOWS)
def test_resume_through_the_cli(tmp_path, how):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "m"
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "4", *TINY_FLAGS]))
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "9", "--resume", *TINY_FLAGS]))
    card = json.loads((out / "config.json").read_text())["card"]
    state = json.loads((out / "train_state.json").read_text())
    assert card["steps"] == 9 and state["step"] == 9 and state["adam_step"] == 9
    assert card["tokens_seen"] == 9 * 8 * 16  # steps x batch x context
    first, second = card["training_command"].split(" && ")
    assert "--steps 4" in first and "--resume" not in first
    assert "--steps 9" in second and "--resume" in second

    again = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "9", "--resume", *TINY_FLAGS])
    assert again.code == 2  # a --steps that asks for no more training is a usage mistake
    assert "already trained for 9 steps" in assert_one_error_line(again)


def test_resume_without_a_saved_run_is_an_error(tmp_path):
    corpus = write_corpus(tmp_path)
    with pytest.raises(TrainingError, match="train_state.safetensors is missing"):
        train(TrainOptions(corpus=corpus, out=tmp_path / "none", steps=3, resume=True, **TINY_OPTIONS))
