"""The `attn` command: parse -> core -> renderer -> console.

This is the one place where errors become messages and exit codes (see errors.ExitCode):
the core raises typed errors, and AttnGroup.main turns each into one line on stderr.
Results go to stdout; messages, prompts and progress to stderr.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from . import __version__
from .errors import AttnError, ExitCode, UsageError

PROG = "attn"


def error_line(message: str) -> None:
    """One line on stderr, whatever the message held."""
    typer.echo(f"{PROG}: error: {' '.join(str(message).split())}", err=True)


def _is_click_error(e: BaseException) -> bool:
    # Typer >= 0.29 vendors click, older Typer uses click itself: recognise either by shape.
    return hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)


def _report_click_error(e: Any) -> int:
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
        text = ctx.get_help()  # Typer's rich help prints itself and returns ""
        if text.strip():
            typer.echo(text)
        return ExitCode.USAGE
    if e.exit_code == ExitCode.USAGE:
        where = ctx.command_path if ctx is not None else PROG
        error_line(f"{e.format_message()} (see '{where} --help')")
    else:
        error_line(e.format_message())
    return int(e.exit_code)


class AttnGroup(TyperGroup):
    """Typer's group with one error boundary: every failure is one stderr line and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or bool(os.environ.get("ATTN_DEBUG"))
        args = [a for a in args if a != "--debug"]  # accepted anywhere on the line
        code: int = ExitCode.OK
        try:
            rv = super().main(args=args, prog_name=prog_name or PROG, complete_var=complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else ExitCode.OK
        except AttnError as e:
            if debug:
                import traceback

                traceback.print_exc()
            error_line(str(e))
            code = e.exit_code
        except (typer.Abort, KeyboardInterrupt):
            typer.echo(f"{PROG}: interrupted", err=True)
            code = ExitCode.INTERRUPTED
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, and keep Python from
            # complaining again when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = ExitCode.ERROR
        except Exception as e:
            if _is_click_error(e):  # Typer's (vendored) click: a bad option, argument or value
                code = _report_click_error(e)
                if standalone_mode:
                    sys.exit(code)
                return code
            # anything else is a bug: say so in one line, and how to see more
            if debug:
                raise
            error_line(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback, and please report it)")
            code = ExitCode.ERROR
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=AttnGroup,
    name=PROG,
    help="See self-attention: tokens, Q/K/V, scores, softmax weights, contextual vectors and next-token predictions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show a traceback on errors (accepted anywhere on the line)."),
) -> None:
    """See self-attention from saved weights: attn explain "I do not like spinach"."""


# ---- shared options -------------------------------------------------------------------------

ModelOpt = typer.Option(None, "--model", "-m", help="A model directory, a .gguf file, or a pulled model's name. Default: the bundled model.")
JsonOpt = typer.Option(False, "--json", help="Write one JSON document to stdout (JSON Lines for a stream) and nothing else.")
TopKOpt = typer.Option(5, "--top-k", "-k", min=1, help="How many next-token predictions to show.")
TruncateOpt = typer.Option(False, "--truncate", help="If the text is longer than the model's context, keep its last tokens that fit.")


def stdout_console():
    """Rich's console on stdout: color only on a terminal, NO_COLOR honored (by Rich).

    Off a terminal, Rich would assume 80 columns; a file or pipe gets 120 (or $COLUMNS)
    so that numbers are not cut.
    """
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=120)
    return console


def emit_json(doc: dict[str, Any]) -> None:
    """One JSON document and a newline on stdout; large matrices (render.json.Rows) are streamed."""
    from .render.json import dump

    out = sys.stdout
    dump(doc, out.write)
    out.write("\n")
    out.flush()


def load_model(spec: Optional[str]):
    from .checkpoints import load

    return load(spec)


def default_view(model) -> tuple[int, int | str]:
    view = model.card.get("default_view") or {}
    return int(view.get("layer", 0)), view.get("head", 0)


# Cells of attention (layers x heads x T x T) that explain --json includes for every layer;
# past this only the viewed layer is computed and written, so long inputs on deep models stay small.
ALL_LAYERS_CELLS = 2_000_000
MAX_CELLS = 50_000_000  # ~200 MB of float32: the most a mode that needs every layer may keep


# ---- explain --------------------------------------------------------------------------------

