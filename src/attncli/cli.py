"""The `attn` command: the app, its commands (one module each in commands/), and the one
error boundary, where errors become messages and exit codes (see errors.ExitCode).

The core raises typed errors, and AttnGroup.main turns each into one line on stderr.
Results go to stdout; messages, prompts and progress to stderr.
"""

from __future__ import annotations

import os
import sys
import warnings


def _interrupted_while_loading(kind, value, tb, previous=sys.excepthook) -> None:
    """Ctrl-C while Python loads attn's modules, before the error boundary exists: one line
    and exit 130, as at any other moment, rather than a traceback."""
    if not issubclass(kind, KeyboardInterrupt):
        return previous(kind, value, tb)
    try:
        sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "attn: interrupted while starting; nothing was done\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


sys.excepthook = _interrupted_while_loading  # before the imports below, which take most of startup

from typing import Any  # noqa: E402

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from ._version import __version__  # noqa: E402
from .commands.common import PROG, error_line, interrupted_line, writing_stdout  # noqa: E402
from .errors import AttnError, ExitCode, Interrupted  # noqa: E402


def _is_click_error(e: BaseException) -> bool:
    # Typer >= 0.29 vendors click, older Typer uses click itself: recognise either by shape.
    return hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)


def _report_click_error(e: Any) -> int:
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError":
        # the error was made by asking for the help, and Typer's rich help printed itself then;
        # plain help is left in the message instead
        text = e.format_message()
        if text.strip():
            typer.echo(text)
        return ExitCode.USAGE
    if e.exit_code == ExitCode.USAGE:
        where = ctx.command_path if ctx is not None else PROG
        hint = _quote_hint(e.format_message(), ctx) or f" (see '{where} --help')"
        error_line(f"{e.format_message()}{hint}")
    else:
        error_line(e.format_message())
    return int(e.exit_code)


TEXTS = ("text", "text_a", "text_b", "clean", "corrupt")  # the commands' text arguments


def _quote_hint(message: str, ctx: Any) -> str:
    """Words left over after a command's texts were given unquoted: a text of several words is one
    argument only in quotes (`attn explain hello world` gives `world` to nobody)."""
    import re
    import shlex

    extra = re.match(r"Got unexpected extra arguments? ?(?:\(s\))? \((.*)\)$", message)
    args = [p.name for p in ctx.command.params if p.param_type_name == "argument"] if ctx is not None else []
    if extra is None or not args or not all(a in TEXTS for a in args):
        return ""
    if len(args) == 1 and isinstance(ctx.params.get(args[0]), str):
        text = f"{ctx.params[args[0]]} {extra.group(1)}"
        quoted = f'"{text}"' if not set(text) & set('"$`\\!') else shlex.quote(text)
        return f": a text of several words is one argument, in quotes: {ctx.command_path} {quoted}"
    return f": each text of several words is one argument, in quotes, e.g. {ctx.command_path} " \
           '"I do not like spinach" "I do like spinach"'


class AttnGroup(TyperGroup):
    """Typer's group with one error boundary: every failure is one stderr line and an exit code."""

    # Typer turns a KeyboardInterrupt in parsing or in a command into a silent exit 130; as
    # Interrupted it reaches main below, which says so.
    def make_context(self, *args: Any, **kwargs: Any):
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted() from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted() from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or bool(os.environ.get("ATTN_DEBUG"))
        args = [a for a in args if a != "--debug"]  # accepted anywhere on the line
        code: int = ExitCode.OK
        try:
            with warnings.catch_warnings():
                if not debug:  # numpy's overflow warnings are noise on stderr: a result that cannot be used is
                    # an error of its own (one line), and one that can needs no warning
                    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"attncli(\.|$)")
                rv = super().main(args=args, prog_name=prog_name or PROG, complete_var=complete_var,
                                  standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else ExitCode.OK
            with writing_stdout():  # what is still buffered must reach stdout, or say why not
                sys.stdout.flush()
        except Interrupted as e:
            interrupted_line(str(e), e.line_is_clear)
            code = e.exit_code
        except AttnError as e:
            if debug:
                import traceback

                traceback.print_exc()
            error_line(str(e))
            code = e.exit_code
        except (typer.Abort, KeyboardInterrupt):
            interrupted_line("interrupted")
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
            error_line(f"internal error: {type(e).__name__}: {e} "
                       "(rerun with --debug for the traceback, and please report it)")
            code = ExitCode.ERROR
        if standalone_mode:
            sys.exit(code)
        return code


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show a traceback on errors (accepted anywhere on the line)."),
) -> None:
    """See self-attention from saved weights: attn explain "I do not like spinach"."""


# command name -> (module in commands/, function); in help order. "models" is a group of its own.
COMMANDS = {
    "explain": ("explain", "explain"),
    "view": ("view", "view"),
    "predict": ("predict", "predict"),
    "compare": ("compare", "compare"),
    "patch": ("patch", "patch"),
    "heads": ("heads", "heads"),
    "info": ("info", "info"),
    "train": ("train", "train_command"),
    "eval": ("train", "eval_command"),
    "models": ("models", "models_app"),
}


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with just `only`: Typer turns each registered command's
    signature into click parameters on every run, so `attn explain` need not pay for the others."""
    import importlib

    app = typer.Typer(
        cls=AttnGroup,
        name=PROG,
        help="See self-attention: tokens, Q/K/V, scores, softmax weights, contextual vectors and next-token "
             "predictions.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    for name, (module, attr) in COMMANDS.items():
        if only is not None and name != only:
            continue
        command = getattr(importlib.import_module(f".commands.{module}", __package__), attr)
        if name == "models":
            app.add_typer(command, name=name)
        else:
            app.command(name, help=reflowed(command.__doc__ or ""))(command)
    return app


def reflowed(doc: str) -> str:
    """A docstring's paragraphs each on one line: Typer keeps a paragraph's line breaks, and a line
    the terminal wraps would leave its last word alone on a line of the help."""
    import inspect

    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


def __getattr__(name: str) -> typer.Typer:
    """`attncli.cli.app`, the app with every command, built when first asked for (tests, library use)."""
    if name == "app":
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The `attn` program. Everything the imports made, and at the end everything the command made,
    lives until the process exits, so it is moved out of the garbage collector's sight (gc.freeze):
    no collection walks it again, nor the full one Python runs while exiting, which cost a short
    command like `attn explain` about a tenth of its time. Memory is still freed by reference
    counting; only cycles are left for exit to discard. Library use (attncli.api) is unaffected."""
    import gc

    gc.freeze()
    args = [a for a in sys.argv[1:] if a != "--debug"]
    first = args[0] if args else None  # the root options are flags, so the first word names the command
    try:
        build_app(first if first in COMMANDS else None)()
    finally:
        gc.freeze()
