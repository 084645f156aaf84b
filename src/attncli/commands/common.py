"""What every command shares: its options, where output goes, and how a model is loaded.

Results go to stdout (Rich's console, or JSON), messages to stderr; nothing here exits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

import typer

from ..errors import OutputError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

PROG = "attn"

ModelOpt = typer.Option(None, "--model", "-m",
                        help="A model directory, a .gguf file, a pulled model's name, "
                             "org/name of a model in the Hugging Face cache, "
                             "ollama:NAME or ollama:NAME:TAG of one in Ollama's store, "
                             "or lmstudio:PUBLISHER/REPO (or .../REPO/FILE.gguf) of one in LM Studio's "
                             "(attn models list shows them all). "
                             "Default: the bundled model (-m bundled-mlm: the bundled masked-language model).")
JsonOpt = typer.Option(False, "--json", help="Write one JSON document to stdout and nothing else.")
TopKOpt = typer.Option(5, "--top-k", "-k", min=1, help="How many next-token predictions to show.")
TruncateOpt = typer.Option(False, "--truncate",
                           help="If the text is longer than the model's context, keep its last tokens that fit.")


def parse_size(value: str | None) -> int | None:
    """--max-memory's value in bytes (units.parse_size)."""
    from ..units import parse_size as parse

    return parse(value)


MaxMemoryOpt = typer.Option(None, "--max-memory", metavar="SIZE", parser=parse_size,
                            help="Memory the weights may take, e.g. 2G (default: half of the memory available). "
                                 "A GGUF model whose float32 copy would not fit keeps its matrices quantized "
                                 "and dequantizes each when used.")

COLOR_MODES = ("auto", "always", "never")
_color = {"mode": "auto"}  # this run's --color, set while the command line is parsed


def _set_color(value: str) -> str:
    mode = value.strip().lower()
    if mode not in COLOR_MODES:
        raise UsageError(f"--color {value!r} is not one of {', '.join(COLOR_MODES)}")
    _color["mode"] = mode
    return mode


ColorOpt = typer.Option("auto", "--color", callback=_set_color, metavar="auto|always|never",
                        help="Color: auto (on a terminal, honoring NO_COLOR and FORCE_COLOR), "
                             "always (e.g. for less -R), or never.")


def color_mode() -> str:
    """This run's --color: auto, always or never."""
    return _color["mode"]


def error_line(message: str) -> None:
    """One line on stderr, whatever the message held."""
    from ..labels import printable

    typer.echo(f"{PROG}: error: {printable(' '.join(str(message).split()))}", err=True)


def warning_line(message: str) -> None:
    """A warning: one line on stderr, "attn: warning: ...", whatever the message held."""
    from ..labels import printable

    typer.echo(f"{PROG}: warning: {printable(' '.join(str(message).split()))}", err=True)


def note_line(message: str) -> None:
    """A note about the results (not a warning): one line on stderr, "attn: ...", made printable."""
    from ..labels import printable

    typer.echo(f"{PROG}: {printable(' '.join(str(message).split()))}", err=True)


def interrupted_line(message: str, line_is_clear: bool = False) -> None:
    """Ctrl-C's one line on stderr, "attn: interrupted ...". On a terminal it starts on a new
    line: the cursor is after the ^C the terminal echoed, or after a prompt such as text>
    (unless a progress display was redrawn since: `line_is_clear`)."""
    try:
        fresh = line_is_clear or not sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        fresh = True
    typer.echo(f"{'' if fresh else chr(10)}{PROG}: {' '.join(str(message).split())}", err=True)


def stdout_console() -> Console:
    """Rich's console on stdout: color only on a terminal, NO_COLOR honored (by Rich).

    Strings are printed as they are: no markup and no :emoji: codes, so that text from the
    input or a tokenizer is never read as styling (renderers style with Text objects).
    Off a terminal, Rich would assume 80 columns; a file or pipe gets 120 (or $COLUMNS)
    so that numbers are not cut.
    """
    from rich.console import Console

    kw: dict[str, Any] = {"highlight": False, "markup": False, "emoji": False}
    mode = _color["mode"]
    if mode == "always":  # even into a pipe or a file, whatever NO_COLOR says
        truecolor = os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit")
        kw.update(force_terminal=True, no_color=False, color_system="truecolor" if truecolor else "256")
    elif mode == "never":
        kw["color_system"] = None
    console = Console(**kw)
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        console = Console(**kw, width=120)
    return console