@app.command()
def explain(
    text: str = typer.Argument(..., help="The sentence to look into."),
    model_spec: Optional[str] = ModelOpt,
    layer: Optional[int] = typer.Option(None, "--layer", "-l", help="Which layer's attention to show (negative counts from the end). Default: the model's suggested layer, else 0."),
    head: Optional[str] = typer.Option(None, "--head", help="A head number, 'mean' for the average of the layer's heads, or 'all' for every head side by side."),
    scores: bool = typer.Option(False, "--scores", help="Show the scaled scores q·k/√d_head before softmax instead of the weights."),
    top_k: int = TopKOpt,
    dims: int = typer.Option(8, "--dims", min=1, help="How many dimensions of each contextual vector to show."),
    truncate: bool = TruncateOpt,
    steps: bool = typer.Option(False, "--steps", help="Walk through attention step by step for one query token (see --token)."),
    token: Optional[str] = typer.Option(None, "--token", help="With --steps or --summary: the query token, by its text (first match) or index. Default: the last."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="With --steps: a what-if that divides the scores by T before softmax (the model uses 1)."),
    attribution: bool = typer.Option(False, "--attribution", help="Rank the input tokens by how much leaving each out lowers the top prediction's probability."),
    rollout: bool = typer.Option(False, "--rollout", help="Attention rollout across all layers (Abnar and Zuidema, 2020)."),
    summary: bool = typer.Option(False, "--summary", help="For one query token (--token, default the last): which key every layer's every head attends to most."),
    save: Optional[str] = typer.Option(None, "--save", help="Write every head of the layer as one figure: a .png or .svg file (needs the plot extra: pip install 'attncli\\[plot]')."),
    html: Optional[str] = typer.Option(None, "--html", help="Write one self-contained interactive HTML page of the attention."),
    as_json: bool = JsonOpt,
) -> None:
    """Show how each token attends to the others, its contextual vector, and what comes next.

    --head all shows every head of the layer side by side; --steps, --summary, --attribution and --rollout show one analysis instead of the tables; --save and --html write files.
    """
    from . import explain_modes as em
    from .render import json as rjson
    from .views import head_view, resolve_head, resolve_layer

    mode = em.pick_mode(steps=steps, attribution=attribution, rollout=rollout, head_all=(head or "").strip().lower() == "all",
                        token=token, temperature=temperature, summary=summary)
    files = em.check_files(save, html)
    model = load_model(model_spec)
    c = model.config
    d_layer, d_head = default_view(model)
    L = resolve_layer(layer, c.n_layer, d_layer)
    h = resolve_head(head, c.n_head, em.default_head(mode, d_head), allowed=("mean", "all"))
    tokens, truncated = model.encode(text, truncate)
    T = len(tokens)
    cells = c.n_layer * c.n_head * T * T
    if mode in em.ALL_LAYER_MODES and cells > MAX_CELLS:
        raise UsageError(f"{em.MODES[mode]} keeps every layer's attention: {T} tokens on this model would be {cells:,} "
                         f"cells; shorten the text to at most {math.isqrt(MAX_CELLS // (c.n_layer * c.n_head))} tokens")
    keep = None if mode in em.ALL_LAYER_MODES or cells <= ALL_LAYERS_CELLS else [L]
    trace = model.forward([t.id for t in tokens], layers=keep)
    if files:
        for line in em.write_files(files, model, text, tokens, trace, L, h, top_k, truncated):
            typer.echo(f"{PROG}: {line}", err=True)
        if not as_json:
            return
    if mode is not None:
        doc, renderable = em.run_mode(mode, model, text, tokens, trace, L, h, top_k, truncated, token=token,
                                      temperature=temperature, dims=dims, as_json=as_json)
        if as_json:
            emit_json(doc)
        else:
            console = stdout_console()
            console.print(renderable(console.width))
        return
    view = head_view(trace, L, h)
    preds = model.predict(trace, top_k)
    if as_json:
        emit_json(rjson.explain_doc(model, text, tokens, trace, view, preds, truncated, stream=True))
        return
    from rich.console import Group
    from rich.text import Text

    from .render import table as rt
    from .render.labels import token_label

    console = stdout_console()
    parts: list[Any] = [rt.explain_header(model, view)]
    warn = rt.provisional_warning(model)
    if warn is not None:
        parts.append(warn)
    if truncated:
        parts.append(Text(f"(the text was cut to its last {T} tokens to fit the context)", style="yellow"))
    first = rt.first_shown([token_label(t) for t in tokens], console.width)  # one window for both tables
    parts += [Text(""), rt.tokens_table(tokens), Text(""),
              rt.attention_table(view, tokens, show_scores=scores, first=first), Text(""),
              rt.vectors_table(view, tokens, dims, width=console.width, first=first), Text(""),
              rt.predictions_table(preds, after=text)]
    console.print(Group(*parts))


# ---- predict --------------------------------------------------------------------------------

def _predict_one(model, text: str, top_k: int, truncate: bool, generate_n: int, temperature: Optional[float],
                 seed: Optional[int], as_json: bool) -> None:
    from .render import json as rjson

    tokens, truncated = model.encode(text, truncate)
    ids = [t.id for t in tokens]
    trace = model.forward(ids, layers=[])
    preds = model.predict(trace, top_k)
    generated = None
    if generate_n:
        from .generate import generate

        new_ids = generate(model, ids, generate_n, temperature, seed)
        generated = {
            "text": model.tokenizer.decode(new_ids),
            "ids": new_ids,
            "sampling": "greedy" if not temperature else "temperature",
            "temperature": temperature or 0.0,
            "seed": seed,
        }
    if as_json:
        emit_json(rjson.predict_doc(model, text, tokens, preds, truncated, generated))
        return
    from rich.console import Group
    from rich.text import Text

    from .render import table as rt

    parts: list[Any] = []
    if generated is not None:
        parts.append(rt.generated_text(text, generated["text"]))
    parts.append(rt.predictions_table(preds, after=text))
    stdout_console().print(Group(*parts))


