"""The options several modes take, and the helpers they share; an option only one mode takes lives in its module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from .base import Context, Option, Renderable

LAYER = Option("layer", ("--layer", "-l"), Optional[int], None, "Which layer's attention to show (negative counts from "
               "the end). Default: the model's suggested layer, else 0.", order=10)
HEAD = Option("head", ("--head",), Optional[str], None, "A head number, 'mean' for the average of the layer's heads, "
              "or 'all' for every head side by side.", order=11)
TOP_K = Option("top_k", ("--top-k", "-k"), int, 5, "How many next-token predictions to show.", order=13, min=1)
DIMS = Option("dims", ("--dims",), int, 8, "How many dimensions of each contextual vector to show.", order=14, min=1)
TOKEN = Option("token", ("--token",), Optional[str], None, "The query token of --steps, --summary, --lens, --dla, "
               "--qk, or of a long text's table: its text (first match) or index. Default: the last.", order=17)
TARGET = Option("target", ("--target",), Optional[str], None, "With --lens or --dla: the word to track (default: the "
                "model's top prediction).", order=25)


def predictions(c: Context, position: int = -1) -> list[Any]:
    """What the model predicts after `position`: the next tokens (a next-token model); [] for an
    encoder, whose predictions are its masks' fillers (fills)."""
    return c.model.task.next_tokens(c.model, c.trace, c.top_k, position)


def fills(c: Context) -> list[Any] | None:
    """A masked-language model's top-k fillers of each mask; None for a model that fills none."""
    return c.model.task.fills(c.model, c.trace, c.tokens, c.top_k)


def query(c: Context) -> int:
    """--token, or the task's default query: the last token (causal), an encoder's first mask or last word."""
    from ..analysis.steps import resolve_token

    return resolve_token(c.token, c.tokens, c.model.task.default_query(c.model, c.tokens))


def words(c: Context, *given: str | None) -> tuple[list[int | None], list[str]]:
    """The token ids of --target/--contrast words, and a note for each word that is several tokens."""
    ids: list[int | None] = []
    notes: list[str] = []
    for word in given:
        if word is None:
            ids.append(None)
            continue
        i, note = c.model.tokenizer.word_id(word)
        ids.append(i)
        if note:
            notes.append(note)
    return ids, notes


def with_notes(renderable: Renderable, notes: list[str]) -> Renderable:
    """A renderable followed by the notes (in yellow) on the words it was given."""
    if not notes:
        return renderable
    from rich.console import Group
    from rich.text import Text

    from ..labels import printable

    return Group(renderable, *(Text(printable(n), style="yellow") for n in notes))


Progress = Callable[[int, int], None]
