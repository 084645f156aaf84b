"""Direct logit attribution: how much each head and each MLP writes toward one token's logit.

In a pre-norm model the stream after the last block is a sum: the embeddings, every head's
output (its slice of attn.z through its rows of W_O), every attention output bias and every
MLP's output. The final norm is not linear, but at one position its scale is one number (and,
for LayerNorm, its centering a linear map): holding that scale fixed, as TransformerLens does,
makes the logit a sum over those parts, exactly. Each part's share is its contribution.

DLA says what a part writes directly into the logit; it ignores what later layers do with that
part's output (a head that only feeds later heads shows 0 here).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import UsageError
from ..model import Model
from ..readout import attn_out_bias, frozen_norm, head_writes, logit_direction
from ..trace import Trace, block_output


class DLA(NamedTuple):
    query: int
    target: int
    contrast: int | None  # with --contrast: contributions to logit[target] - logit[contrast]
    heads: np.ndarray  # [n_layer, H] float64
    mlps: np.ndarray  # [n_layer]
    embed: float  # the token (and position) embeddings
    biases: float  # attention output biases, the final norm's bias, the unembedding's bias
    total: float  # the sum of every part above
    logit: float  # the model's own logit (difference), from the trace


def direct_logit_attribution(model: Model, trace: Trace, query: int, target: int | None = None,
                             contrast: int | None = None) -> DLA:
    c = model.config
    model.task.require(model, "--dla", "next_token")
    if c.block_norm == "post":
        raise UsageError("--dla needs a pre-norm model with a next-token head: in a post-norm encoder (BERT) every "
                         "block renormalizes the stream, so its logit is not a sum of the blocks' outputs")
    if trace.layers != list(range(c.n_layer)):
        raise UsageError("--dla reads every layer; this text is too long to keep them all: shorten it")
    logits = trace["logits"][query]  # [V]
    if target is None:
        target = int(np.argmax(logits))
    if contrast == target:
        raise UsageError("--contrast is the same token as the target; give another word")
    H = c.n_head
    direction, unembed_bias = logit_direction(model, target, contrast)  # [d]
    final_map, final_bias = frozen_norm(model, "ln_final", trace[block_output(c, c.n_layer - 1)][query])

    def score(v: np.ndarray) -> np.ndarray:
        return final_map(v) @ direction  # [..., d] -> [...]

    embed = trace["embed"][query].astype(np.float64)
    if "pos_embed" in trace:
        embed = embed + trace["pos_embed"][query]
    heads = np.zeros((c.n_layer, H))
    mlps = np.zeros(c.n_layer)
    biases = float(final_bias @ direction) + unembed_bias
    for L in range(c.n_layer):
        per_head = head_writes(model, L, trace[f"blocks.{L}.attn.z"][:, query])  # [H, d]: what each head adds
        b_O = attn_out_bias(model, L)  # [d]
        mlp = trace[f"blocks.{L}.mlp.out"][query].astype(np.float64)  # [d]
        if c.sandwich_norms:  # Gemma 3: each sublayer's output is normed before it joins the stream
            attn_map, attn_const = frozen_norm(model, f"blocks.{L}.ln1_post", trace[f"blocks.{L}.attn.out"][query])
            mlp_map, mlp_const = frozen_norm(model, f"blocks.{L}.ln2_post", mlp)
            per_head, b_O = attn_map(per_head), attn_map(b_O) + attn_const  # [H, d], [d]
            mlp = mlp_map(mlp) + mlp_const
        heads[L] = score(per_head)  # [H]
        mlps[L] = float(score(mlp))
        biases += float(score(b_O))
    total = float(heads.sum() + mlps.sum() + score(embed) + biases)
    logit = float(logits[target]) - (float(logits[contrast]) if contrast is not None else 0.0)
    return DLA(query, target, contrast, heads, mlps, float(score(embed)), biases, total, logit)
