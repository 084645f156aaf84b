"""--rollout: attention rollout across all layers (Abnar and Zuidema, 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import Context, Mode, Option, Renderable
from .shared import TOP_K, predictions

if TYPE_CHECKING:
    import numpy as np

    from ..model import Prediction

FLAG = Option("rollout", ("--rollout",), bool, False, "Attention rollout across all layers (Abnar and Zuidema, 2020).",
              order=21)


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class Rollout:
    weights: np.ndarray  # [T, T]: how much of each query's last vector comes from each input token
    predictions: list[Prediction]  # the next tokens after the text; [] for an encoder


def run(c: Context) -> Rollout:
    from ..analysis.rollout import rollout

    return Rollout(rollout(c.trace), predictions(c))


def rich(r: Rollout, c: Context, width: int) -> Renderable:
    from ..render.analysis import rollout_table

    return rollout_table(r.weights, c.trace.mask, c.tokens)


def json(r: Rollout, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import rollout_doc

    return rollout_doc(c.model, c.text, c.tokens, r.weights, c.trace.mask, r.predictions, c.truncated)


MODE = Mode("rollout", FLAG, Rollout, run, rich, json, options=(TOP_K,), all_layers=True)
