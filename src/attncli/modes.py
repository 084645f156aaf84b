"""The modes of `attn explain`, in one registry: the default tables, --steps, --summary,
--attribution, --rollout, --head all, --lens, --dla and --qk.

A Mode names its flag, the options that only it takes, the files (--save/--html) it can
write, whether it reads every layer, and three functions: the analysis it runs on a
Context, its Rich renderer and its JSON renderer. The command picks a mode, asks the
registry to refuse what makes no sense, runs the forward pass and hands the Context over.
Adding a mode is one entry of MODES and its three functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import UsageError
from .model import Model
from .tokenizer import Token
from .trace import Trace


class Context(NamedTuple):
    """What every mode reads: the model, the input, its trace and the command's options."""

    model: Model
    text: str
    tokens: list[Token]
    trace: Trace
    layer: int
    head: int | str
    top_k: int
    truncated: bool
    token: str | None = None  # --token
    temperature: float = 1.0  # --temperature
    dims: int = 8  # --dims
    scores: bool = False  # --scores
    window: str | None = None  # --window A:B: the slice of the matrix the tables show
    target: str | None = None  # --target: the word the lens tracks or DLA attributes
    contrast: str | None = None  # --contrast: DLA's second word (the logit difference)
    key: str | None = None  # --key: the key token --qk takes the score apart for
    progress: Callable[[str, int, int | None], None] | None = None  # (what, done, total) of a long analysis
    census: Any = None  # --census: analysis.heads.CensusRoles of an attn heads --json document


Renderable = Any  # a Rich renderable


class Mode(NamedTuple):
    name: str
    flag: str | None  # the option that selects it; None for the default tables
    run: Callable[[Context], Any]  # the analysis: Context -> a result
    rich: Callable[[Any, Context, int], Renderable]  # (result, context, terminal width) -> renderable
    json: Callable[[Any, Context], dict[str, Any]]  # (result, context) -> the --json document
    options: frozenset[str] = frozenset()  # the mode-specific options it takes (see OPTIONS)
    files: frozenset[str] = frozenset()  # what --save/--html may write with it: "png", "svg", "html"
    all_layers: bool = False  # it reads every layer's attention
    one_head: bool = False  # it needs a numbered head, not 'mean'


# ---- the modes' functions (imports inside: only the chosen mode's renderers are loaded) -------

def _predictions(c: Context, position: int = -1) -> list[Any]:
    """Next-token predictions after `position` (a causal model); [] for an encoder, whose
    predictions are its masks' fillers (_fills)."""
    return [] if c.model.config.is_encoder else c.model.predict(c.trace, c.top_k, position=position)


def _fills(c: Context) -> list[Any] | None:
    """A masked-language model's top-k fillers of each mask; None for a model that fills none."""
    from .analysis.masked import fill, fills_masks

    return fill(c.model, c.trace, c.tokens, c.top_k) if fills_masks(c.model) else None


def _told(c: Context, what: str) -> Callable[[int, int], None] | None:
    """An analysis's progress(done, total), passed on to the command's progress display as `what`."""
    tick = c.progress
    return None if tick is None else (lambda done, total: tick(what, done, total))


def _query(c: Context) -> int:
    """--token, or the default query: the last token (causal), an encoder's first mask or last word."""
    from .analysis.masked import default_query
    from .analysis.steps import resolve_token

    return resolve_token(c.token, c.tokens, default_query(c.model, c.tokens))


def _outcome(c: Context, preds: list[Any], fills: list[Any] | None) -> list[Any]:
    """What the tables end on: the next-token predictions, a masked-LM's fillers, or why there are none."""
    from .render import table as rt

    if not c.model.config.is_encoder:
        return [rt.predictions_table(preds, after=c.text)]
    if fills:
        return [rt.mask_tables(fills, c.tokens)]
    return [rt.encoder_note(c.model, c.tokens)]


