"""--html: one self-contained page (no network, no CDN) of an `explain --json` document.

The page embeds the document, trimmed to PAGE_CELLS cells of attention (fit), and a note of
what was left out; its inline script (html_page.js, styled by html_page.css) draws a head
view, a model view, the steps for the selected query and the predictions from those numbers.

Two sections appear only when the document has them (added by later features):
- `generation`: {"layer", "head", "steps": [{"text", "probability", "alternatives": [{"text",
  "probability"}], "weights": [one per key: the prompt's tokens, then the tokens generated
  before this one; null where masked]}]}, stepped through one generated token at a time;
- `lens`: {"name", "layers": [{"layer", "top": [{"text", "probability"}]}]} for one position
  (`lens.index`, default the last), or per layer "positions": [{"index", "top"}] to follow
  the selected query.
"""

from __future__ import annotations

import base64
import html
from importlib import resources
from typing import Any

import numpy as np

from ..labels import printable
from .json_doc import Rows, dump

# The most cells of attention (layers x heads x T x T, each cell one score and one weight) the
# page embeds: about 27 bytes a cell as JSON, so at most ~7 MB however long the text. The
# bundled model's whole context (2 x 4 x 64 x 64 = 32,768 cells) fits; so does SmolLM2 on 30
# tokens (30 x 9 x 30 x 30 = 243,000).
PAGE_CELLS = 250_000
OVERVIEW_BINS = 24  # a left-out layer's heads are shown in the model view as at most 24 x 24 squares
MASKED_BIN = 255  # in an overview: every cell of the square is masked


