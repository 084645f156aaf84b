"""What `attn explain` runs for --steps, --attribution, --rollout, --head all, --save and --html:
core call -> (JSON doc, renderable). Kept out of cli.py so that the command stays thin."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .errors import UsageError
from .model import Model
from .tokenizer import Token
from .trace import Trace

MODES = {"steps": "--steps", "attribution": "--attribution", "rollout": "--rollout", "heads": "--head all",
         "summary": "--summary"}
ALL_LAYER_MODES = ("rollout", "summary")  # they read every layer's weights


def pick_mode(*, steps: bool, attribution: bool, rollout: bool, head_all: bool, token: str | None,
              temperature: float, summary: bool = False) -> str | None:
    chosen = [m for m, on in (("steps", steps), ("attribution", attribution), ("rollout", rollout), ("heads", head_all),
                              ("summary", summary)) if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(MODES[m] for m in chosen)} cannot be combined; choose one")
    mode = chosen[0] if chosen else None
    if mode not in ("steps", "summary") and token is not None:
        raise UsageError("--token picks the query token of --steps or --summary; add one of them")
    if not 0 < temperature < float("inf"):  # NaN fails it too
        raise UsageError(f"--temperature must be a positive number, got {temperature:g}")
    if mode != "steps" and temperature != 1.0:
        raise UsageError("--temperature is a what-if of --steps; add --steps")
    return mode


def default_head(mode: str | None, suggested: int | str) -> int | str:
    """The model's suggested head, except that --steps needs one head, not the mean."""
    return 0 if mode == "steps" and suggested == "mean" else suggested


def check_files(save: str | None, html: str | None) -> dict[str, str]:
    """Validate --save and --html before any work; {'png'|'svg'|'html': path}."""
    from .render.files import IMAGE_FORMATS, check_path

    files = {}
    if save is not None:
        files[check_path(save, IMAGE_FORMATS, "--save")] = save
    if html is not None:
        check_path(html, ("html", "htm"), "--html")
        files["html"] = html
    return files


def write_files(files: dict[str, str], model: Model, text: str, tokens: list[Token], trace: Trace, layer: int,
                head: int | str, top_k: int, truncated: bool) -> list[str]:
    """Write the requested files; returns one line per file for stderr."""
    from .render.files import write

    lines = []
    for fmt, path in files.items():
        if fmt == "html":
            from .render import html as rhtml
            from .render import json as rjson
            from .views import head_view

            view = head_view(trace, layer, 0 if head == "all" else head)
            doc = rjson.explain_doc(model, text, tokens, trace, view, model.predict(trace, top_k), truncated)
            write(path, rhtml.page(doc), "--html")
            lines.append(f"wrote {path} (open it in a browser; it needs no network)")
        else:
            from .render import plot

            data = plot.heatmaps(trace, layer, tokens, fmt)
            write(path, data, "--save")
            lines.append(f"wrote {path} (layer {layer}, {trace.config.n_head} heads)")
    return lines


Renderable = Callable[[int], Any]  # terminal width -> a Rich renderable


def run_mode(mode: str, model: Model, text: str, tokens: list[Token], trace: Trace, layer: int, head: int | str,
             top_k: int, truncated: bool, *, token: str | None, temperature: float, dims: int,
             as_json: bool) -> tuple[dict[str, Any] | None, Renderable]:
    from .render import json_analysis as ja

    if mode == "steps":
        from .analysis.steps import resolve_token, walkthrough
        from .render.steps import steps_panels

        if head in ("mean", "all"):
            raise UsageError("--steps walks through one head: give --head with a number")
        i = resolve_token(token, tokens)
        w = walkthrough(trace, layer, int(head), i, temperature)
        preds = model.predict(trace, top_k, position=i)
        doc = ja.steps_doc(model, text, tokens, w, preds, truncated) if as_json else None
        return doc, lambda width: steps_panels(w, tokens, preds, dims=min(dims, 8), width=width)
    if mode == "attribution":
        from .analysis.attribution import leave_one_out
        from .render.analysis import attribution_bars

        a = leave_one_out(lambda ids: model.forward(ids, layers=[]), trace.ids.tolist(), full=trace)
        doc = ja.attribution_doc(model, text, tokens, a, truncated) if as_json else None
        return doc, lambda width: attribution_bars(a, tokens, model.tokenizer.display(a.target), text)
    if mode == "rollout":
        from .analysis.rollout import rollout
        from .render.analysis import rollout_table

        r = rollout(trace)  # [T, T]
        masked = np.isneginf(trace.block(0, "attn.scores")[0])  # [T, T]
        preds = model.predict(trace, top_k)
        doc = ja.rollout_doc(model, text, tokens, r, masked, preds, truncated) if as_json else None
        return doc, lambda width: rollout_table(r, masked, tokens)
    if mode == "summary":
        from .analysis.steps import resolve_token
        from .analysis.summary import head_summary
        from .render.summary import summary_table

        s = head_summary(trace, resolve_token(token, tokens))
        doc = ja.summary_doc(model, text, tokens, s, truncated) if as_json else None
        return doc, lambda width: summary_table(s, tokens)
    if mode == "heads":
        from .render.analysis import heads_grid

        doc = ja.heads_doc(model, text, tokens, trace, layer, truncated) if as_json else None
        return doc, lambda width: heads_grid(trace, layer, tokens, width)
    raise ValueError(mode)