def _table_run(c: Context) -> Any:
    from .analysis.readout import readout
    from .views import head_view

    return head_view(c.trace, c.layer, c.head), _predictions(c), readout(c.model, c.trace, c.layer), _fills(c)


def _table_rich(result: Any, c: Context, width: int) -> Renderable:
    from rich.console import Group
    from rich.text import Text

    from .render import table as rt
    from .labels import token_label

    view, preds, read, fills = result
    parts: list[Any] = [rt.explain_header(c.model, view)]
    warn = rt.provisional_warning(c.model)
    if warn is not None:
        parts.append(warn)
    if c.truncated:
        parts.append(Text(f"(the text was cut to its last {len(c.tokens)} tokens to fit the context)", style="yellow"))
    T = len(c.tokens)
    first = rt.first_shown([token_label(t) for t in c.tokens], width)  # one window for every table
    if c.window is None and (c.token is not None or (first and T > LONG)):  # where the chosen queries look
        from .analysis.steps import resolve_token

        queries = [resolve_token(c.token, c.tokens)] if c.token is not None else list(range(max(0, T - 3), T))
        lo = max(0, min(queries[0] - 5, T - 10))  # the tokens around the (first) query
        parts += [Text(""), rt.tokens_table(c.tokens, lo, min(T, lo + 10)), Text(""),
                  rt.focus_table(view, c.tokens, queries), Text(""),
                  rt.vectors_table(view, c.tokens, c.dims, width=width, rows=queries), Text(""),
                  rt.readout_table(read, c.tokens, c.model.tokenizer, rows=queries), Text("")]
    else:  # the matrix: all of it, the slice --window names, or the last tokens that fit the width
        a, b = window_span(c.window, T) if c.window is not None else (first, T)
        listed = (a, b) if c.window is not None else (0, T)  # without --window every token is listed
        parts += [Text(""), rt.tokens_table(c.tokens, *listed), Text(""),
                  rt.attention_table(view, c.tokens, show_scores=c.scores, width=width, first=a, last=b,
                                     encoder=c.model.config.is_encoder), Text(""),
                  rt.vectors_table(view, c.tokens, c.dims, width=width, first=a, last=b), Text(""),
                  rt.readout_table(read, c.tokens, c.model.tokenizer, first=a, last=b), Text("")]
    parts += _outcome(c, preds, fills)
    return Group(*parts)


# Past this many tokens a text that does not fit the width gets the query-focused view, not its last columns.
LONG = 24


def window_span(spec: str, T: int) -> tuple[int, int]:
    """--window A:B -> (A, B), rows and keys A to B-1; either side may be left out (A: or :B)."""
    a, sep, b = spec.partition(":")
    try:
        lo = int(a) if a.strip() else 0
        hi = int(b) if b.strip() else T
    except ValueError:
        lo = hi = -1
    if not sep or not 0 <= lo < hi <= T:
        raise UsageError(f"--window {spec!r} is not a slice of this text's {T} tokens: give A:B with 0 <= A < B <= {T}, "
                         "e.g. --window 0:10")
    return lo, hi


def _table_json(result: Any, c: Context, stream: bool = True) -> dict[str, Any]:
    from .render.json_doc import explain_doc

    view, preds, read, fills = result
    return explain_doc(c.model, c.text, c.tokens, c.trace, view, preds, c.truncated, stream=stream, readout=read,
                       masks=fills)


def _steps_run(c: Context) -> Any:
    from .analysis.steps import walkthrough

    i = _query(c)
    # what the query's last vector predicts: the next token (causal), the word at its place (masked-LM), none
    preds = [] if c.model.config.head == "none" else c.model.predict(c.trace, c.top_k, position=i)
    return walkthrough(c.trace, c.layer, int(c.head), i, c.temperature), preds


def _steps_rich(result: Any, c: Context, width: int) -> Renderable:
    from .render.steps import steps_panels

    w, preds = result
    return steps_panels(w, c.tokens, preds, dims=min(c.dims, 8), width=width, model=c.model)