def _stdin_lines():
    """Lines of stdin, decoded one by one so a bad line is reported, not fatal to the rest."""
    stream = typer.get_binary_stream("stdin")
    interactive = stream.isatty()
    n = 0
    while True:
        if interactive:
            typer.echo("text> ", nl=False, err=True)
        raw = stream.readline()
        if not raw:
            if interactive:
                typer.echo("", err=True)
            return
        n += 1
        try:
            yield n, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield n, UsageError(f"stdin line {n} is not valid UTF-8; convert the input, e.g. with iconv -t UTF-8")


@app.command()
def predict(
    text: Optional[str] = typer.Argument(None, help="The text to continue. Without it, reads one text per line from stdin."),
    model_spec: Optional[str] = ModelOpt,
    top_k: int = TopKOpt,
    generate_n: int = typer.Option(0, "--generate", "-g", min=0, help="Also continue the text by N tokens."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-t", min=0.0, help="Sample the continuation at this temperature (0 or unset: greedy)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling, for a repeatable continuation."),
    truncate: bool = TruncateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show what comes next: the top-k next tokens and their probabilities."""
    if temperature is not None and not math.isfinite(temperature):  # click's min=0 lets nan and inf through
        raise UsageError(f"--temperature {temperature} is not a finite number; give one like 0.7, or 0 for greedy")
    model = load_model(model_spec)
    if text is not None:
        _predict_one(model, text, top_k, truncate, generate_n, temperature, seed, as_json)
        return
    first_error: Optional[AttnError] = None
    for n, line in _stdin_lines():
        if isinstance(line, AttnError):
            error_line(str(line))
            first_error = first_error or line
            continue
        if not line.strip():
            continue  # blank lines separate nothing; skip them
        try:
            _predict_one(model, line, top_k, truncate, generate_n, temperature, seed, as_json)
        except AttnError as e:  # one bad line is reported; the others are still answered
            error_line(f"stdin line {n}: {e}")
            first_error = first_error or e
        sys.stdout.flush()
    if first_error is not None:
        raise typer.Exit(int(first_error.exit_code))


# ---- compare --------------------------------------------------------------------------------

@app.command()
def compare(
    text_a: str = typer.Argument(..., help="The first sentence (A)."),
    text_b: str = typer.Argument(..., help="The second sentence (B)."),
    model_spec: Optional[str] = ModelOpt,
    layer: Optional[int] = typer.Option(None, "--layer", "-l", help="Which layer's attention to compare (negative counts from the end)."),
    head: Optional[str] = typer.Option(None, "--head", help="A head number, or 'mean' for the average of the layer's heads."),
    top_k: int = TopKOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Compare two sentences: aligned tokens, change in attention, contextual vectors and predictions."""
    from .analysis.compare import compare as run_compare
    from .views import resolve_head, resolve_layer

    model = load_model(model_spec)
    d_layer, d_head = default_view(model)
    L = resolve_layer(layer, model.config.n_layer, d_layer)
    h = resolve_head(head, model.config.n_head, d_head)
    tokens = (model.encode(text_a)[0], model.encode(text_b)[0])
    traces = [model.forward([t.id for t in toks], layers=[L]) for toks in tokens]
    result = run_compare(traces[0], traces[1], L, h, top_k)
    if as_json:
        from .render.json_analysis import compare_doc

        emit_json(compare_doc(model, (text_a, text_b), tokens, result, top_k))
        return
    from .render.compare import compare_view

    stdout_console().print(compare_view(result, (text_a, text_b), tokens, model.tokenizer))


# ---- info -----------------------------------------------------------------------------------

@app.command()
def info(model_spec: Optional[str] = ModelOpt, as_json: bool = JsonOpt) -> None:
    """Print the model card: architecture, parameters, vocabulary, context, and where the weights came from."""
    from .render import json as rjson

    model = load_model(model_spec)
    if as_json:
        emit_json(rjson.info_doc(model))
        return
    from .render import table as rt

    stdout_console().print(rt.info_table(model, rjson.model_info(model)))


# ---- train, eval (commands_train.py) ----------------------------------------------------------
from .commands_train import register as _register_train  # noqa: E402

_register_train(app)

# ---- models list, models pull (commands_models.py) ------------------------------------------
from .commands_models import register as _register_models  # noqa: E402

_register_models(app)


def main() -> None:
    app()