def stderr_console() -> Console:
    """Rich's console on stderr (progress bars, notices), with this run's --color: never drops
    color, always keeps it even off a terminal. Whether a progress bar animates is the caller's
    business (only on a real terminal: see is_stderr_terminal)."""
    from rich.console import Console

    mode = _color["mode"]
    if mode == "never":
        return Console(stderr=True, color_system=None)
    if mode == "always":
        return Console(stderr=True, force_terminal=True, no_color=False, color_system="256")
    return Console(stderr=True)


def is_stderr_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


Tick = Callable[[str, int, Optional[int]], None]  # (what is being done, done, total; None: not known)


@contextmanager
def progress() -> Iterator[Tick]:
    """Progress on stderr for work that can take seconds: the block gets tick(what, done, total),
    and the first tick draws a bar (one per `what`), which is gone when the block ends. Nothing
    at all is written when stderr is not a terminal (a log, a pipe, a test), whatever --color says."""
    from ..errors import Interrupted

    shown = is_stderr_terminal()  # rich.progress is imported only when a bar may be drawn: start-up time
    tasks: dict[str, Any] = {}
    bars: list[Any] = []

    def tick(what: str, done: int, total: Optional[int]) -> None:
        if not shown:
            return
        if not bars:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            # stdout is not redirected through the display: results never go to stderr, whatever prints them
            bars.append(Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
                                 TimeElapsedColumn(), console=stderr_console(), transient=True,
                                 redirect_stdout=False, redirect_stderr=False))
            bars[0].start()
        bar = bars[0]
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total, count="")
        bar.update(tasks[what], completed=done, total=total, count="" if total is None else f"{done}/{total}")

    try:
        yield tick
    except KeyboardInterrupt:  # the bar is erased as the block ends, and the ^C the terminal echoed with it
        raise Interrupted(line_is_clear=bool(tasks)) from None
    finally:
        if bars:
            bars[0].stop()


@contextmanager
def writing_stdout() -> Iterator[None]:
    """Writes to stdout inside this turn a failure (a full disk, say) into one OutputError.

    A closed pipe (`| head`) is not a failure: BrokenPipeError passes on, and the CLI's
    boundary stops quietly.
    """
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write the output to stdout ({e.strerror or e}); "
                          "check where it goes, e.g. a full disk") from None


def show(renderable: Any, console: Any = None, crop: bool = True) -> None:
    """Print a Rich renderable on stdout (crop=False: a line longer than the width is printed whole).

    Rich pads every table cell, and a line, to its width; the spaces left at the end of a line are
    dropped here, the one place output is printed, so no line ends in a space (a file or a diff of
    it would carry them). A styled space (a colored cell) ends in its escape code and is kept."""
    console = console or stdout_console()
    with writing_stdout():  # Rich flushes the stream as a capture ends: a full disk can fail there too
        with console.capture() as captured:
            console.print(renderable, crop=crop)
        sys.stdout.write("\n".join(line.rstrip(" ") for line in captured.get().split("\n")))
        sys.stdout.flush()


def echo(text: str) -> None:
    """A line of plain text on stdout, made printable (it may name files and models)."""
    from ..labels import printable

    with writing_stdout():
        sys.stdout.write(printable(text, newlines=True) + "\n")
        sys.stdout.flush()


def emit_json(doc: dict[str, Any]) -> None:
    """One JSON document and a newline on stdout; large matrices (render.json_doc.Rows) are streamed."""
    from ..render.json_doc import dump

    out = sys.stdout
    with writing_stdout():
        dump(doc, out.write)
        out.write("\n")
        out.flush()


def read_stdin_text(what: str, example: str = 'echo "I do not like spinach" | attn explain') -> str:
    """All of stdin as one text (for `-`, or no TEXT with a pipe), its final line break dropped."""
    stream = typer.get_binary_stream("stdin")
    if stream.isatty():
        raise UsageError(f"give the {what} as an argument, or pipe it in: {example}")
    raw = stream.read()
    try:
        return raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError as e:
        raise UsageError(f"stdin is not valid UTF-8 (byte {e.start} is 0x{raw[e.start]:02x}); "
                         "convert the input, e.g. with iconv -t UTF-8") from None


def check_sampling(generate_n: int, temperature: Optional[float], seed: Optional[int]) -> None:
    """-g N's --temperature and --seed: a temperature is 0 (greedy) or positive, and a seed seeds
    sampling, which only a temperature above 0 does (greedy is the same every time)."""
    if temperature is not None and not 0 <= temperature < float("inf"):  # NaN fails it too
        raise UsageError(f"--temperature must be 0 (greedy) or a positive number, got {temperature:g}")
    if not generate_n and (temperature is not None or seed is not None):
        raise UsageError("--temperature and --seed say how to generate; add -g N")
    if seed is not None and not temperature:
        raise UsageError("--seed seeds sampling, and without --temperature T above 0 the continuation is greedy, "
                         "the same every time; add --temperature T (e.g. 0.8) or leave out --seed")


