"""A model's task is chosen once from its config (tasks.py), answers every question the rest of
attncli asks about it, and words each refusal one way."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import attncli
from attncli import modes, tasks
from attncli.checkpoints import load
from attncli.errors import UsageError
from attncli.tasks import QUESTIONS, TASKS, Task, task_of

BUNDLED = {"bundled": "next-token", "bundled-mlm": "masked-lm"}


@pytest.fixture(scope="module")
def models():
    return {name: load(name) for name in BUNDLED}


def test_every_task_answers_every_question() -> None:
    names = [t.name for t in TASKS]
    assert len(set(names)) == len(names) == 3
    for task in TASKS:
        for question in QUESTIONS:
            assert isinstance(task.can(question), bool), (task.name, question)
        for field in dataclasses.fields(Task):
            value = getattr(task, field.name)
            assert value is not None and (not isinstance(value, str) or value.strip()), (task.name, field.name)
    # the three differ in what they predict: exactly one predicts the next token, one fills masks, one no words
    assert [t.next_token for t in TASKS].count(True) == 1
    assert [t.fills_masks for t in TASKS].count(True) == 1
    assert [t.words for t in TASKS].count(False) == 1


def test_a_task_never_claims_more_than_it_has() -> None:
    for task in TASKS:
        if task.next_token or task.fills_masks:
            assert task.words, task.name  # both read words from the vocabulary head
        assert not (task.next_token and task.fills_masks), task.name
        assert task.sees_both_sides != task.next_token, task.name


def test_every_mode_requirement_is_a_question() -> None:
    for m in modes.MODES.values():
        assert set(m.requires) <= set(QUESTIONS), m.name


@pytest.mark.parametrize("head, causal, expected", [("lm", True, "next-token"), ("mlm", False, "masked-lm"),
                                                    ("none", False, "sentence-embedding")])
def test_the_task_is_chosen_from_the_config(make_model_dir, head, causal, expected) -> None:
    extra = {} if causal else dict(block_norm="post", embed_norm=True, activation="gelu")
    model = load(make_model_dir(causal=causal, head=head, **extra))
    assert model.task is task_of(model.config) and model.task.name == expected


def test_the_bundled_models_tasks(models) -> None:
    for name, task in BUNDLED.items():
        assert models[name].task.name == task


def test_one_wording_for_each_refusal(models) -> None:
    """Every refusal of a missing capability reads: WHAT needs NEED; what the model is; the remedy."""
    mlm = models["bundled-mlm"]
    for what in ("--dla", "-g", "--generate", "attn patch"):
        with pytest.raises(UsageError) as e:
            mlm.task.require(mlm, what, "next_token")
        message = str(e.value)
        assert message.startswith(f"{what} needs a next-token model; bundled-mlm is a masked-language model")
        assert message.endswith(f"leave out {what}" if what.startswith("-") else mlm.task.instead)
    models["bundled"].task.require(models["bundled"], "--lens", "words", "next_token")  # no refusal


def test_the_default_query(models) -> None:
    mlm = models["bundled-mlm"]
    tokens, _ = mlm.encode("I do not [MASK] spinach")
    assert tokens[mlm.task.default_query(mlm, tokens)].id == mlm.tokenizer.mask_id
    causal = models["bundled"]
    tokens, _ = causal.encode("I do not like spinach")
    assert causal.task.default_query(causal, tokens) == len(tokens) - 1
    assert tasks.mask_indices(causal, tokens) == []


ASKS_THE_CONFIG = re.compile(r"\.is_encoder\b|config\.causal\b|config\.head\s*(==|!=|in\b)")
# The core (model.py, config.py, trace.py, checkpoints/, train/) keeps `causal` for the mask and `head` for its weights.
ASKERS = ("commands", "modes", "render", "tui", "analysis")


def test_only_the_task_is_asked_what_kind_of_model_this_is() -> None:
    src = Path(attncli.__file__).parent
    found = [f"{path.relative_to(src)}:{n}: {line.strip()}" for package in ASKERS
             for path in sorted((src / package).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ASKS_THE_CONFIG.search(line)]
    assert found == []
