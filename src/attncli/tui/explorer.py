"""What `attn view` shows, read from one Trace computed once: the selection (layer, head or the
mean of heads, query token, ...), how each key moves it, the per-head statistics of the model
overview, and the side panel's analyses for the selected query. numpy only: no Rich, no Textual.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import modes
from ..errors import AttnError
from ..generate import Step
from ..labels import token_label
from ..model import Model
from ..tasks import Refusal
from ..tokenizer import Token
from ..trace import Trace
from ..views import MEAN, HeadView, head_view

# The overview's statistics, each a number in [0, 1] per layer and head (and the mean of heads).
STATS = ("entropy", "first token", "previous token", "from the query")
STAT_HELP = {
    "entropy": "each query's entropy ÷ its most (log2 of the keys it sees), averaged: 0 = on one key, 1 = even",
    "first token": "the weight on the first token, averaged over the queries after it (a sink)",
    "previous token": "the weight on the token just before, averaged over the queries that have one",
    "from the query": "the selected query's largest weight: how much of it goes to its top key",
}
SECTIONS = tuple(page.name for _, page in modes.pages())  # the side panel's pages: the modes' (modes/)


class Selection(NamedTuple):
    """Everything the screen depends on besides the trace; keys make a new one."""

    layer: int
    head: int | str  # a head index, or MEAN
    query: int  # the query token: the heatmap row, the strip's shading, the side panel
    scores: bool = False  # show the scores (before softmax) instead of the weights
    stat: str = STATS[0]  # the overview's statistic
    section: str = SECTIONS[0]  # the side panel's page


class Generation(NamedTuple):
    """`attn view -g N`: the tokens generated after the prompt (generate.py's Steps). The trace
    covers the prompt and every generated token, so step n's query is position prompt - 1 + n:
    the position whose prediction chose generated token n, at prompt + n."""

    prompt: int  # how many of the tokens are the prompt's
    steps: list[Step]
    temperature: float | None  # None or 0: greedy
    seed: int | None


def generated_tokens(model: Model, prompt: list[Token], ids: list[int]) -> list[Token]:
    """Tokens for generated ids, numbered after the prompt's, so they can join the strip."""
    tok, end = model.tokenizer, max((t.end for t in prompt), default=0)
    out = []
    for n, i in enumerate(ids):
        piece = tok.id_to_token(i)
        out.append(Token(index=len(prompt) + n, id=i, token=piece, text=tok.display(i), start=end, end=end,
                         word=len(prompt) + n, split=False, continues=piece.startswith("##"), unknown=False,
                         raw=tok.token_bytes(i), special=i in tok.special_ids))
    return out


def entropy_bits(w: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits over the last axis; masked (0) cells add nothing."""
    w = w.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(w > 0, w * np.log2(np.where(w > 0, w, 1.0)), 0.0)  # [..., T]
    return -plogp.sum(axis=-1)  # [...]


def layer_stats(weights: np.ndarray, masked: np.ndarray) -> dict[str, np.ndarray]:
    """The input-wide statistics of one layer's heads: name -> [H + 1] (the last: the mean of heads).

    weights [H, T, T], masked [T, T] (True where a query may not look)."""
    w = weights.astype(np.float64)  # [H, T, T]
    w = np.concatenate([w, w.mean(axis=0, keepdims=True)])  # [H + 1, T, T]
    T = w.shape[-1]
    most = np.log2(np.maximum((~masked).sum(axis=-1), 1))  # [T]: the entropy of an even row
    rows = most > 0  # a query that sees one key has no choice to measure
    ent = entropy_bits(w)  # [H + 1, T]
    entropy = (ent[:, rows] / most[rows]).mean(axis=-1) if rows.any() else np.zeros(w.shape[0])  # [H + 1]
    if T > 1:
        q = np.arange(1, T)  # the first token has nothing before it
        first = w[:, q, 0].mean(axis=-1)  # [H + 1]
        previous = w[:, q, q - 1].mean(axis=-1)  # [H + 1]
    else:
        first, previous = w[:, 0, 0], np.zeros(w.shape[0])
    return {"entropy": np.clip(entropy, 0.0, 1.0), "first token": first, "previous token": previous}


class Explorer:
    """The model, the input and its trace, and every number the screen draws from them."""

    def __init__(self, model: Model, text: str, tokens: list[Token], trace: Trace, truncated: bool = False,
                 top_k: int = 5, generation: Generation | None = None, roles: Any = None) -> None:
        self.model, self.text, self.tokens, self.trace = model, text, tokens, trace
        self.roles = roles  # analysis.heads.CensusRoles of --census: each head's roles, or None
        self.truncated, self.top_k, self.generation = truncated, top_k, generation
        self.config = model.config
        self.layers = trace.layers  # the layers kept: every one, unless the text is too long
        self.labels = [token_label(t) for t in tokens]
        self.heads: list[int | str] = [*range(self.config.n_head), MEAN]
        by_layer = [layer_stats(trace.block(L, "attn.weights"), trace.layer_mask(L)) for L in self.layers]
        self.stats = {name: np.stack([s[name] for s in by_layer]) for name in STATS[:-1]}  # [n_kept, H + 1]
        self._views: dict[tuple[int, int | str], HeadView] = {}
        self._pages: dict[tuple[str, int], Any] = {}  # what the side panel's pages computed, by (page, query)

    @property
    def all_layers(self) -> bool:
        return len(self.layers) == self.config.n_layer

    @property
    def T(self) -> int:
        return len(self.tokens)

    @property
    def prompt(self) -> int:
        """How many tokens the prompt has (all of them, without -g)."""
        return self.generation.prompt if self.generation is not None else self.T

    def step_at(self, query: int) -> int | None:
        """The generation step whose prediction was made at `query`, if any."""
        if self.generation is None:
            return None
        n = query - (self.prompt - 1)
        return n if 0 <= n < len(self.generation.steps) else None

    # ---- moving -------------------------------------------------------------------------

    def start(self, layer: int, head: int | str, query: int) -> Selection:
        """The selection to open on; a layer that was not kept falls back to the first kept one.
        A generation opens on the side panel's predictions, where each step's choice is."""
        section = SECTIONS[0] if self.generation is None else "predictions"
        return Selection(layer if layer in self.layers else self.layers[0], head, query, section=section)

    def move(self, sel: Selection, what: str, delta: int = 1) -> Selection:
        """The selection after one key: what is "query", "layer", "head", "stat", "step" or "section";
        the query and layer stop at the ends, the head cycles through the heads and then the mean."""
        if what == "query":
            return sel._replace(query=min(max(sel.query + delta, 0), self.T - 1))
        if what == "layer":
            i = self.layers.index(sel.layer)
            return sel._replace(layer=self.layers[min(max(i + delta, 0), len(self.layers) - 1)])
        if what == "head":
            return sel._replace(head=self.heads[(self.heads.index(sel.head) + delta) % len(self.heads)])
        if what == "stat":
            return sel._replace(stat=STATS[(STATS.index(sel.stat) + delta) % len(STATS)])
        if what == "step":  # to the next (previous) step's query; from outside the steps, to the first (last)
            if self.generation is None:
                return sel
            n = self.step_at(sel.query)
            last = len(self.generation.steps) - 1
            n = (0 if delta > 0 else last) if n is None else min(max(n + delta, 0), last)
            return sel._replace(query=self.prompt - 1 + n)
        if what == "section":
            return sel._replace(section=SECTIONS[(SECTIONS.index(sel.section) + delta) % len(SECTIONS)])
        raise ValueError(f"cannot move {what!r}")

    # ---- what the panels draw -------------------------------------------------------------

    def view(self, layer: int, head: int | str) -> HeadView:
        key = (layer, head)
        if key not in self._views:
            self._views[key] = head_view(self.trace, layer, head)
        return self._views[key]

    def levels(self, sel: Selection, query: int | None = None) -> list[float | None]:
        """One query's row as levels in [0, 1] (None where masked): the weights, or with
        sel.scores the scores from the row's lowest (0) to its highest (1)."""
        v = self.view(sel.layer, sel.head)
        q = sel.query if query is None else query
        visible = ~v.masked[q]  # [T]
        if not sel.scores:
            row = v.weights[q].astype(np.float64)  # [T]
        else:
            s = v.scores[q].astype(np.float64)  # [T]
            lo, hi = float(s[visible].min()), float(s[visible].max())
            row = (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)  # [T]
        return [float(x) if ok else None for x, ok in zip(row, visible, strict=True)]

    def stat_grid(self, sel: Selection) -> np.ndarray:
        """[n_kept, H + 1] values in [0, 1] of the overview's statistic (the last column: the mean of heads)."""
        if sel.stat != "from the query":
            return self.stats[sel.stat]
        return self.query_top(sel.query)[1]

    def query_top(self, query: int) -> tuple[np.ndarray, np.ndarray]:
        """For each kept layer and head (and the mean): the key the query attends to most and its weight."""
        rows = []
        for L in self.layers:
            w = self.trace.block(L, "attn.weights")[:, query, :].astype(np.float64)  # [H, T]
            rows.append(np.concatenate([w, w.mean(axis=0, keepdims=True)]))  # [H + 1, T]
        r = np.stack(rows)  # [n_kept, H + 1, T]
        top = r.argmax(axis=-1)  # [n_kept, H + 1]
        return top, np.take_along_axis(r, top[..., None], axis=-1)[..., 0]  # [n_kept, H + 1] twice

    def column(self, head: int | str) -> int:
        """The overview column of a head (the mean's is the last)."""
        return self.heads.index(head)

    # ---- the side panel ---------------------------------------------------------------------

    def reasoned(self, key: tuple[str, int], run: Any, flag: str, name: str) -> Any:
        """run() for a page, kept for `key` (page, query), or why it refused, worded for the view
        (the analyses speak of explain's flags: `flag` becomes `name`)."""
        if key not in self._pages:
            self._pages[key] = _or_reason(run, flag, name)
        return self._pages[key]


def _or_reason(run: Any, flag: str, name: str) -> Any:
    """run(), or the reason it refused, worded for the view (the analyses speak of explain's flags)."""
    try:
        return run()
    except Refusal as e:  # what the model's task cannot do: named for the view, with no option to leave out
        return e.named(name)
    except AttnError as e:
        return str(e).replace(flag, name, 1)
