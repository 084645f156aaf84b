"""The modes of `attn explain`, one module each, registered once in MODES.

A mode module declares MODE (base.Mode): its flag and the options only some modes take (as
Option data), the dataclass its analysis returns, the analysis, its Rich and JSON renderers,
the files --save/--html may write with it, what it asks of the model, and its page in attn view.
Everything else is derived from MODES: explain's options and which were typed, the choice of a
mode, the refusal of options a mode would ignore, and the side panel of attn view.
Adding a mode is one module here and its name in NAMES.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from .base import Context, Mode, Option, Page

__all__ = ["Context", "Mode", "Option", "Page", "MODES", "NAMES", "OPTIONS", "options", "pick", "check_options",
           "check_files", "write_files", "default_head", "pages"]

# The mode modules, in the order messages list them (the default tables first).
NAMES = ("table", "steps", "attribution", "rollout", "heads", "summary", "lens", "dla", "qk")

MODES: dict[str, Mode[Any]] = {name: importlib.import_module(f".{name}", __name__).MODE for name in NAMES}


def options() -> list[Option]:
    """Every option the modes declare (flags included), once each, in --help order."""
    found: dict[str, Option] = {}
    for m in MODES.values():
        for o in (m.flag, *m.options):
            if o is not None:
                found.setdefault(o.name, o)
    return sorted(found.values(), key=lambda o: o.order)


# The options that only some modes take (their flags); any other option goes with every mode.
OPTIONS = frozenset().union(*(m.option_names for m in MODES.values()))


def defaults() -> dict[str, Any]:
    """Every mode option at its default: what a Context holds for the options not given."""
    return {o.name: o.default for o in options()}


def pages() -> list[tuple[Mode[Any], Page]]:
    """The modes that have a page in attn view, in the order of its tabs."""
    with_page = [(m, m.page) for m in MODES.values() if m.page is not None]
    return sorted(with_page, key=lambda mp: mp[1].order)


def pick(values: Mapping[str, Any]) -> Mode[Any]:
    """The mode explain's values (parameter name -> value) pick, or the tables; two at once is a usage error."""
    chosen = [m for m in MODES.values() if m.picked(values)]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(m.label for m in chosen)} cannot be combined; choose one")
    return chosen[0] if chosen else MODES["table"]


def _takers(option: str) -> str:
    """The modes that take `option`, as a message lists them (the default tables first)."""
    flags = [m.label for m in MODES.values() if option in m.option_names]
    return flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} or {flags[-1]}"


# With --save/--html (and no --json) nothing goes to the terminal: options that shape only the
# terminal tables would be ignored.
TERMINAL_ONLY = {"--scores": "the figure and the page draw the weights",
                 "--dims": "the contextual vectors are not drawn"}


def check_options(mode: Mode[Any], given: set[str], files: dict[str, str], as_json: bool = False,
                  head: str | None = None) -> None:
    """Refuse, in one usage line, an option or a file the mode would otherwise ignore."""
    for option in sorted(given & OPTIONS - mode.option_names):
        if option == "--token":  # the wording a learner meets first
            raise UsageError(f"--token picks the query token of {_takers(option)}; add one of them")
        if option == "--temperature":
            raise UsageError("--temperature is a what-if of --steps; add --steps")
        where = "on the default tables" if mode.name == "table" else f"with {mode.label}"
        raise UsageError(f"{option} has no effect {where}; it goes with {_takers(option)}")
    for fmt in files:
        option = "--html" if fmt == "html" else "--save"
        if fmt not in mode.files:
            raise UsageError(f"{option} cannot be combined with {mode.label}: it draws the attention tables; "
                             f"leave out {mode.label}, or {option}")
        chosen = (head or "").strip().lower()
        if option == "--save" and "--head" in given and chosen != "all":
            raise UsageError("--save draws every head of the layer, so --head has no effect; leave out --head")
        if option == "--html" and chosen == "mean":
            raise UsageError("--html shows one head at a time and cannot show the mean of heads; leave out --head mean")
        if not as_json:
            for opt in sorted(given & set(TERMINAL_ONLY)):
                raise UsageError(f"{opt} has no effect with {option} ({TERMINAL_ONLY[opt]}); leave it out, "
                                 "or add --json")


def default_head(mode: Mode[Any], suggested: int | str) -> int | str:
    """The model's suggested head, except that a mode needing one head does not take the mean."""
    return 0 if mode.one_head and suggested == "mean" else suggested


def check_files(save: str | None, html: str | None) -> dict[str, str]:
    """Validate --save and --html before any work; {'png'|'svg'|'html': path}."""
    from ..render.files import IMAGE_FORMATS, check_path

    files = {}
    if save is not None:
        files[check_path(save, IMAGE_FORMATS, "--save")] = save
    if html is not None:
        check_path(html, ("html", "htm"), "--html")
        files["html"] = html
    return files


def write_files(files: dict[str, str], c: Context) -> list[str]:
    """Write the requested files; returns one line per file for stderr."""
    from ..render.files import write

    lines = []
    for fmt, path in files.items():
        if fmt == "html":
            from ..render import html as rhtml

            table = MODES["table"]
            view_ctx = c.replace(head=0 if c.head == "all" else c.head)
            doc = table.json(table.run(view_ctx), view_ctx)  # matrices as Rows: the page takes only what fits
            write(path, rhtml.page(doc), "--html")
            lines.append(f"wrote {path} (open it in a browser; it needs no network)")
        else:
            from ..render import plot

            write(path, plot.heatmaps(c.trace, c.layer, c.tokens, fmt), "--save")
            lines.append(f"wrote {path} (layer {c.layer}, {c.trace.config.n_head} heads)")
    return lines
