"""`attn compare A B`: two sentences aligned, and what changed in attention, vectors and predictions;
with --word, how far one word's meaning moves between them, layer by layer."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import UsageError
from .common import (AblateModeOpt, AblateOpt, ColorOpt, JsonOpt, MaxMemoryOpt, ModelOpt, TopKOpt, default_view,
                     emit_json, load_model, noted, show)


def compare(
    text_a: str = typer.Argument(..., help="The first sentence (A)."),
    text_b: str = typer.Argument(..., help="The second sentence (B)."),
    model_spec: Optional[str] = ModelOpt,
    max_memory: Optional[str] = MaxMemoryOpt,
    layer: Optional[int] = typer.Option(None, "--layer", "-l", help="Which layer's attention to compare (negative counts from the end)."),
    head: Optional[str] = typer.Option(None, "--head", help="A head number, or 'mean' for the average of the layer's heads."),
    word: Optional[str] = typer.Option(None, "--word", help="A word of both texts: how far its vector in A is from its vector in B, layer by layer (meaning in context)."),
    control: Optional[str] = typer.Option(None, "--control", help="With --word: the word to set beside it, whose sense does not change. Default: a word both texts share."),
    top_k: int = TopKOpt,
    ablate: Optional[str] = AblateOpt,
    ablate_mode: str = AblateModeOpt,
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    """Compare two sentences: aligned tokens, change in attention, contextual vectors and predictions; --word: one word's meaning in each."""
    from ..analysis.compare import compare as run_compare
    from ..analysis.compare import vector_names, word_distance
    from ..analysis.embedding import cosine_similarity, pool, pooling_of
    from ..views import resolve_head, resolve_layer

    if control is not None and word is None:
        raise UsageError("--control is the word set beside --word; add --word WORD")
    model = load_model(model_spec, ablate, ablate_mode, max_memory=max_memory)
    d_layer, d_head = default_view(model)
    L = resolve_layer(layer, model.config.n_layer, d_layer)
    h = resolve_head(head, model.config.n_head, d_head)
    tokens = (model.encode(text_a)[0], model.encode(text_b)[0])
    names = vector_names(model.config)
    captured: list[dict] = [{}, {}]

    def keep(side: int, name: str):
        def hook(x):
            captured[side][name] = x
            return x
        return hook

    pooling = pooling_of(model.card)
    last = "ln_final" if model.config.block_norm == "pre" else names[-1]  # what a sentence embedding pools
    traces = []
    for side, toks in enumerate(tokens):
        hooks = {n: keep(side, n) for n in (names if word is not None else [])}
        if pooling is not None:
            hooks[last] = keep(side, last)
        traces.append(model.forward([t.id for t in toks], layers=[L], hooks=hooks))
    # where each text's predictions are read: after the last token, at a mask, or nowhere
    where = (model.task.where(model, tokens[0]), model.task.where(model, tokens[1]))
    at = None if where[0] is None or where[1] is None else (where[0], where[1])
    result = run_compare(traces[0], traces[1], L, h, top_k, at=at)
    meaning = None if word is None else word_distance(*captured, tokens, (text_a, text_b), word, control)
    similarity = None
    if pooling is not None:
        similarity = {**pooling, "cosine_similarity": cosine_similarity(pool(captured[0][last], pooling),
                                                                         pool(captured[1][last], pooling))}
    if as_json:
        from ..render.json_analysis import compare_doc

        emit_json(compare_doc(model, (text_a, text_b), tokens, result, top_k, meaning=meaning, similarity=similarity,
                              at=at))
        return
    from ..render.compare import compare_view

    show(noted(model, compare_view(result, (text_a, text_b), tokens, model.tokenizer, meaning=meaning,
                                   similarity=similarity, at=at, model=model)))
