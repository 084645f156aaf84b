"""Building `attn view`'s app in-process and driving it with Textual's pilot (test_view*.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from attncli.tui.explorer import Explorer

TEXT = "I do not like spinach"
PANELS = ("header", "strip", "heatmap", "overview", "side")


def explorer(model: Any, text: str = TEXT, layers: list[int] | None = None, generate: int = 0,
             temperature: float | None = None, seed: int | None = None) -> Explorer:
    """The Explorer as `attn view` builds it (with `generate`: as -g N does, through its _generate)."""
    from attncli.commands.view import _generate

    tokens, truncated = model.encode(text)
    generation = None
    if generate:
        tokens, generation = _generate(model, tokens, generate, temperature, seed, 5)
    return Explorer(model, text, tokens, model.forward([t.id for t in tokens], layers=layers), truncated,
                    generation=generation)


def make_app(model: Any, text: str = TEXT, color: bool = True, layer: int = 1, head: int | str = 3,
             query: int | None = None, layers: list[int] | None = None, generate: int = 0):
    """The app as `attn view` starts it on the bundled model (layer 1, head 3, the last token;
    with `generate`, the first step's query)."""
    from attncli.tui.app import ViewApp

    ex = explorer(model, text, layers, generate)
    if query is None:
        query = ex.prompt - 1 if generate else ex.T - 1
    return ViewApp(ex, ex.start(layer, head, query), color=color)


def drive(app: Any, keys: list[str] = (), size: tuple[int, int] = (80, 24), then: Any = None) -> dict[str, Any]:
    """Press `keys` in a headless run; what every panel shows after (plain text), the selection,
    the screen's class name, and `then(app)` if given."""

    async def go() -> dict[str, Any]:
        async with app.run_test(size=size) as pilot:
            for key in keys:
                await pilot.press(key)
            await pilot.pause()
            shown = {name: app.panel(name) for name in PANELS}
            shown["sel"] = app.sel
            shown["screen"] = type(app.screen).__name__
            if then is not None:
                shown["then"] = await then(app, pilot)
            return shown

    return asyncio.run(go())


def overflow_final_norm(path: Path) -> Path:
    """Make a model folder's final norm weights finite but near float32's largest value (3e38): the
    loader accepts them, attention is untouched, and the logits overflow to inf and NaN, so any
    analysis of the predictions really fails. The folder, changed in place."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path / "model.safetensors"))
    tensors["ln_final.w"] = np.full_like(tensors["ln_final.w"], 3e38)
    save_file(tensors, str(path / "model.safetensors"))
    return path
