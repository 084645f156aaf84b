"""`attn patch CLEAN CORRUPT`: which layer, position and head carry the difference between two texts."""

from __future__ import annotations

from typing import Optional

import typer

from .common import ColorOpt, JsonOpt, MaxMemoryOpt, ModelOpt, emit_json, load_model, progress, show


def patch(
    clean: str = typer.Argument(..., help="The clean text, e.g. \"I do not like spinach\"."),
    corrupt: str = typer.Argument(..., help="The corrupted text, e.g. \"I do like spinach\"."),
    model_spec: Optional[str] = ModelOpt,
    max_memory: Optional[str] = MaxMemoryOpt,
    target: Optional[str] = typer.Option(None, "--target", help="The word whose logit is tracked (default: the clean text's top prediction)."),
    contrast: Optional[str] = typer.Option(None, "--contrast", help="The word it is measured against (default: the corrupted text's top prediction)."),
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    """Activation patching: patch each layer's stream at each position, and each head's output, from CLEAN into CORRUPT."""
    from ..analysis.patching import patch as run_patch
    from ..labels import printable

    model = load_model(model_spec, max_memory=max_memory)
    model.task.require(model, "attn patch", "next_token")
    tokens = (model.encode(clean)[0], model.encode(corrupt)[0])
    notes: list[str] = []
    ids: list[int | None] = []
    for word in (target, contrast):
        if word is None:
            ids.append(None)
            continue
        i, note = model.tokenizer.word_id(word)
        ids.append(i)
        if note:
            notes.append(note)
    with progress() as tick:
        result = run_patch(model, [t.id for t in tokens[0]], [t.id for t in tokens[1]], ids[0], ids[1],
                           progress=lambda done, total: tick("patching each layer, then each head", done, total))
    if as_json:
        from ..render.json_analysis import patch_doc

        emit_json(dict(patch_doc(model, (clean, corrupt), tokens, result), notes=notes))
        return
    from rich.console import Group
    from rich.text import Text

    from ..render.why import patch_view

    view = patch_view(result, tokens[0], tokens[1], model.tokenizer, (clean, corrupt))
    show(Group(view, *(Text(printable(n), style="yellow") for n in notes)))
