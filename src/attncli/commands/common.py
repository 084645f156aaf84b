"""What every command shares: its options, where output goes, and how a model is loaded.

Results go to stdout (Rich's console, or JSON), messages to stderr; nothing here exits.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

import typer

PROG = "attn"

ModelOpt = typer.Option(None, "--model", "-m", help="A model directory, a .gguf file, or a pulled model's name. Default: the bundled model.")
JsonOpt = typer.Option(False, "--json", help="Write one JSON document to stdout (JSON Lines for a stream) and nothing else.")
TopKOpt = typer.Option(5, "--top-k", "-k", min=1, help="How many next-token predictions to show.")
TruncateOpt = typer.Option(False, "--truncate", help="If the text is longer than the model's context, keep its last tokens that fit.")


def error_line(message: str) -> None:
    """One line on stderr, whatever the message held."""
    typer.echo(f"{PROG}: error: {' '.join(str(message).split())}", err=True)


def interrupted_line(message: str, line_is_clear: bool = False) -> None:
    """Ctrl-C's one line on stderr, "attn: interrupted ...". On a terminal it starts on a new
    line: the cursor is after the ^C the terminal echoed, or after a prompt such as text>
    (unless a progress display was redrawn since: `line_is_clear`)."""
    try:
        fresh = line_is_clear or not sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        fresh = True
    typer.echo(f"{'' if fresh else chr(10)}{PROG}: {' '.join(str(message).split())}", err=True)


def stdout_console():
    """Rich's console on stdout: color only on a terminal, NO_COLOR honored (by Rich).

    Strings are printed as they are: no markup and no :emoji: codes, so that text from the
    input or a tokenizer is never read as styling (renderers style with Text objects).
    Off a terminal, Rich would assume 80 columns; a file or pipe gets 120 (or $COLUMNS)
    so that numbers are not cut.
    """
    from rich.console import Console

    console = Console(highlight=False, markup=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, markup=False, emoji=False, width=120)
    return console


def emit_json(doc: dict[str, Any]) -> None:
    """One JSON document and a newline on stdout; large matrices (render.json_doc.Rows) are streamed."""
    from ..render.json_doc import dump

    out = sys.stdout
    dump(doc, out.write)
    out.write("\n")
    out.flush()


def load_model(spec: Optional[str]):
    from ..checkpoints import load

    return load(spec)


def default_view(model) -> tuple[int, int | str]:
    """The layer and head a model's card suggests opening on (else layer 0, head 0)."""
    view = model.card.get("default_view") or {}
    return int(view.get("layer", 0)), view.get("head", 0)


def given(ctx: typer.Context, options: dict[str, str]) -> set[str]:
    """Which of `options` (parameter name -> flag) the user typed, as flags."""
    typed = ("COMMANDLINE", "ENVIRONMENT")  # click's ParameterSource, by name (Typer may vendor click)
    return {flag for name, flag in options.items() if getattr(ctx.get_parameter_source(name), "name", None) in typed}
