"""`attn view [TEXT]`: explore the attention of one text by hand, in the terminal (tui/).

The trace is computed once, every layer kept when it fits (explain's --summary limit);
Textual is imported only here, inside the command, after the model is loaded.
"""

from __future__ import annotations

import os
from typing import Optional

import typer

from ..errors import AttnError, UsageError
from .common import (
    AblateModeOpt,
    AblateOpt,
    ColorOpt,
    MaxMemoryOpt,
    ModelOpt,
    TopKOpt,
    TruncateOpt,
    check_sampling,
    color_mode,
    default_view,
    load_model,
    read_stdin_text,
)


def _terminal_for_keys() -> None:
    """Textual draws on stderr and reads keys from stdin, and output redirected from stdout would
    be lost: stdout and stderr must be the terminal. Text piped in on stdin leaves no keys
    there, so stdin is reopened on the terminal, as less and fzf do."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if not os.isatty(fd):
            raise UsageError(f"attn view is interactive and draws on the terminal, but {name} is not one; "
                             "use attn explain for output you can redirect")
    if os.isatty(0):
        return
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        raise UsageError("attn view reads keys from the terminal, and there is none (stdin is not one, and "
                         "/dev/tty cannot be opened); use attn explain") from None
    os.dup2(fd, 0)  # sys.__stdin__, which Textual's driver reads, is fd 0: now the terminal
    os.close(fd)


def _generate(model, prompt: list, n: int, temperature: Optional[float], seed: Optional[int], top_k: int):
    """-g N: the prompt's tokens and the N generated after them, and the Generation (tui/explorer.py)."""
    from ..generate import generate_steps
    from ..tui.explorer import Generation, generated_tokens

    c = model.config
    model.task.require(model, "-g", "next_token")
    room = c.n_ctx - len(prompt)
    if n > room:
        raise UsageError(f"-g {n} goes past this model's context of {c.n_ctx} tokens: the text has {len(prompt)}, "
                         f"so at most -g {room}" + (" (shorten the text)" if room < 1 else ""))
    steps = generate_steps(model, [t.id for t in prompt], n, temperature, seed, k=top_k).steps  # fewer: an end of text
    tokens = prompt + generated_tokens(model, prompt, [s.id for s in steps])
    return tokens, Generation(len(prompt), steps, temperature, seed)


def _import_in_background():
    """Start importing the Textual app (tui/app.py, about 0.4 s of imports) on a second thread: the
    model's load and forward pass release the GIL in numpy and safetensors, so the two overlap.
    A failed import is left for the main thread's own import to report."""
    import threading

    def load() -> None:
        try:
            from ..tui import app  # noqa: F401
        except Exception:  # pragma: no cover - the main thread imports it again and reports the error
            pass

    t = threading.Thread(target=load, name="attn-view-import", daemon=True)
    t.start()
    return t


def color_wanted() -> bool:
    """Color unless --color never, or NO_COLOR (any value but empty) with --color auto."""
    mode = color_mode()
    if mode == "never":
        return False
    return mode == "always" or not os.environ.get("NO_COLOR")


def view(
    text: Optional[str] = typer.Argument(None,
                                         help="The sentence to explore; "
                                              "'-' or none (with a pipe) reads it from stdin."),
    model_spec: Optional[str] = ModelOpt,
    max_memory: Optional[int] = MaxMemoryOpt,
    layer: Optional[int] = typer.Option(None, "--layer", "-l",
                                        help="The layer to open on (negative counts from the end). "
                                             "Default: the model's suggested layer, else 0."),
    head: Optional[str] = typer.Option(None, "--head",
                                       help="The head to open on: a number, "
                                            "or 'mean' for the average of the layer's heads."),
    token: Optional[str] = typer.Option(None, "--token",
                                        help="The query token to open on, by its text (first match) or index. "
                                             "Default: the last (with -g: the first step's)."),
    generate_n: int = typer.Option(0, "--generate", "-g", min=0,
                                   help="Continue the text by N tokens first; n and b step through the generation."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-t",
                                                help="With -g: sample at this temperature (0 or unset: greedy)."),
    seed: Optional[int] = typer.Option(None, "--seed",
                                       help="With -g: the seed for sampling, for a repeatable continuation."),
    top_k: int = TopKOpt,
    truncate: bool = TruncateOpt,
    census: Optional[str] = typer.Option(None, "--census", metavar="FILE",
                                         help="Show each head's roles from this census of the same model "
                                              "(what attn heads writes with its JSON option) beside the heatmap."),
    ablate: Optional[str] = AblateOpt,
    ablate_mode: str = AblateModeOpt,
    color: str = ColorOpt,
) -> None:
    """Explore the attention interactively: keys move between layers, heads and query tokens.

    The screen shows the tokens shaded by the query's attention, the head's heatmap, every layer × head
    colored by a statistic, and the query's steps, predictions, logit lens and DLA. Press ? for the keys, q to quit.
    """
    from ..tui.timing import since_start

    timings = {"command": since_start()}  # Python, Typer and attncli imported, the options parsed
    check_sampling(generate_n, temperature, seed)
    from ..analysis.steps import resolve_token
    from ..views import resolve_head, resolve_layer
    from .explain import MAX_CELLS

    if text is None or text == "-":
        text = read_stdin_text("text", 'echo "I do not like spinach" | attn view')
    ui = _import_in_background() if os.isatty(1) and os.isatty(2) else None  # Textual loads while the model does
    model = load_model(model_spec, ablate, ablate_mode, max_memory=max_memory)
    roles = None
    if census is not None:
        from ..analysis.heads import census_roles
        from ..modes.summary import read_census

        roles = census_roles(read_census(census), model, census)
    c = model.config
    d_layer, d_head = default_view(model)
    L = resolve_layer(layer, c.n_layer, d_layer)
    h = resolve_head(head, c.n_head, d_head)
    tokens, truncated = model.encode(text, truncate)
    generation = None
    if generate_n:
        tokens, generation = _generate(model, tokens, generate_n, temperature, seed, top_k)
    query = resolve_token(token, tokens) if token is not None or generation is None else generation.prompt - 1
    T = len(tokens)
    keep = None if c.n_layer * c.n_head * T * T <= MAX_CELLS else [L]  # the other layers do not fit: say so
    trace = model.forward([t.id for t in tokens], layers=keep)
    timings["trace"] = since_start()

    from ..tui.explorer import Explorer

    explorer = Explorer(model, text, tokens, trace, truncated, top_k, generation, roles=roles)
    _terminal_for_keys()  # last: a wrong option is reported as it is by every command
    if ui is not None:
        ui.join()
    from ..tui.app import ViewApp

    timings["textual imported"] = since_start()
    app = ViewApp(explorer, explorer.start(L, h, query), color=color_wanted(), timings=timings)
    app.run()
    stopped(app.failure, app.return_code)


def stopped(failure: BaseException | None, return_code: int | None) -> None:
    """After the app: what stopped it becomes the CLI's one line on stderr and a non-zero exit (the
    original error chained, for --debug's traceback); a non-zero code without an error is said too."""
    if failure is not None:
        reason = " ".join(str(failure).split())
        if isinstance(failure, AttnError):
            e = ViewStopped(f"attn view stopped: {reason}")
            e.exit_code = failure.exit_code
            raise e from failure
        raise ViewStopped(f"attn view stopped: internal error: {type(failure).__name__}: {reason} (rerun with "
                          "--debug for the traceback, and please report it)") from failure
    if return_code:
        raise ViewStopped(f"attn view stopped with exit code {return_code}")


class ViewStopped(AttnError):
    """The app could not go on."""