def _steps_json(result: Any, c: Context) -> dict[str, Any]:
    from .render.json_analysis import steps_doc

    w, preds = result
    return steps_doc(c.model, c.text, c.tokens, w, preds, c.truncated)


def _attribution_run(c: Context) -> Any:
    """Leave-one-out on what the model predicts: the next token (causal), the first mask's filler
    (masked-LM), or the sentence embedding (a sentence encoder, which predicts no words)."""
    from .analysis import masked
    from .analysis.attribution import embedding_leave_one_out, leave_one_out

    m, ids = c.model, c.trace.ids.tolist()
    if m.config.is_encoder and m.config.head == "none":
        from .analysis.embedding import pooling_of, sentence_embedding

        last = [m.config.n_layer - 1]  # the pooled vectors are the last layer's
        return embedding_leave_one_out(lambda x: m.forward(x, layers=last), ids,
                                       lambda t: sentence_embedding(t, pooling_of(m.card)), progress=_told(c, LEFT_OUT))
    position = None
    if masked.fills_masks(m):
        if not masked.mask_indices(m, c.tokens):
            raise UsageError("--attribution on a masked-language model measures the masked word's probability: "
                             "put [MASK] in the text, e.g. \"I do not [MASK] spinach\"")
        position = masked.mask_indices(m, c.tokens)[0]
    return leave_one_out(lambda x: m.forward(x, layers=[]), ids, full=c.trace, position=position,
                         progress=_told(c, LEFT_OUT))


LEFT_OUT = "leaving out each token"


def _attribution_rich(a: Any, c: Context, width: int) -> Renderable:
    from .render.analysis import attribution_bars

    from .analysis.embedding import describe, pooling_of

    target = "" if a.measure == "embedding" else c.model.tokenizer.display(a.target)
    return attribution_bars(a, c.tokens, target, c.text, pooling=describe(pooling_of(c.model.card)))


def _attribution_json(a: Any, c: Context) -> dict[str, Any]:
    from .render.json_analysis import attribution_doc

    return attribution_doc(c.model, c.text, c.tokens, a, c.truncated)


def _rollout_run(c: Context) -> Any:
    from .analysis.rollout import rollout

    return rollout(c.trace), _predictions(c)  # [T, T]


def _rollout_rich(result: Any, c: Context, width: int) -> Renderable:
    from .render.analysis import rollout_table

    return rollout_table(result[0], c.trace.mask, c.tokens)


def _rollout_json(result: Any, c: Context) -> dict[str, Any]:
    from .render.json_analysis import rollout_doc

    r, preds = result
    return rollout_doc(c.model, c.text, c.tokens, r, c.trace.mask, preds, c.truncated)


def _summary_run(c: Context) -> Any:
    from .analysis.summary import head_summary

    return head_summary(c.trace, _query(c))


def _summary_rich(s: Any, c: Context, width: int) -> Renderable:
    from .render.summary import summary_table

    return summary_table(s, c.tokens, c.census)


def _summary_json(s: Any, c: Context) -> dict[str, Any]:
    from .render.json_analysis import summary_doc

    return summary_doc(c.model, c.text, c.tokens, s, c.truncated, c.census)


def _words(c: Context, *words: str | None) -> tuple[list[int | None], list[str]]:
    """The token ids of --target/--contrast words, and a note for each word that is several tokens."""
    ids, notes = [], []
    for word in words:
        if word is None:
            ids.append(None)
            continue
        i, note = c.model.tokenizer.word_id(word)
        ids.append(i)
        if note:
            notes.append(note)
    return ids, notes


def _with_notes(renderable: Renderable, notes: list[str]) -> Renderable:
    if not notes:
        return renderable
    from rich.console import Group
    from rich.text import Text

    from .labels import printable

    return Group(renderable, *(Text(printable(n), style="yellow") for n in notes))


