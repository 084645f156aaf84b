"""What an encoder predicts. A masked-language model (BERT's MLM head) fills in each mask token
with its top-k words, read from the logits at the mask's own position; a sentence encoder has
no vocabulary head and predicts no words. A causal model predicts the next token (Model.predict)."""

from __future__ import annotations

from typing import NamedTuple

from ..errors import UsageError
from ..model import Model, Prediction
from ..tokenizer import MASK_ALIAS, Token
from ..trace import Trace


class MaskFill(NamedTuple):
    index: int  # the mask token's position
    predictions: list[Prediction]  # its top-k fillers, best first


def fills_masks(model: Model) -> bool:
    """An encoder with a vocabulary head: it predicts the word at a masked position, not the next one."""
    return model.config.is_encoder and model.config.head != "none"


def mask_indices(model: Model, tokens: list[Token]) -> list[int]:
    mask = model.tokenizer.mask_id
    return [t.index for t in tokens if mask is not None and t.id == mask]


def fill(model: Model, trace: Trace, tokens: list[Token], k: int) -> list[MaskFill]:
    """The top-k fillers of every mask of the text, in order; [] for a model that fills none."""
    if not fills_masks(model):
        return []
    return [MaskFill(i, model.predict(trace, k, position=i)) for i in mask_indices(model, tokens)]


def no_words(model: Model) -> str:
    """Why a sentence encoder cannot predict words, in one sentence."""
    return (f"{model.name} is a sentence encoder ({model.config.architecture}, no vocabulary head): it turns a text "
            "into vectors to compare, so it cannot predict words; use attn explain or attn compare with it")


def check_predicts(model: Model, generate: int = 0) -> None:
    """Refuse, in one line, what this model cannot predict: any word (a sentence encoder), or a
    continuation (--generate on a masked-language model)."""
    if model.config.is_encoder and model.config.head == "none":
        raise UsageError(no_words(model))
    if fills_masks(model) and generate:
        raise UsageError(f"--generate continues a text with a next-token model; {model.name} is a masked-language "
                         f"model that fills in {MASK_ALIAS} instead: leave out --generate")


def require_masks(model: Model, tokens: list[Token]) -> list[int]:
    """The masks of a text given to a masked-language model; a usage error if it has none."""
    found = mask_indices(model, tokens)
    if not found:
        raise UsageError(f"{model.name} is a masked-language model: it fills in a masked word instead of continuing "
                         f"the text; put {MASK_ALIAS} where a word is missing, e.g. \"I do not {MASK_ALIAS} spinach\"")
    return found


def default_query(model: Model, tokens: list[Token]) -> int:
    """The query token --steps and --summary open on: a causal model's last token (whose vector
    predicts the next word); an encoder's first mask, else its last token that is not special."""
    if model.config.is_encoder:
        masks = mask_indices(model, tokens)
        if masks:
            return masks[0]
        words = [t.index for t in tokens if not t.special]
        if words:
            return words[-1]
    return len(tokens) - 1
