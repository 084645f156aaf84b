"""`attn heads [CORPUS]`: what every head does, measured over a corpus (analysis/heads.py), in this
process, in local worker processes or on a Dask cluster (analysis/heads_run.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import typer

from ..errors import UsageError
from .common import (
    PROG,
    ColorOpt,
    JsonOpt,
    MaxMemoryOpt,
    ModelOpt,
    emit_json,
    is_stderr_terminal,
    load_model,
    show,
    stderr_console,
    stdout_console,
)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def texts_progress(total: int | None) -> Iterator[Callable[[int], None]]:
    """A bar on stderr (texts done, texts/s, time left) when stderr is a terminal; else nothing."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("counting texts"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=stderr_console(),
                   disable=not is_stderr_terminal(), transient=True, redirect_stdout=False, redirect_stderr=False)
    task = bar.add_task("texts", total=total, rate="")
    import time

    start = time.monotonic()

    def tick(done: int) -> None:
        if not bar.disable:
            rate = done / max(time.monotonic() - start, 1e-9)
            bar.update(task, completed=done, rate=f"{rate:.1f} texts/s" if done else "")

    with bar:
        yield tick


def heads(
    corpus: str | None = typer.Argument(None, metavar="[CORPUS]", help="A text file, one text per line (blank lines "
                                           "skipped); '-' reads stdin. Default: the built-in corpus of plain English."),
    model_spec: str | None = ModelOpt,
    max_memory: str | None = MaxMemoryOpt,  # a size as typed; its callback makes it bytes (an int)
    induction_length: int = typer.Option(40, "--induction-length", metavar="L",
                                         help="Tokens in each random sequence that is repeated (induction, "
                                              "duplicate)."),
    induction_samples: int = typer.Option(20, "--induction-samples", metavar="N", min=0,
                                          help="How many repeated random sequences to measure."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seeds the random sequences and the bootstrap."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", metavar="N", min=1,
                                             help="Count at most the first N tokens of a text (default: the model's "
                                                  "context); the output says how many texts were cut."),
    workers: int | None = typer.Option(None, "--workers", metavar="N", min=1,
                                          help="Processes that share the texts, each loading the model once "
                                               "(default: the cores available)."),
    scheduler: str | None = typer.Option(None, "--scheduler", metavar="ADDRESS",
                                            help="Run on this Dask cluster (default: $DASK_SCHEDULER_ADDRESS, if set); "
                                                 "needs pip install 'attncli\\[dask]'."),
    html: str | None = typer.Option(None, "--html", help="Also write one self-contained HTML page of the census."),
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    """Measure what every head does over a corpus: previous-token, first-token (sink), self, entropy, induction
    and duplicate scores with 95% intervals, and the roles they give.

    Each score is 0 to 1; a head gets a role when the low end of its score's interval reaches the role's threshold,
    which the output prints.
    """
    from ..analysis.heads import Options, finish
    from ..analysis.heads_run import BATCH, run, scheduler_address
    from ..corpus import open_corpus

    if html is not None:
        from ..render.files import check_path

        check_path(html, ("html", "htm"), "--html")
    options = Options(induction_length=induction_length, induction_samples=induction_samples, seed=seed,
                      max_tokens=max_tokens)
    if induction_length < 2:
        raise UsageError(f"--induction-length must be at least 2, got {induction_length}")
    source = open_corpus(corpus)
    address = scheduler_address(scheduler)
    if address and workers is not None:
        raise UsageError("--workers splits the texts over local processes and --scheduler over a Dask cluster's "
                         "workers; give one of them")
    memory = cast("int | None", max_memory)  # parse_size has made it bytes
    model = load_model(model_spec, max_memory=memory)
    n = workers or available_cores()
    if source.total is not None:  # no more processes than batches of texts
        n = max(1, min(n, -(-source.total // BATCH)))
    with texts_progress(source.total) as tick:
        part = run(model, model_spec, memory, options, source.texts(), workers=n, scheduler=address,
                   progress=tick)
    result = finish(part, model, options)
    if html is not None:
        from ..labels import printable
        from ..render.files import write
        from ..render.heads_html import heads_page

        write(html, heads_page(model, result, source.name), "--html")
        typer.echo(f"{PROG}: wrote {printable(html)}", err=True)
    if as_json:
        from ..render.heads import heads_doc

        emit_json(heads_doc(model, result, source.name))
        return
    from ..render.heads import rich_heads

    show(rich_heads(model, result, source.name), stdout_console())
