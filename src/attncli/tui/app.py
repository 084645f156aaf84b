"""The Textual app of `attn view`: the panels of panels.py on one screen, keys that move the
Selection (explorer.py), a help screen. The one module that imports textual.

Layout (80 × 24 and up): the header, the token strip, then the heatmap above the model overview
on the left and the side panel on the right, and a line of keys at the bottom. No widget takes
the focus, so every key reaches the app's bindings; the mouse is optional.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

from . import panels
from .explorer import MEAN, Explorer, Selection
from .timing import cpu_seconds, since_start


class Panel(Widget, can_focus=False):
    """A widget that draws one panel function at its own size; `plain` is what it shows, as text."""

    def __init__(self, draw: Callable[[int, int], Text], height: Callable[[int], int] | None = None,
                 title: Callable[[], str] | None = None, click: Callable[[int, int, int, int], None] | None = None,
                 what: str = "this panel", todo: str = "the other panels still work", **kw: Any) -> None:
        super().__init__(**kw)
        self._draw, self._height, self._title, self._click = draw, height, title, click
        self._what, self._todo = what, todo  # for the one line shown in the panel if drawing it fails
        self.last = Text()

    def render(self) -> Text:
        self.last = panels.guarded(self._what, self._todo, self._drawn)
        return self.last

    def _drawn(self) -> Text:
        if self._title is not None:
            self.border_title = Text(self._title())  # as Text: a str is markup, and "[SEP]" would vanish as a tag
        return self._draw(self.size.width, self.size.height)

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        if self._height is None:
            return super().get_content_height(container, viewport, width)
        return self._height(width)

    @property
    def plain(self) -> str:
        return self.last.plain

    def on_click(self, event: Any) -> None:
        if self._click is not None:
            offset = event.get_content_offset(self)
            if offset is not None:
                self._click(offset.x, offset.y, self.size.width, self.size.height)


class Side(VerticalScroll, can_focus=False):
    """The side panel: scrolls with PgUp/PgDn, not with the arrows (those move the selection)."""


class Help(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close")]
    DEFAULT_CSS = """
    Help { align: center middle; }
    Help > VerticalScroll { width: 90%; height: 90%; border: round $accent; padding: 0 1; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(panels.help_text(), id="help-text")


class ViewApp(App[None]):
    """attn view on one Explorer; `timings` (name -> seconds since the process started) gets
    "first paint" when the first frame is on the screen, and is written to ATTN_VIEW_TIMINGS."""

    TITLE = "attn view"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #header { height: auto; padding: 0 1; }
    #strip { height: auto; max-height: 9; border: round $primary; padding: 0 1; }
    #main { height: 1fr; }
    #left { width: 1fr; }
    #heatmap { height: 1fr; min-height: 5; border: round $primary; }
    #overview { height: auto; max-height: 50%; border: round $primary; }
    #side { width: 42%; min-width: 34; border: round $primary; padding: 0 0 0 1;
            scrollbar-size-vertical: 1; scrollbar-gutter: stable; }
    #keys { height: 1; padding: 0 1; }
    """
    BINDINGS = [
        Binding("left,h", "move('query', -1)", "query", show=False),
        Binding("right,l", "move('query', 1)", "query", show=False),
        Binding("home", "query_to(0)", "first token", show=False),
        Binding("end", "query_to(-1)", "last token", show=False),
        Binding("up,k", "move('layer', -1)", "layer", show=False),
        Binding("down,j", "move('layer', 1)", "layer", show=False),
        Binding("left_square_bracket", "move('head', -1)", "head", show=False),
        Binding("right_square_bracket", "move('head', 1)", "head", show=False),
        Binding("m", "mean", "mean of heads", show=False),
        Binding("s", "scores", "scores/weights", show=False),
        Binding("o", "move('stat', 1)", "statistic", show=False),
        Binding("n", "move('step', 1)", "next step", show=False),
        Binding("b", "move('step', -1)", "previous step", show=False),
        Binding("p,tab", "move('section', 1)", "panel", show=False, priority=True),
        Binding("shift+tab", "move('section', -1)", "panel", show=False, priority=True),
        Binding("pageup", "side_scroll(-1)", "scroll", show=False),
        Binding("pagedown", "side_scroll(1)", "scroll", show=False),
        Binding("question_mark", "help", "help", show=False),
        Binding("q,ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(self, explorer: Explorer, selection: Selection, color: bool = True,
                 timings: dict[str, float] | None = None) -> None:
        super().__init__()
        self.ex, self.sel, self.color = explorer, selection, color
        self.timings = timings if timings is not None else {}
        self.failure: Exception | None = None  # what stopped the app, if anything did (_handle_exception)
        self.last_head: int | str = selection.head if selection.head != MEAN else 0
        if not color:  # strip every color Textual's theme adds too, as NO_COLOR asks (not its grey Monochrome)
            from textual.filter import Monochrome, NoColor

            self.no_color = True
            filters = [f for f in getattr(self, "_filters", []) if not isinstance(f, Monochrome)]
            if hasattr(self, "_filters"):
                self._filters = [*filters, NoColor()] if not any(isinstance(f, NoColor) for f in filters) else filters

    def compose(self) -> ComposeResult:
        ex = self.ex
        yield Panel(lambda w, h: panels.header(ex, self.sel, w), lambda w: 1 + len(panels.notes(ex)),
                    what="the header", id="header")
        yield Panel(lambda w, h: panels.token_strip(ex, self.sel, w, 8, self.color),
                    lambda w: panels.strip_height(ex, w, 8), lambda: panels.strip_title(ex, self.sel),
                    self._click_strip, what="the token strip", id="strip")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Panel(lambda w, h: panels.heatmap(ex, self.sel, w, h, self.color),
                            title=lambda: panels.heatmap_title(ex, self.sel), click=self._click_heatmap,
                            what="the heatmap", todo="another layer or head may draw", id="heatmap")
                yield Panel(lambda w, h: panels.overview(ex, self.sel, w, h, self.color),
                            lambda w: panels.overview_height(ex), lambda: panels.overview_title(self.sel),
                            self._click_overview, what="the model overview", todo="o picks another statistic",
                            id="overview")
            with Side(id="side"):
                yield Static(id="side-text")
        yield Static(Text(panels.footer(ex), style="bold"), id="keys")

    def _handle_exception(self, error: Exception) -> None:
        """The app's error boundary, in place of Textual's (a traceback with locals, and exit 0 unless asked):
        keep the error for the command (commands/view.py), which says it in one line on stderr and exits
        non-zero, and close the app. A panel's own failure never gets here (panels.guarded)."""
        self.failure = error
        self._return_code = 1
        self._exception_event.set()  # a pilot waiting on the app stops waiting
        self._close_messages_no_wait()

    def on_mount(self) -> None:
        self.timings["mounted"] = since_start()
        self.redraw()

    def on_ready(self) -> None:
        """The first frame is on the screen."""
        self.timings["first paint"] = since_start()
        self.timings["cpu"] = cpu_seconds()
        path = os.environ.get("ATTN_VIEW_TIMINGS")
        if path:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(self.timings, f)

    # ---- state --------------------------------------------------------------------------

    def select(self, sel: Selection) -> None:
        if sel != self.sel:
            self.sel = sel
            if sel.head != MEAN:
                self.last_head = sel.head
            self.redraw()

    def redraw(self) -> None:
        for panel in self.query(Panel):
            panel.refresh(layout=panel.id == "strip")
        side = self.query_one("#side", Side)
        width = side.scrollable_content_region.width or 30
        self.query_one("#side-text", Static).update(panels.side_panel(self.ex, self.sel, width, self.color))
        side.border_title = Text(panels.side_title(self.ex, self.sel))  # not markup: see Panel._drawn

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw)

    def panel(self, name: str) -> str:
        """What a panel shows, as plain text: header, strip, heatmap, overview or side."""
        if name == "side":
            return self.query_one("#side-text", Static).content.plain  # type: ignore[union-attr]
        return self.query_one(f"#{name}", Panel).plain

    # ---- actions ------------------------------------------------------------------------

    def action_move(self, what: str, delta: int) -> None:
        self.select(self.ex.move(self.sel, what, delta))

    def action_query_to(self, i: int) -> None:
        self.select(self.sel._replace(query=i % self.ex.T))

    def action_mean(self) -> None:
        self.select(self.sel._replace(head=self.last_head if self.sel.head == MEAN else MEAN))

    def action_scores(self) -> None:
        self.select(self.sel._replace(scores=not self.sel.scores))

    def action_side_scroll(self, direction: int) -> None:
        side = self.query_one("#side", Side)
        (side.scroll_page_down if direction > 0 else side.scroll_page_up)(animate=False)

    def action_help(self) -> None:
        if not isinstance(self.screen, Help):
            self.push_screen(Help())

    # ---- the mouse ----------------------------------------------------------------------

    def _click_strip(self, x: int, y: int, width: int, height: int) -> None:
        j = panels.strip_hit(self.ex, self.sel, width, 8, x, y)
        if j is not None:
            self.select(self.sel._replace(query=j))

    def _click_heatmap(self, x: int, y: int, width: int, height: int) -> None:
        q = panels.heatmap_hit(self.ex, self.sel, width, height, y)
        if q is not None:
            self.select(self.sel._replace(query=q))

    def _click_overview(self, x: int, y: int, width: int, height: int) -> None:
        hit = panels.overview_hit(self.ex, self.sel, width, height, x, y)
        if hit is not None:
            self.select(self.sel._replace(layer=hit[0], head=hit[1]))

