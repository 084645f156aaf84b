"""Bad input to attn train and attn eval: one stderr line, a non-zero exit, nothing lost."""

from __future__ import annotations

import json
import re

import pytest

from attncli.checkpoints import native
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok
from helpers.train_helpers import TINY_FLAGS, write_corpus


@pytest.fixture(params=HOWS)
def how(request) -> str:
    return request.param


def fails(run, code: int, *fragments: str) -> str:
    assert run.code == code, (run.how, run.code, run.stderr)
    message = assert_one_error_line(run)
    for f in fragments:
        assert f in message, message
    assert run.stdout == ""
    return message


def test_empty_corpus(tmp_path, how):
    for content in ("", "  \n\n \n"):
        (tmp_path / "empty.txt").write_text(content, encoding="utf-8")
        run = attn(how, ["train", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "m"), *TINY_FLAGS])
        fails(run, 2, "empty.txt", "empty")
    assert not (tmp_path / "m").exists()


def test_corpus_not_utf8(tmp_path, how):
    (tmp_path / "latin1.txt").write_bytes("once upon a time, a caf\u00e9.\n".encode("latin-1"))
    run = attn(how, ["train", str(tmp_path / "latin1.txt"), "--out", str(tmp_path / "m"), *TINY_FLAGS])
    fails(run, 2, "not UTF-8", "0xe9")
    assert not (tmp_path / "m").exists()


def test_missing_corpus(tmp_path, how):
    fails(attn(how, ["train", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "m")]), 2, "no such file")


def test_corpus_too_small_for_the_context(tmp_path, how):
    """The same kind of mistake as an empty corpus, so the same exit status: usage, 2."""
    (tmp_path / "small.txt").write_text("the cat sat on the mat.\n", encoding="utf-8")
    flags = [f for f in TINY_FLAGS]
    flags[flags.index("--context") + 1] = "64"
    run = attn(how, ["train", str(tmp_path / "small.txt"), "--out", str(tmp_path / "m"), *flags])
    fails(run, 2, "too few for --context 64", "smaller --context")
    assert not (tmp_path / "m").exists()


def test_validation_text_too_small_for_the_context(tmp_path, how):
    corpus = write_corpus(tmp_path)
    (tmp_path / "valid.txt").write_text("the cat sat.\n", encoding="utf-8")
    run = attn(how, ["train", str(corpus), "--out", str(tmp_path / "m"), "--valid", str(tmp_path / "valid.txt"), *TINY_FLAGS])
    fails(run, 2, "valid.txt", "too few for --context 16", "longer validation text")
    assert not (tmp_path / "m").exists()


def test_a_folder_for_a_text(tmp_path, how, tiny_model_dir):
    """`attn eval /tmp` and `attn train /tmp` say what to give instead."""
    fails(attn(how, ["eval", str(tmp_path), "--model", str(tiny_model_dir)]), 2, "is a folder", "UTF-8 text file")
    fails(attn(how, ["train", str(tmp_path), "--out", str(tmp_path / "m"), *TINY_FLAGS]), 2, "is a folder", "corpus")
    corpus = write_corpus(tmp_path)
    fails(attn(how, ["train", str(corpus), "--out", str(tmp_path / "m"), "--valid", str(tmp_path), *TINY_FLAGS]), 2,
          "is a folder", "validation file")


def test_existing_out_without_force_is_left_alone(tmp_path, how):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    run = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "2", *TINY_FLAGS])
    fails(run, 2, "already exists", "--force", "--resume")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "2", "--force", *TINY_FLAGS]))
    assert (out / "model.safetensors").is_file()


def test_out_is_a_file(tmp_path, how):
    corpus = write_corpus(tmp_path)
    (tmp_path / "f").write_text("x", encoding="utf-8")
    fails(attn(how, ["train", str(corpus), "--out", str(tmp_path / "f"), *TINY_FLAGS]), 2, "not a directory", "give --out a directory")


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path, how):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "m"
    # A learning rate of 1e30 throws the weights to ~1e30 in one step; the next forward overflows.
    run = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "20", "--lr", "1e30",
                     "--checkpoint-every", "1", *TINY_FLAGS])
    message = fails(run, 1, "NaN", "lower --lr")
    nan_step, kept = map(int, re.search(r"NaN at step (\d+).*checkpoint \(step (\d+)\)", message).groups())
    assert kept == nan_step - 1 >= 1
    assert json.loads((out / "train_state.json").read_text())["step"] == kept
    assert native.load(out).card["steps"] == kept


def test_nan_loss_on_resume_loses_nothing(tmp_path, how):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "m"
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "3", *TINY_FLAGS]))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    run = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "20", "--lr", "1e30", "--resume", *TINY_FLAGS])
    fails(run, 1, "NaN", "checkpoint (step 3) is kept")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_nan_before_any_checkpoint_says_so_and_leaves_no_folder(tmp_path, how):
    corpus = write_corpus(tmp_path)
    for out in (tmp_path / "m", tmp_path / "new" / "nested" / "m"):
        run = attn(how, ["train", str(corpus), "--out", str(out), "--steps", "20", "--lr", "1e30", *TINY_FLAGS])
        fails(run, 1, "NaN", "no checkpoint was written yet", f"{out} was removed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]  # nor the folders made for it


def test_nan_before_any_checkpoint_keeps_what_was_there(tmp_path, how):
    """An empty folder given as --out stays; a model trained before, overwritten with --force, stays whole."""
    corpus = write_corpus(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    run = attn(how, ["train", str(corpus), "--out", str(empty), "--steps", "20", "--lr", "1e30", *TINY_FLAGS])
    fails(run, 1, "NaN", f"{empty} is as it was")
    assert empty.is_dir() and list(empty.iterdir()) == []

    trained = tmp_path / "trained"
    ok(attn(how, ["train", str(corpus), "--out", str(trained), "--steps", "2", *TINY_FLAGS]))
    (trained / "notes.txt").write_text("mine", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    run = attn(how, ["train", str(corpus), "--out", str(trained), "--steps", "20", "--lr", "1e30", "--force", *TINY_FLAGS])
    fails(run, 1, "NaN", f"{trained} is as it was")
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before


@pytest.mark.parametrize("flag, value, fragment", [("--d-model", "15", "multiple of --heads"), ("--lr", "-1", "--lr"),
                                                   ("--dtype", "int8", "--dtype"), ("--steps", "0", "--steps"),
                                                   ("--vocab-size", "100", "--vocab-size")])
def test_bad_option_values(tmp_path, how, flag, value, fragment):
    corpus = write_corpus(tmp_path)
    flags = [*TINY_FLAGS, flag, value]
    fails(attn(how, ["train", str(corpus), "--out", str(tmp_path / "m"), *flags]), 2, fragment)
    assert not (tmp_path / "m").exists()


def test_eval_bad_text(tmp_path, how, tiny_model_dir):
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00x")
    fails(attn(how, ["eval", str(tmp_path / "bin.txt"), "--model", str(tiny_model_dir)]), 2, "not UTF-8")
    (tmp_path / "e.txt").write_text("", encoding="utf-8")
    fails(attn(how, ["eval", str(tmp_path / "e.txt"), "--model", str(tiny_model_dir)]), 2, "empty")
    (tmp_path / "digits.txt").write_text("1234 5678\n", encoding="utf-8")
    fails(attn(how, ["eval", str(tmp_path / "digits.txt"), "--model", str(tiny_model_dir)]), 2, "no words")
