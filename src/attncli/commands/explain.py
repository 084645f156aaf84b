"""`attn explain TEXT`: how each token attends to the others, in the mode the flags pick (modes/).

The command's signature is built from the registry: the options every mode shares are listed
here (COMMON), the others are the modes' own declarations (modes.options()).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Optional

import typer

from .. import modes
from ..errors import UsageError
from ..labels import printable
from .common import (PROG, AblateModeOpt, AblateOpt, ColorOpt, JsonOpt, MaxMemoryOpt, ModelOpt, TruncateOpt,
                     default_view, emit_json, given, load_model, noted, progress, read_stdin_text, show, stdout_console)

# Cells of attention (layers x heads x T x T) that explain --json includes for every layer;
# past this only the viewed layer is computed and written, so long inputs on deep models stay small.
ALL_LAYERS_CELLS = 2_000_000
MAX_CELLS = 50_000_000  # ~200 MB of float32: the most a mode that needs every layer may keep

# (--help order, parameter, annotation, Typer default): what goes with every mode; modes.Option.order places the rest
COMMON: list[tuple[int, str, Any, Any]] = [
    (0, "text", Optional[str], typer.Argument(None, help="The sentence to look into; '-' or none (with a pipe) "
                                              "reads it from stdin.")),
    (1, "model_spec", Optional[str], ModelOpt),
    (2, "max_memory", Optional[str], MaxMemoryOpt),
    (15, "truncate", bool, TruncateOpt),
    (30, "ablate", Optional[str], AblateOpt),
    (31, "ablate_mode", str, AblateModeOpt),
    (32, "save", Optional[str], typer.Option(None, "--save", help="Write every head of the layer as one figure: a "
                                             ".png or .svg file (needs the plot extra: "
                                             "pip install 'attncli\\[plot]').")),
    (33, "html", Optional[str], typer.Option(None, "--html", help="Write one self-contained interactive HTML page of "
                                             "the attention.")),
    (34, "as_json", bool, JsonOpt),
    (35, "color", str, ColorOpt),
]


def explain(ctx: typer.Context, **values: Any) -> None:
    from ..views import resolve_head, resolve_layer

    text = values["text"]
    if text is None or text == "-":
        text = read_stdin_text("text")
    mode = modes.pick(values)
    for option in modes.options():  # values no mode can take, before any work
        if option.check is not None:
            option.check(values[option.name])
    files = modes.check_files(values["save"], values["html"])
    as_json, head = values["as_json"], values["head"]
    modes.check_options(mode, given(ctx, {o.name: o.flag for o in modes.options()}) & modes.OPTIONS, files, as_json,
                        head)
    model = load_model(values["model_spec"], values["ablate"], values["ablate_mode"], max_memory=values["max_memory"])
    model.task.require(model, mode.label, *mode.requires)
    c = model.config
    d_layer, d_head = default_view(model)
    L = resolve_layer(values["layer"], c.n_layer, d_layer)
    h = resolve_head(head, c.n_head, modes.default_head(mode, d_head), allowed=("mean", "all"))
    if mode.one_head and h in ("mean", "all"):
        raise UsageError(f"{mode.label} looks at one head at a time, not {h}: give --head with a number")
    tokens, truncated = model.encode(text, values["truncate"])
    T = len(tokens)
    cells = c.n_layer * c.n_head * T * T
    if mode.all_layers and cells > MAX_CELLS:
        raise UsageError(f"{mode.label} keeps every layer's attention: {T} tokens on this model would be {cells:,} "
                         f"cells; shorten the text to at most {math.isqrt(MAX_CELLS // (c.n_layer * c.n_head))} tokens")
    keep = None if mode.all_layers or cells <= ALL_LAYERS_CELLS else [L]
    trace = model.forward([t.id for t in tokens], layers=keep)
    context = modes.Context(model=model, text=text, tokens=tokens, trace=trace, layer=L, head=h, truncated=truncated,
                            options={o.name: values[o.name] for o in modes.options()})
    if files:
        for line in modes.write_files(files, context):
            typer.echo(f"{PROG}: {printable(line)}", err=True)
        if not as_json:
            return
    with progress() as tick:  # drawn on stderr by the analyses that take a while (--attribution, --lens)
        result = mode.run(context.replace(progress=tick))
    if as_json:
        emit_json(mode.json(result, context))
        return
    console = stdout_console()
    show(noted(model, mode.rich(result, context, console.width)), console)


def _signature() -> inspect.Signature:
    """explain's parameters: COMMON and every mode's options, in --help order."""
    params = [(order, name, kind, default) for order, name, kind, default in COMMON]
    params += [(o.order, o.name, o.type, o.typer_option()) for o in modes.options()]
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature([inspect.Parameter("ctx", keyword, annotation=typer.Context)] + [
        inspect.Parameter(name, keyword, default=default, annotation=kind)
        for _, name, kind, default in sorted(params, key=lambda p: p[0])])


def _doc() -> str:
    flags = [m.label for m in modes.MODES.values() if m.flag is not None]
    heads = modes.MODES["heads"].label
    return ("Show how each token attends to the others, its contextual vector, and what comes next.\n\n"
            f"{heads} shows every head of the layer side by side; {', '.join(flags[:-1])} and {flags[-1]} show one "
            "analysis instead of the tables; --save and --html write files.")


explain.__signature__ = _signature()  # type: ignore[attr-defined]
explain.__annotations__ = {p.name: p.annotation for p in explain.__signature__.parameters.values()}  # type: ignore
explain.__doc__ = _doc()