def _lens_run(c: Context) -> Any:
    from .analysis.lens import logit_lens
    from .analysis.steps import resolve_token

    (target,), notes = _words(c, c.target)
    return logit_lens(c.model, c.trace, resolve_token(c.token, c.tokens), c.top_k, target,
                      progress=_told(c, "reading each layer's stream through the vocabulary")), notes


def _lens_rich(result: Any, c: Context, width: int) -> Renderable:
    from .render.why import lens_table

    return _with_notes(lens_table(result[0], c.tokens, c.model.tokenizer), result[1])


def _lens_json(result: Any, c: Context) -> dict[str, Any]:
    from .render.json_analysis import lens_doc

    return dict(lens_doc(c.model, c.text, c.tokens, result[0], c.truncated), notes=result[1])


def _dla_run(c: Context) -> Any:
    from .analysis.dla import direct_logit_attribution
    from .analysis.steps import resolve_token

    (target, contrast), notes = _words(c, c.target, c.contrast)
    return direct_logit_attribution(c.model, c.trace, resolve_token(c.token, c.tokens), target, contrast), notes


def _dla_rich(result: Any, c: Context, width: int) -> Renderable:
    from .render.why import dla_view

    return _with_notes(dla_view(result[0], c.tokens, c.model.tokenizer), result[1])


def _dla_json(result: Any, c: Context) -> dict[str, Any]:
    from .render.json_analysis import dla_doc

    return dict(dla_doc(c.model, c.text, c.tokens, result[0], c.truncated), notes=result[1])


def _heads_rich(_: Any, c: Context, width: int) -> Renderable:
    from .render.analysis import heads_grid

    return heads_grid(c.trace, c.layer, c.tokens, width)


def _heads_json(_: Any, c: Context) -> dict[str, Any]:
    from .render.json_analysis import heads_doc

    return heads_doc(c.model, c.text, c.tokens, c.trace, c.layer, c.truncated)


def _qk_run(c: Context) -> Any:
    from .analysis.qk import qk_attribution
    from .analysis.steps import resolve_token

    key = None if c.key is None else resolve_token(c.key, c.tokens, option="--key")
    return qk_attribution(c.model, c.trace, c.layer, int(c.head), _query(c), key)


def _qk_rich(r: Any, c: Context, width: int) -> Renderable:
    from .render.qk import qk_view

    return qk_view(r, c.tokens, c.top_k)


def _qk_json(r: Any, c: Context) -> dict[str, Any]:
    from .render.qk import qk_doc

    return qk_doc(c.model, c.text, c.tokens, r, c.top_k, c.truncated)


# ---- the registry ----------------------------------------------------------------------------

PICTURES = frozenset({"png", "svg", "html"})

MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("table", None, _table_run, _table_rich, _table_json,
         options=frozenset({"--scores", "--dims", "--top-k", "--layer", "--head", "--token", "--window"}), files=PICTURES),
    Mode("steps", "--steps", _steps_run, _steps_rich, _steps_json,
         options=frozenset({"--token", "--temperature", "--dims", "--top-k", "--layer", "--head"}), one_head=True),
    Mode("summary", "--summary", _summary_run, _summary_rich, _summary_json,
         options=frozenset({"--token", "--census"}), all_layers=True),
    Mode("attribution", "--attribution", _attribution_run, _attribution_rich, _attribution_json),
    Mode("rollout", "--rollout", _rollout_run, _rollout_rich, _rollout_json,
         options=frozenset({"--top-k"}), all_layers=True),
    Mode("heads", "--head all", lambda c: None, _heads_rich, _heads_json,
         options=frozenset({"--layer", "--head"}), files=PICTURES),
    Mode("lens", "--lens", _lens_run, _lens_rich, _lens_json,
         options=frozenset({"--token", "--target", "--top-k"}), all_layers=True),
    Mode("dla", "--dla", _dla_run, _dla_rich, _dla_json,
         options=frozenset({"--token", "--target", "--contrast"}), all_layers=True),
    Mode("qk", "--qk", _qk_run, _qk_rich, _qk_json,
         options=frozenset({"--layer", "--head", "--token", "--key", "--top-k"}), all_layers=True, one_head=True),
)}

