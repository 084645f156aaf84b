"""A run's files are a function of its options: a second run with the same seed writes what the
first did, and a run stopped and resumed writes what an uninterrupted one does: every file of the
model directory and of the training state, for both objectives, with --valid (the held-out numbers
in the card) and --dtype float16 (the rounding of model.safetensors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attncli.errors import Interrupted
from attncli.train.trainer import TrainOptions, train
from helpers.train_helpers import TINY_OPTIONS, write_corpus


def without_run_details(doc: Any) -> Any:
    """A JSON document less what differs between two runs of the same options: the wall times, and
    the options that say where the run wrote and whether it resumed."""
    if isinstance(doc, dict):
        return {k: without_run_details(v) for k, v in doc.items()
                if k != "wall_time_s" and not (k in ("out", "resume") and "corpus" in doc)}
    return [without_run_details(v) for v in doc] if isinstance(doc, list) else doc


def contents(folder: Path) -> dict[str, Any]:
    """Each file as two runs must share it: JSON parsed (keys in their order), less its run details;
    safetensors as its header, parsed, and its data bytes (safetensors writes its metadata's keys in
    hash order, which changes from one save to the next, so the header's bytes may differ)."""
    files: dict[str, Any] = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        if path.suffix == ".json":
            files[path.name] = list(without_run_details(json.loads(data)).items())
        elif path.suffix == ".safetensors":
            n = int.from_bytes(data[:8], "little")
            files[path.name] = (json.loads(data[8:8 + n]), data[8 + n:])
        else:
            files[path.name] = data
    return files


@pytest.fixture(params=["causal", "mlm"])
def options(request, tmp_path) -> dict[str, Any]:
    corpus, valid = write_corpus(tmp_path), write_corpus(tmp_path, "valid.txt", n_stories=10, seed=1)
    return dict(TINY_OPTIONS, corpus=corpus, valid=valid, steps=12, seed=3, checkpoint_every=4, dtype="float16",
                lowercase=True, name="m", objective=request.param)


def test_a_second_run_writes_the_same_files(tmp_path, options):
    train(TrainOptions(out=tmp_path / "a", **options))
    train(TrainOptions(out=tmp_path / "b", **options))
    a, b = contents(tmp_path / "a"), contents(tmp_path / "b")
    assert sorted(a) == ["config.json", "model.safetensors", "tokenizer.json", "train_state.json",
                         "train_state.safetensors"]
    for name in a:
        assert a[name] == b[name], name


@pytest.mark.parametrize("stop_at", [5, 8])  # between checkpoints (one is made for the stop), and at one
def test_a_stopped_and_resumed_run_writes_the_files_of_an_uninterrupted_one(tmp_path, options, stop_at):
    train(TrainOptions(out=tmp_path / "whole", **options))
    pressed = []

    def stop_after(p):
        if p.phase == "train" and p.step == stop_at:
            pressed.append(True)

    with pytest.raises(Interrupted, match=f"interrupted at step {stop_at}"):
        train(TrainOptions(out=tmp_path / "split", **options), stop_after, stop=lambda: bool(pressed))
    assert json.loads((tmp_path / "split" / "train_state.json").read_text())["step"] == stop_at
    train(TrainOptions(out=tmp_path / "split", resume=True, **options))
    whole, split = contents(tmp_path / "whole"), contents(tmp_path / "split")
    assert sorted(whole) == sorted(split)
    for name in whole:
        assert whole[name] == split[name], name
