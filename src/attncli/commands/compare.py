"""`attn compare A B`: two sentences aligned, and what changed in attention, vectors and predictions."""

from __future__ import annotations

from typing import Optional

import typer

from .common import (AblateModeOpt, AblateOpt, ColorOpt, JsonOpt, MaxMemoryOpt, ModelOpt, TopKOpt, default_view,
                     emit_json, load_model, noted, show)


def compare(
    text_a: str = typer.Argument(..., help="The first sentence (A)."),
    text_b: str = typer.Argument(..., help="The second sentence (B)."),
    model_spec: Optional[str] = ModelOpt,
    max_memory: Optional[str] = MaxMemoryOpt,
    layer: Optional[int] = typer.Option(None, "--layer", "-l", help="Which layer's attention to compare (negative counts from the end)."),
    head: Optional[str] = typer.Option(None, "--head", help="A head number, or 'mean' for the average of the layer's heads."),
    top_k: int = TopKOpt,
    ablate: Optional[str] = AblateOpt,
    ablate_mode: str = AblateModeOpt,
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    """Compare two sentences: aligned tokens, change in attention, contextual vectors and predictions."""
    from ..analysis.compare import compare as run_compare
    from ..views import resolve_head, resolve_layer

    model = load_model(model_spec, ablate, ablate_mode, max_memory=max_memory)
    d_layer, d_head = default_view(model)
    L = resolve_layer(layer, model.config.n_layer, d_layer)
    h = resolve_head(head, model.config.n_head, d_head)
    tokens = (model.encode(text_a)[0], model.encode(text_b)[0])
    traces = [model.forward([t.id for t in toks], layers=[L]) for toks in tokens]
    result = run_compare(traces[0], traces[1], L, h, top_k)
    if as_json:
        from ..render.json_analysis import compare_doc

        emit_json(compare_doc(model, (text_a, text_b), tokens, result, top_k))
        return
    from ..render.compare import compare_view

    show(noted(model, compare_view(result, (text_a, text_b), tokens, model.tokenizer)))