# The options that only some modes take; any other option goes with every mode.
OPTIONS = frozenset().union(*(m.options for m in MODES.values()))


def pick(flags: dict[str, bool]) -> Mode:
    """The mode whose flag is on (flags: mode name -> on), or the tables; two at once is a usage error."""
    chosen = [MODES[name] for name, on in flags.items() if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(m.flag or m.name for m in chosen)} cannot be combined; choose one")
    return chosen[0] if chosen else MODES["table"]


def _takers(option: str) -> str:
    flags = [m.flag for m in MODES.values() if option in m.options and m.flag]
    if option in MODES["table"].options:
        flags.insert(0, "the default tables")
    return flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} or {flags[-1]}"


# With --save/--html (and no --json) nothing goes to the terminal: options that shape only the
# terminal tables would be ignored.
TERMINAL_ONLY = {"--scores": "the figure and the page draw the weights", "--dims": "the contextual vectors are not drawn"}


def check_options(mode: Mode, given: set[str], files: dict[str, str], as_json: bool = False,
                  head: str | None = None) -> None:
    """Refuse, in one usage line, an option or a file the mode would otherwise ignore."""
    for option in sorted(given & OPTIONS - mode.options):
        if option == "--token":  # the wording a learner meets first
            raise UsageError(f"--token picks the query token of {_takers(option)}; add one of them")
        if option == "--temperature":
            raise UsageError("--temperature is a what-if of --steps; add --steps")
        where = f"with {mode.flag}" if mode.flag else "on the default tables"
        raise UsageError(f"{option} has no effect {where}; it goes with {_takers(option)}")
    for fmt, path in files.items():
        option = "--html" if fmt == "html" else "--save"
        if fmt not in mode.files:
            raise UsageError(f"{option} cannot be combined with {mode.flag}: it draws the attention tables; "
                             f"leave out {mode.flag}, or {option}")
        chosen = (head or "").strip().lower()
        if option == "--save" and "--head" in given and chosen != "all":
            raise UsageError("--save draws every head of the layer, so --head has no effect; leave out --head")
        if option == "--html" and chosen == "mean":
            raise UsageError("--html shows one head at a time and cannot show the mean of heads; leave out --head mean")
        if not as_json:
            for opt in sorted(given & set(TERMINAL_ONLY)):
                raise UsageError(f"{opt} has no effect with {option} ({TERMINAL_ONLY[opt]}); leave it out, or add --json")


def default_head(mode: Mode, suggested: int | str) -> int | str:
    """The model's suggested head, except that a mode needing one head does not take the mean."""
    return 0 if mode.one_head and suggested == "mean" else suggested


def check_files(save: str | None, html: str | None) -> dict[str, str]:
    """Validate --save and --html before any work; {'png'|'svg'|'html': path}."""
    from .render.files import IMAGE_FORMATS, check_path

    files = {}
    if save is not None:
        files[check_path(save, IMAGE_FORMATS, "--save")] = save
    if html is not None:
        check_path(html, ("html", "htm"), "--html")
        files["html"] = html
    return files


def write_files(files: dict[str, str], c: Context) -> list[str]:
    """Write the requested files; returns one line per file for stderr."""
    from .render.files import write

    lines = []
    for fmt, path in files.items():
        if fmt == "html":
            from .render import html as rhtml

            view_ctx = c._replace(head=0 if c.head == "all" else c.head)
            doc = _table_json(_table_run(view_ctx), view_ctx)  # matrices as Rows: the page takes only what fits
            write(path, rhtml.page(doc), "--html")
            lines.append(f"wrote {path} (open it in a browser; it needs no network)")
        else:
            from .render import plot

            write(path, plot.heatmaps(c.trace, c.layer, c.tokens, fmt), "--save")
            lines.append(f"wrote {path} (layer {c.layer}, {c.trace.config.n_head} heads)")
    return lines
