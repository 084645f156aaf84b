"""The `attn` command: the app, its commands (one module each in commands/), and the one
error boundary, where errors become messages and exit codes (see errors.ExitCode).

The core raises typed errors, and AttnGroup.main turns each into one line on stderr.
Results go to stdout; messages, prompts and progress to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from . import __version__
from .commands.common import PROG, error_line
from .errors import AttnError, ExitCode


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


def _register() -> None:
    """Each command is a function in its own module of commands/; they are added in help order."""
    from .commands import compare, explain, info, models, predict, train

    app.command()(explain.explain)
    app.command()(predict.predict)
    app.command()(compare.compare)
    app.command()(info.info)
    app.command("train")(train.train_command)
    app.command("eval")(train.eval_command)
    app.add_typer(models.models_app, name="models")


_register()


def main() -> None:
    app()
