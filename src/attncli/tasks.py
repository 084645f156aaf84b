"""What a model is for, chosen once from its config when it loads (Model.task): a next-token
language model, a masked-language model or a sentence encoder. The task owns what differs between
them: what a prediction is, the query a walkthrough opens on, what the tables end on, which
commands and modes apply, and the one wording of each refusal. The core keeps `causal` for the
mask; everything that asks "what kind of model is this" asks the task.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from .config import ModelConfig
from .errors import UsageError
from .tokenizer import MASK_ALIAS, Token

# model.py asks for its task (Model.task), so a model, its trace and its predictions are Any here.
Model: TypeAlias = Any
Trace: TypeAlias = Any
Prediction: TypeAlias = Any

@dataclass(frozen=True, eq=False)  # one object per task and per fill: identity is equality
class MaskFill:
    index: int  # the mask token's position
    predictions: list[Prediction]  # its top-k fillers, best first


def mask_indices(model: Model, tokens: list[Token]) -> list[int]:
    """The positions of the mask token in a text."""
    mask = model.tokenizer.mask_id
    return [t.index for t in tokens if mask is not None and t.id == mask]


class Refusal(UsageError):
    """A command or mode this model's task cannot do: "WHAT needs NEED; what the model is; REMEDY"."""

    def __init__(self, what: str, need: str, about: str, remedy: str) -> None:
        super().__init__(f"{what} needs {need}; {about}; {remedy}")
        self.need, self.about = need, about

    def named(self, name: str) -> str:
        """The refusal for a place that names the analysis otherwise and has no option to leave out (attn view)."""
        return f"{name} needs {self.need}; {self.about}"


# What a command or a mode may require of a task (Mode.requires), and how a refusal names the need.
QUESTIONS = {"words": "a vocabulary head", "next_token": "a next-token model", "fills_masks": "a masked-language model"}


@dataclass(frozen=True, eq=False)  # one object per task and per fill: identity is equality
class Task:
    name: str  # the JSON's "task": next-token, masked-lm or sentence-embedding
    words: bool  # a vocabulary head: logits over words at every position (the lens, the readout)
    next_token: bool  # it predicts the next token: predict, -g, --dla, attn patch
    fills_masks: bool  # it predicts the word at each [MASK] from both sides
    sees_both_sides: bool  # attention is bidirectional: every token sees every other (an encoder)
    what: str  # "{name} is ..." for refusals: what the model is and does instead
    instead: str  # what to use it for, where a command does not apply

    def can(self, question: str) -> bool:
        return bool(getattr(self, question))

    def refusal(self, model: Model, what: str, question: str) -> Refusal:
        """The one wording of "`what` needs what this task lacks": what is a flag (--lens) or a command."""
        remedy = f"leave out {what}" if what.startswith("-") else self.instead
        about = self.what.format(name=model.name, arch=model.config.architecture)
        return Refusal(what, QUESTIONS[question], about, remedy)

    def require(self, model: Model, what: str, *questions: str) -> None:
        """Refuse, as a usage error in the task's wording, `what` on a task that cannot answer each question."""
        for question in questions:
            if not self.can(question):
                raise self.refusal(model, what, question)

    def next_tokens(self, model: Model, trace: Trace, k: int, position: int = -1) -> list[Prediction]:
        """The top-k next tokens after `position`; [] where this task predicts no next token."""
        return model.predict(trace, k, position=position) if self.next_token else []

    def at(self, model: Model, trace: Trace, k: int, position: int) -> list[Prediction]:
        """What the last vector at `position` predicts: the next token, the word at its place, or nothing."""
        return model.predict(trace, k, position=position) if self.words else []

    def fills(self, model: Model, trace: Trace, tokens: list[Token], k: int) -> list[MaskFill] | None:
        """The top-k fillers of every mask, in order; None where this task fills none."""
        if not self.fills_masks:
            return None
        return [MaskFill(i, model.predict(trace, k, position=i)) for i in mask_indices(model, tokens)]

    def default_query(self, model: Model, tokens: list[Token]) -> int:
        """The query --steps and --summary open on: a next-token model's last token (whose vector
        predicts the next word); an encoder's first mask, else its last token that is not special."""
        if not self.next_token:
            masks = mask_indices(model, tokens)
            if masks:
                return masks[0]
            words = [t.index for t in tokens if not t.special]
            if words:
                return words[-1]
        return len(tokens) - 1

    def where(self, model: Model, tokens: list[Token]) -> int | None:
        """Where a text's prediction is read: after the last token (-1), at its first mask, or None."""
        if self.next_token:
            return -1
        if self.fills_masks:
            masks = mask_indices(model, tokens)
            return masks[0] if masks else None
        return None

    def require_masks(self, model: Model, tokens: list[Token]) -> list[int]:
        """The masks of a text given to a masked-language model; a usage error if it has none."""
        found = mask_indices(model, tokens)
        if self.fills_masks and not found:
            raise UsageError(f"{model.name} is a masked-language model: it fills in a masked word instead of "
                             f"continuing the text; put {MASK_ALIAS} where a word is missing, e.g. "
                             f"\"I do not {MASK_ALIAS} spinach\"")
        return found


NEXT_TOKEN = Task("next-token", words=True, next_token=True, fills_masks=False, sees_both_sides=False,
                  what="{name} is a next-token language model ({arch})", instead="use attn predict with it")
MASKED_LM = Task("masked-lm", words=True, next_token=False, fills_masks=True, sees_both_sides=True,
                 what=f"{{name}} is a masked-language model ({{arch}}) that fills in {MASK_ALIAS} from both sides "
                      "instead of predicting the next token",
                 instead=f"put {MASK_ALIAS} in the text and use attn predict or attn explain with it")
SENTENCE_ENCODER = Task("sentence-embedding", words=False, next_token=False, fills_masks=False,
                        sees_both_sides=True,
                        what="{name} is a sentence encoder ({arch}, no vocabulary head): it turns a text into vectors "
                             "to compare, so it cannot predict words",
                        instead="use attn explain or attn compare with it")

TASKS = (NEXT_TOKEN, MASKED_LM, SENTENCE_ENCODER)


def task_of(config: ModelConfig) -> Task:
    """The task a config describes: no vocabulary head is a sentence encoder; a vocabulary head on a
    bidirectional model fills masks; on a causal one it predicts the next token. (A causal model
    without a vocabulary head, which no loader makes, is a sentence encoder whose tokens see only
    what comes before them.)"""
    if config.head == "none":
        return SENTENCE_ENCODER if not config.causal else replace(SENTENCE_ENCODER, sees_both_sides=False)
    return NEXT_TOKEN if config.causal else MASKED_LM
