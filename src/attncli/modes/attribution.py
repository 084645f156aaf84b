"""--attribution: rank the input tokens by how much leaving each out changes what the model predicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .base import Context, Mode, Option, Renderable

if TYPE_CHECKING:
    from ..analysis.attribution import Attribution

FLAG = Option("attribution", ("--attribution",), bool, False, "Rank the input tokens by how much leaving each out "
              "lowers the top prediction's probability.", order=20)
LEFT_OUT = "leaving out each token"


@dataclass(eq=False)  # a mode's result (arrays inside, which == cannot compare): equal only to itself
class AttributionResult:
    attribution: Attribution  # each token's leave-one-out change, and the ranking


def run(c: Context) -> AttributionResult:
    """Leave-one-out on what the model predicts: the next token (causal), the first mask's filler
    (masked-LM), or the sentence embedding (a sentence encoder, which predicts no words)."""
    from ..analysis.attribution import embedding_leave_one_out, leave_one_out
    from ..tasks import mask_indices

    m, ids = c.model, c.trace.ids.tolist()
    if not m.task.words:
        from ..analysis.embedding import pooling_of, sentence_embedding

        last = [m.config.n_layer - 1]  # the pooled vectors are the last layer's
        return AttributionResult(embedding_leave_one_out(lambda x: m.forward(list(x), layers=last), ids,
                                                         lambda t: sentence_embedding(t, pooling_of(m.card)),
                                                         progress=c.told(LEFT_OUT)))
    position = None
    if m.task.fills_masks:
        if not mask_indices(m, c.tokens):
            raise UsageError("--attribution on a masked-language model measures the masked word's probability: "
                             "put [MASK] in the text, e.g. \"I do not [MASK] spinach\"")
        position = mask_indices(m, c.tokens)[0]
    return AttributionResult(leave_one_out(lambda x: m.forward(list(x), layers=[]), ids, full=c.trace,
                                           position=position, progress=c.told(LEFT_OUT)))


def rich(r: AttributionResult, c: Context, width: int) -> Renderable:
    from ..analysis.embedding import describe, pooling_of
    from ..render.analysis import attribution_bars

    a = r.attribution
    target = "" if a.measure == "embedding" else c.model.tokenizer.display(a.target)
    return attribution_bars(a, c.tokens, target, c.text, pooling=describe(pooling_of(c.model.card)))


def json(r: AttributionResult, c: Context) -> dict[str, Any]:
    from ..render.json_analysis import attribution_doc

    return attribution_doc(c.model, c.text, c.tokens, r.attribution, c.truncated)


MODE = Mode("attribution", FLAG, AttributionResult, run, rich, json)
