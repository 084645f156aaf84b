"""What an explain mode is: the parts every module of modes/ declares in its MODE.

Light on purpose (no Rich, no analysis at import): `attn explain` builds its options from every
mode's declaration at start-up, and only the chosen mode's analysis and renderers are loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # not at run time: declaring the modes must not load numpy before explain's --help
    from ..model import Model
    from ..tokenizer import Token
    from ..trace import Trace

Renderable = Any  # a Rich renderable
R = TypeVar("R")  # a mode's result


@dataclass(frozen=True, eq=False)  # one per option, page or mode: identity is equality
class Option:
    """One option of `attn explain` that only some modes take, as data: the command's signature,
    its bookkeeping (which was typed) and the refusals are built from these."""

    name: str  # the parameter's name: the keyword of explain and the key of Context.options
    decls: tuple[str, ...]  # Typer's parameter declarations, the flag first: ("--layer", "-l")
    type: Any  # the parameter's annotation: bool, int, float, Optional[str], ...
    default: Any
    help: str
    order: int  # where it stands among explain's options in --help
    metavar: str | None = None
    min: int | None = None
    check: Callable[[Any], None] | None = None  # refuses a value no mode can take, before any work

    @property
    def flag(self) -> str:
        return self.decls[0]

    def typer_option(self) -> Any:
        import typer

        extra: dict[str, Any] = {} if self.metavar is None else {"metavar": self.metavar}
        if self.min is not None:
            extra["min"] = self.min
        return typer.Option(self.default, *self.decls, help=self.help, **extra)


@dataclass(frozen=True, eq=False)  # one per option, page or mode: identity is equality
class Page:
    """A mode's page in the side panel of `attn view`: draw(explorer, selection, width, color) -> Rich Text."""

    name: str  # the Selection's section
    tab: str  # the tab's title
    order: int  # its place among the tabs
    draw: Callable[[Any, Any, int, bool], Any]
    what: str | None = None  # how a message names the page ("the next-token predictions"); default: its tab


@dataclass(frozen=True, eq=False)  # one per run: equal only to itself
class Context:
    """What every mode reads: the model, the input, its trace, the resolved layer and head, and the
    value of every mode option (Option.name -> value; the declared default when not typed)."""

    model: Model
    text: str
    tokens: list[Token]
    trace: Trace
    layer: int
    head: int | str
    truncated: bool
    options: Mapping[str, Any] = field(default_factory=dict)
    progress: Callable[[str, int, int | None], None] | None = None  # (what, done, total) of a long analysis

    def __getattr__(self, name: str) -> Any:  # c.top_k, c.token, ...: the options by name
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(name)

    def replace(self, **changes: Any) -> Context:
        from dataclasses import replace

        return replace(self, **changes)

    def told(self, what: str) -> Callable[[int, int], None] | None:
        """An analysis's progress(done, total), passed on to the command's progress display as `what`."""
        tick = self.progress
        return None if tick is None else (lambda done, total: tick(what, done, total))


@dataclass(frozen=True, eq=False)  # one per option, page or mode: identity is equality
class Mode(Generic[R]):
    """One explain mode. run, rich and json are the mode's analysis and its two renderers:
    run(context) -> result (of type `result`, a dataclass), rich(result, context, width) -> a
    renderable, json(result, context) -> the --json document."""

    name: str
    flag: Option | None  # the bool option that selects it; None: the default tables, or `called`
    result: type  # the dataclass run returns
    run: Callable[[Context], R]
    rich: Callable[[R, Context, int], Renderable]
    json: Callable[[R, Context], dict[str, Any]]
    options: tuple[Option, ...] = ()  # the mode options it takes besides its flag
    files: frozenset[str] = frozenset()  # what --save/--html may write with it: "png", "svg", "html"
    all_layers: bool = False  # it reads every layer's attention
    one_head: bool = False  # it needs a numbered head, not 'mean'
    requires: tuple[str, ...] = ()  # what it asks of the model's task (tasks.Task.can): "words", "next_token"
    page: Page | None = None  # its side-panel page in attn view
    called: str | None = None  # how messages name a mode without a flag: "--head all", "the default tables"
    chosen: Callable[[Mapping[str, Any]], bool] | None = None  # ... and the test of explain's values for it

    @property
    def label(self) -> str:
        """How messages name it: its flag, or how it is picked."""
        return self.flag.flag if self.flag is not None else self.called or self.name

    @property
    def option_names(self) -> frozenset[str]:
        return frozenset(o.flag for o in self.options)

    def picked(self, values: Mapping[str, Any]) -> bool:
        if self.flag is not None:
            return bool(values.get(self.flag.name))
        return self.chosen is not None and self.chosen(values)