def _weights(head: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A head's weights as an array [T, T] with 0 where masked, and the mask [T, T] bool."""
    w = head["weights"]
    if isinstance(w, Rows):
        masked = np.zeros(w.a.shape, bool) if w.masked is None else np.asarray(w.masked)  # [T, T]
        return np.where(masked, 0.0, w.a), masked
    masked = np.array([[x is None for x in row] for row in w], dtype=bool)  # [T, T]
    return np.array([[0.0 if x is None else x for x in row] for row in w], dtype=np.float64), masked


def overview(head: dict[str, Any], bins: int = OVERVIEW_BINS) -> str:
    """A head's pattern in at most bins x bins squares, each its block's largest weight (0-254,
    MASKED_BIN where the whole block is masked), row by row, as base64."""
    w, masked = _weights(head)  # [T, T]
    T = w.shape[0]
    edges = np.linspace(0, T, min(bins, T) + 1).astype(int)[:-1]  # [b]: each square's first row/column
    peak = np.maximum.reduceat(np.maximum.reduceat(w, edges, axis=0), edges, axis=1)  # [b, b]
    hidden = np.logical_and.reduceat(np.logical_and.reduceat(masked, edges, axis=0), edges, axis=1)  # [b, b]
    q = np.where(hidden, MASKED_BIN, np.rint(np.clip(peak, 0, 1) * 254)).astype(np.uint8)  # [b, b]
    return base64.b64encode(q.tobytes()).decode("ascii")


def _rows(m: Any, first: int) -> Any:
    """A [query][key] matrix from its query `first` on."""
    if isinstance(m, Rows):
        return Rows(m.a[first:], None if m.masked is None else m.masked[first:])
    return m[first:]


def _from_query(layer: dict[str, Any], first: int) -> dict[str, Any]:
    """A layer of the document's `attention` with every head's rows from query `first` on."""
    if not first:
        return layer
    return {**layer, "heads": [{**h, "scores": _rows(h["scores"], first), "weights": _rows(h["weights"], first)}
                               for h in layer["heads"]]}


def _span(layers: list[int]) -> str:
    return ", ".join(str(L) for L in layers) if len(layers) < 6 else f"{layers[0]}-{layers[-1]} ({len(layers)} layers)"


def fit(doc: dict[str, Any], limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document as the page embeds it, and the page's note of what it left out.

    Whole layers are kept while they fit in `limit` cells, the viewed layer first, then its
    nearest neighbours; a layer left out is drawn in the model view from its overview. If the
    viewed layer alone is over the limit, only its last query rows that fit are kept (every key
    stays) and so are only those rows' contextual vectors.
    """
    T, n_layer = len(doc["tokens"]), doc["model"]["n_layer"]
    present = {entry["layer"]: entry for entry in doc["attention"]}
    view = doc["view"]["layer"] if doc["view"]["layer"] in present else min(present)
    size = {L: len(e["heads"]) * T * T for L, e in present.items()}
    order = sorted(present, key=lambda L: (abs(L - view), L))
    kept, used = [], 0
    for L in order:
        if used + size[L] > limit:
            break
        kept.append(L)
        used += size[L]
    first = 0
    if not kept:  # the viewed layer alone is over the limit: its last rows (the last query predicts)
        rows = max(1, limit // (len(present[view]["heads"]) * T))
        first, kept, used = max(0, T - rows), [view], len(present[view]["heads"]) * min(rows, T) * T
    kept.sort()
    left_out = sorted(set(present) - set(kept))
    absent = sorted(set(range(n_layer)) - set(present))

    out = dict(doc)
    out["attention"] = [_from_query(present[L], first) for L in kept]
    if first and "contextual_vectors" in doc:
        vectors = doc["contextual_vectors"]
        out["contextual_vectors"] = {**vectors, "vectors": vectors["vectors"][first:]}

    notes = []
    if not left_out and not absent and not first:
        notes.append(f"Every layer's attention is in this page: {n_layer} layers × {doc['model']['n_head']} heads, "
                     f"{used:,} cells (the page keeps at most {limit:,}).")
    else:
        notes.append(f"This page holds the attention of layer{'s' if len(kept) > 1 else ''} {_span(kept)}: "
                     f"{used:,} cells of the {sum(size.values()):,} computed (the page keeps at most {limit:,}).")
    if left_out:
        notes.append(f"Left out to stay under that limit: layer{'s' if len(left_out) > 1 else ''} {_span(left_out)}. "
                     f"The model view still shows them, each head in at most {OVERVIEW_BINS} × {OVERVIEW_BINS} "
                     "squares (the largest weight of each block); for one of them in full, give --layer N.")
    if absent:
        notes.append(f"Not computed for a text of {T} tokens: layer{'s' if len(absent) > 1 else ''} {_span(absent)} "
                     "(attn explain keeps only the viewed layer when every layer would be too many cells); "
                     "give --layer N for another.")
    if first:
        notes.append(f"Only the last {T - first} queries (tokens {first} to {T - 1}) of layer {view} are in this page, "
                     f"with every key: all {T} rows would be {size[view]:,} cells. The earlier tokens cannot be "
                     "selected as the query; --json has every row.")
    meta = {
        "encoder": doc["model"].get("kind") == "encoder",  # nothing is masked
        "limit_cells": limit,
        "cells": used,
        "first_query": first,
        "layers": kept,
        "left_out_layers": left_out,
        "absent_layers": absent,
        "overview": {"bins": OVERVIEW_BINS, "masked": MASKED_BIN,
                     "layers": [{"layer": L, "heads": [overview(h) for h in present[L]["heads"]]} for L in left_out]},
        "notes": notes,
    }
    return out, meta


def embed_json(doc: Any) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element early.

    Streams any Rows in `doc` (json_doc.dump), so a long input is never one nested list."""
    parts: list[str] = []
    dump(doc, parts.append)
    return "".join(parts).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _asset(name: str) -> str:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    if "</" in text.lower() or "<!--" in text:  # could close or confuse the inline element it goes in
        raise ValueError(f"{name} must not contain '</' or '<!--'")
    return text


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>attn explain: __TITLE__</title>
<style>__CSS__</style></head><body>
<header><h1>Self-attention in <span id="model"></span></h1>
<p class="muted">Generated by attncli from the document of <code>attn explain --json</code>, embedded below: \
every number here is
one of its numbers. <b>weights</b> are <code>blocks.L.attn.weights</code>, the softmax of the scaled scores
q&middot;k/&radic;d_head (<code>blocks.L.attn.scores</code>); each query's row of weights sums to 100%.</p></header>
<section id="input" aria-labelledby="input-h"><h2 id="input-h">The input</h2>
<p id="sentence"></p>
<div id="strip" role="listbox" aria-label="the tokens: choose the query" aria-orientation="horizontal"></div>
<p class="muted small">Each token is shaded by how much the selected query (outlined) attends to it \
in the current head.</p>
</section>
<div id="controls">
<label>layer <select id="layer"></select></label>
<span id="heads-label">heads</span><span id="heads" role="toolbar" aria-labelledby="heads-label"></span>
<button type="button" id="all-heads">all</button><button type="button" id="no-heads">none</button>
<button type="button" id="only" aria-pressed="false">only the query's lines</button>
</div>
<p id="status" class="status" role="status" aria-live="polite"></p>
<div class="cols">
<section id="headview" aria-labelledby="hv-h"><h2 id="hv-h">Head view</h2>
<p class="muted small legend"><span class="ramp lines" aria-hidden="true"></span> a line's opacity is the weight
(0 to 100%), its color the head; hover, tap or focus a query for its lines only, hover a key for the lines into it.</p>
<div class="hv-axes"><span>query &darr; (who looks)</span><span>key (looked at)</span></div>
<div id="hv-scroll"><div id="hv"><div id="hv-q" role="listbox" aria-label="queries"></div>
<svg id="hv-lines" aria-hidden="true" preserveAspectRatio="none"></svg><div id="hv-k"></div></div></div>
<p id="hv-note" class="muted small"></p>
</section>
<section id="steps" aria-labelledby="steps-h"><h2 id="steps-h">Steps for the selected query</h2>
<p id="steps-title"></p>
<label class="small">steps for head <select id="step-head"></select></label>
<ol id="step-list"></ol>
</section>
</div>
<section id="modelview" aria-labelledby="mv-h"><h2 id="mv-h">Model view: every layer &times; head</h2>
<p class="muted small legend">Each square is one head's weights, query &darr; key &rarr;
(<span class="ramp" aria-hidden="true"></span> 0 to 100%, <span class="swatch masked" aria-hidden="true"></span> masked:
a future key; an encoder masks none). Click one, or move with the arrow keys and press Enter, \
to open it in the head view.</p>
<div id="mv" role="grid" aria-label="layers and heads"></div>
</section>
<section id="predictions" aria-labelledby="pred-h">\
<h2 id="pred-h">Next-token predictions after the whole text</h2><ol id="preds"></ol></section>
<section id="lens" aria-labelledby="lens-h" hidden>\
<h2 id="lens-h">Logit lens</h2><p id="lens-note" class="muted small"></p>
<table id="lens-table"></table></section>
<section id="generation" aria-labelledby="gen-h" hidden><h2 id="gen-h">Attention while generating</h2>
<div class="gen-controls"><button type="button" id="gen-prev" aria-label="previous generated token">&larr;</button>
<input type="range" id="gen-step" min="0" value="0" aria-label="generated token">
<button type="button" id="gen-next" aria-label="next generated token">&rarr;</button> <span id="gen-pos"></span></div>
<p id="gen-title"></p><div id="gen-strip" class="strip"></div><p id="gen-top" class="small"></p></section>
<section id="notes" aria-labelledby="notes-h"><h2 id="notes-h">What this page holds</h2><ul id="note-list"></ul>
<p class="muted small">Keys: Tab moves between the parts; \
in the sentence &larr;/&rarr; and in the head view &uarr;/&darr; move the
query (Home/End: first/last); Escape shows every line again; \
among the heads &larr;/&rarr; move and Space toggles; in the
model view the arrow keys move and Enter opens. On a touch screen, tap.</p></section>
<script type="application/json" id="attn-data">__DATA__</script>
<script type="application/json" id="attn-page">__PAGE__</script>
<script>__JS__</script></body></html>
"""


def page(doc: dict[str, Any], limit: int | None = None) -> str:
    """The page of an explain document (its matrices lists or Rows), trimmed to `limit` cells (PAGE_CELLS)."""
    shown, meta = fit(doc, PAGE_CELLS if limit is None else limit)
    head, rest = PAGE.split("__DATA__")  # split first: the text itself may hold any marker
    meta_at, js_at = rest.split("__PAGE__")
    head = head.replace("__CSS__", _asset("html_page.css"))
    head = head.replace("__TITLE__", html.escape(printable(doc["text"][:80])))
    return head + embed_json(shown) + meta_at + embed_json(meta) + js_at.replace("__JS__", _asset("html_page.js"))
