"""`attn explain TEXT`: how each token attends to the others, in the mode the flags pick (modes.py)."""

from __future__ import annotations

import math
from typing import Optional

import typer

from ..errors import UsageError
from ..labels import printable
from .common import (PROG, AblateModeOpt, AblateOpt, ColorOpt, JsonOpt, MaxMemoryOpt, ModelOpt, TopKOpt, TruncateOpt,
                     default_view, emit_json, given, load_model, noted, progress, read_stdin_text, show, stdout_console)

# Cells of attention (layers x heads x T x T) that explain --json includes for every layer;
# past this only the viewed layer is computed and written, so long inputs on deep models stay small.
ALL_LAYERS_CELLS = 2_000_000
MAX_CELLS = 50_000_000  # ~200 MB of float32: the most a mode that needs every layer may keep

# parameter -> flag, for the options that only some modes take (modes.OPTIONS)
MODE_OPTIONS = {"layer": "--layer", "head": "--head", "scores": "--scores", "top_k": "--top-k", "dims": "--dims",
                "token": "--token", "temperature": "--temperature", "target": "--target", "contrast": "--contrast",
                "window": "--window", "key": "--key", "census": "--census"}


def explain(
    ctx: typer.Context,
    text: Optional[str] = typer.Argument(None, help="The sentence to look into; '-' or none (with a pipe) reads it from stdin."),
    model_spec: Optional[str] = ModelOpt,
    max_memory: Optional[str] = MaxMemoryOpt,
    layer: Optional[int] = typer.Option(None, "--layer", "-l", help="Which layer's attention to show (negative counts from the end). Default: the model's suggested layer, else 0."),
    head: Optional[str] = typer.Option(None, "--head", help="A head number, 'mean' for the average of the layer's heads, or 'all' for every head side by side."),
    scores: bool = typer.Option(False, "--scores", help="Show the scaled scores q·k/√d_head before softmax instead of the weights."),
    top_k: int = TopKOpt,
    dims: int = typer.Option(8, "--dims", min=1, help="How many dimensions of each contextual vector to show."),
    truncate: bool = TruncateOpt,
    steps: bool = typer.Option(False, "--steps", help="Walk through attention step by step for one query token (see --token)."),
    token: Optional[str] = typer.Option(None, "--token", help="The query token of --steps, --summary, --lens, "
                                        "--dla, --qk, or of a long text's table: its text (first match) or index. "
                                        "Default: the last."),
    window: Optional[str] = typer.Option(None, "--window", metavar="A:B", help="Show rows and keys A to B-1 of the attention matrix (a long text's slice)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="With --steps: a what-if that divides the scores by T before softmax (the model uses 1)."),
    attribution: bool = typer.Option(False, "--attribution", help="Rank the input tokens by how much leaving each out lowers the top prediction's probability."),
    rollout: bool = typer.Option(False, "--rollout", help="Attention rollout across all layers (Abnar and Zuidema, 2020)."),
    summary: bool = typer.Option(False, "--summary", help="For one query token (--token, default the last): which key every layer's every head attends to most, and the heads with a clear pattern."),
    census: Optional[str] = typer.Option(None, "--census", metavar="FILE",
                                         help="With --summary: show each head's roles from this census of the same "
                                              "model (what attn heads writes with its JSON option)."),
    lens: bool = typer.Option(False, "--lens", help="Logit lens: for one query token (--token), every layer's stream through the final norm and the unembedding."),
    dla: bool = typer.Option(False, "--dla", help="Direct logit attribution: what each head and MLP adds to the logit of the top token (or --target) at one query token."),
    qk: bool = typer.Option(False, "--qk", help="Why a head attends: one head's score for one query (--token) "
                            "and key (--key) taken apart into query part × key part (embeddings, earlier heads and "
                            "MLPs, biases)."),
    key: str | None = typer.Option(None, "--key", help="With --qk: the key token, its text (first match) or index. "
                                   "Default: the key the head attends to most."),
    target: Optional[str] = typer.Option(None, "--target", help="With --lens or --dla: the word to track (default: the model's top prediction)."),
    contrast: Optional[str] = typer.Option(None, "--contrast", help="With --dla: attribute the logit difference target minus this word."),
    ablate: Optional[str] = AblateOpt,
    ablate_mode: str = AblateModeOpt,
    save: Optional[str] = typer.Option(None, "--save", help="Write every head of the layer as one figure: a .png or .svg file (needs the plot extra: pip install 'attncli\\[plot]')."),
    html: Optional[str] = typer.Option(None, "--html", help="Write one self-contained interactive HTML page of the attention."),
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    """Show how each token attends to the others, its contextual vector, and what comes next.

    --head all shows every head of the layer side by side; --steps, --summary, --attribution, --rollout, --lens,
    --dla and --qk show one analysis instead of the tables; --save and --html write files.
    """
    from .. import modes
    from ..views import resolve_head, resolve_layer

    if text is None or text == "-":
        text = read_stdin_text("text")
    mode = modes.pick({"steps": steps, "attribution": attribution, "rollout": rollout,
                       "heads": (head or "").strip().lower() == "all", "summary": summary, "lens": lens, "dla": dla,
                       "qk": qk})
    if not 0 < temperature < float("inf"):  # NaN fails it too
        raise UsageError(f"--temperature must be a positive number, got {temperature:g}")
    files = modes.check_files(save, html)
    modes.check_options(mode, given(ctx, MODE_OPTIONS), files, as_json, head)
    model = load_model(model_spec, ablate, ablate_mode, max_memory=max_memory)
    c = model.config
    d_layer, d_head = default_view(model)
    L = resolve_layer(layer, c.n_layer, d_layer)
    h = resolve_head(head, c.n_head, modes.default_head(mode, d_head), allowed=("mean", "all"))
    if mode.one_head and h in ("mean", "all"):
        raise UsageError(f"{mode.flag} looks at one head at a time, not {h}: give --head with a number")
    census_roles = None if census is None else read_census(census, model)
    tokens, truncated = model.encode(text, truncate)
    T = len(tokens)
    cells = c.n_layer * c.n_head * T * T
    if mode.all_layers and cells > MAX_CELLS:
        raise UsageError(f"{mode.flag} keeps every layer's attention: {T} tokens on this model would be {cells:,} "
                         f"cells; shorten the text to at most {math.isqrt(MAX_CELLS // (c.n_layer * c.n_head))} tokens")
    keep = None if mode.all_layers or cells <= ALL_LAYERS_CELLS else [L]
    trace = model.forward([t.id for t in tokens], layers=keep)
    context = modes.Context(model=model, text=text, tokens=tokens, trace=trace, layer=L, head=h, top_k=top_k,
                            truncated=truncated, token=token, temperature=temperature, dims=dims, scores=scores,
                            target=target, contrast=contrast, window=window, key=key, census=census_roles)
    if files:
        for line in modes.write_files(files, context):
            typer.echo(f"{PROG}: {printable(line)}", err=True)
        if not as_json:
            return
    with progress() as tick:  # drawn on stderr by the analyses that take a while (--attribution, --lens)
        result = mode.run(context._replace(progress=tick))
    if as_json:
        emit_json(mode.json(result, context))
        return
    console = stdout_console()
    show(noted(model, mode.rich(result, context, console.width)), console)


def read_census(path: str, model):
    """--census FILE: the roles of an attn heads --json document of this model."""
    import json
    from pathlib import Path

    from ..analysis.heads import census_roles

    try:
        doc = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--census {path}: no such file; make it with attn heads CORPUS --json > {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else "not a JSON document"
        raise UsageError(f"--census {path}: cannot read it ({why}); give the output of attn heads --json") from None
    return census_roles(doc, model, path)