AblateOpt = typer.Option(None, "--ablate", metavar="L.H[,L.H...]",
                         help="Run the model without these heads (layer.head, e.g. 1.3,0.2): "
                              "their outputs are zeroed or mean-ablated in the forward pass, and every output says so.")
AblateModeOpt = typer.Option("zero", "--ablate-mode", metavar="zero|mean",
                             help="zero: the heads' outputs become 0; mean: their mean over the input's positions.")


def load_model(spec: Optional[str], ablate: Optional[str] = None, ablate_mode: str = "zero",
               max_memory: Optional[int] = None):
    """The model at `spec` (its weights within `max_memory` bytes); with `ablate`, the same model
    with those heads ablated in every forward pass."""
    from ..checkpoints import load, store_model

    warn_if_changed(spec)
    stored = store_model(spec)  # -m ollama:... or lmstudio:...: its file, and what was passed over to find it
    for note in stored.notes if stored is not None else ():
        note_line(note)
    size = weights_size(str(stored.path) if stored is not None else spec)
    with progress() as tick:
        if size >= SHOW_LOADING:
            from ..labels import printable
            from ..units import binary_size

            tick(f"loading {printable(str(spec))} ({binary_size(size)})", 0, None)
        model = load(spec, max_memory=max_memory)
    for warning in model.warnings:
        warning_line(warning)
    if ablate is None:
        if ablate_mode != "zero":
            raise UsageError("--ablate-mode says how to ablate the heads of --ablate; add --ablate L.H")
        return model
    from ..analysis.ablation import ablate as ablated
    from ..analysis.ablation import parse_heads

    return ablated(model, parse_heads(ablate, model.config), ablate_mode)


SHOW_LOADING = 32 << 20  # weights this big take about a second or more to load: say so while they do


def weights_size(spec: Optional[str]) -> int:
    """Bytes of the weights a --model value names (a file, or the files at the top of a folder),
    if it is a path or a pulled model's name; else 0."""
    if not spec:  # the bundled model: small, and not a pulled one
        return 0
    from pathlib import Path

    from .. import registry

    entry = registry.named(spec)
    path = registry.model_path(entry) if entry is not None else Path(spec).expanduser() if spec else None
    try:
        if path is None or not path.exists():
            return 0
        files = [f for f in path.iterdir() if f.is_file()] if path.is_dir() else [path]
        return sum(f.stat().st_size for f in files)
    except OSError:  # unreadable: the load says what is wrong
        return 0


def warn_if_changed(spec: Optional[str]) -> None:
    """A pulled model about to be used that is not as its sha256 check left it (its size or
    modification time differ, or it has no record): one warning line, before it is loaded."""
    if not spec:  # the bundled model is never a pulled one: the registry need not even be imported
        return
    from .. import registry

    entry = registry.named(spec)
    if entry is None or not registry.is_present(entry):  # not a pulled model's name, or not there: load says so
        return
    why = registry.unverified(entry)
    if why is not None:
        warning_line(f"{entry.name} ({registry.model_path(entry)}) {why}; it may not be the model it should be: "
                     f"check it with attn models verify {entry.name}")


def noted(model, renderable: Any) -> Any:
    """The renderable under a line saying which heads are ablated, so no output passes for the model's own."""
    if model.ablation is None:
        return renderable
    from rich.console import Group
    from rich.text import Text

    from ..analysis.ablation import describe

    return Group(Text(f"! {describe(*model.ablation)}: not the model's own numbers", style="bold yellow"), renderable)


def default_view(model) -> tuple[int, int | str]:
    """The layer and head a model's card suggests opening on (else layer 0, head 0)."""
    view = model.card.get("default_view") or {}
    return int(view.get("layer", 0)), view.get("head", 0)


def given(ctx: typer.Context, options: dict[str, str]) -> set[str]:
    """Which of `options` (parameter name -> flag) the user typed, as flags."""
    typed = ("COMMANDLINE", "ENVIRONMENT")  # click's ParameterSource, by name (Typer may vendor click)
    return {flag for name, flag in options.items() if getattr(ctx.get_parameter_source(name), "name", None) in typed}
