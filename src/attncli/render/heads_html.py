"""attn heads --html: one self-contained page (no network) of a census: a layers x heads grid per score,
each cell colored on the terminal's ramp with its number, its interval and its roles on hover; a click
on a head shows the texts of the corpus where it scores highest (previous, first, self) and its row
of every score.

The page embeds the --json document and the examples; its short script only reads them."""

from __future__ import annotations

import html
from typing import Any

from ..analysis.heads import SCORES, HeadsResult
from ..labels import printable
from ..model import Model
from .heads import DEFINITIONS, heads_doc, roles_lines
from .html import embed_json
from .style import ramp_color

CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
table.grid{border-collapse:collapse;margin:.3em 0 1.2em}
table.grid td,table.grid th{padding:2px 5px;text-align:right;font:12px monospace}
table.grid td.cell{cursor:pointer;min-width:2.6em}
table.grid td.cell:focus,table.grid td.cell.sel{outline:2px solid #d33}
#detail{position:sticky;top:0;background:#f7f7f7;border:1px solid #ccc;padding:.6em;margin:1em 0}
.muted{color:#666}.ex{white-space:pre-wrap;font-family:monospace;background:#fff;padding:.2em .4em}
.grids{display:flex;flex-wrap:wrap;gap:2em}"""

SCRIPT = """
const doc = JSON.parse(document.getElementById('heads-data').textContent);
const ex = JSON.parse(document.getElementById('heads-examples').textContent);
const detail = document.getElementById('detail');
function fmt(x){ return x === null ? 'n/a' : x.toFixed(3); }
function show(L, h){
  document.querySelectorAll('td.sel').forEach(e => e.classList.remove('sel'));
  document.querySelectorAll(`td[data-l="${L}"][data-h="${h}"]`).forEach(e => e.classList.add('sel'));
  const row = doc.heads.find(r => r.layer === L && r.head === h);
  detail.textContent = '';
  const title = document.createElement('h3');
  title.textContent = `Head ${L}.${h}` + (row.roles.length ? ': ' + row.roles.join(', ') : ': no clear role');
  detail.appendChild(title);
  const list = document.createElement('ul');
  for (const s of Object.keys(row.scores)) {
    if (row.scores[s] === null) continue;
    const li = document.createElement('li');
    li.textContent = `${s} ${fmt(row.scores[s])} [${fmt(row.ci[s][0])}, ${fmt(row.ci[s][1])}]`;
    list.appendChild(li);
  }
  detail.appendChild(list);
  const e = ex[L][h];
  for (const s of Object.keys(e)) {
    const p = document.createElement('p');
    p.textContent = `Strongest ${s} example (text ${e[s].index}, this text's mean ${fmt(e[s].value)}):`;
    const t = document.createElement('div');
    t.className = 'ex';
    t.textContent = e[s].text;
    detail.appendChild(p);
    detail.appendChild(t);
  }
}
document.querySelectorAll('td.cell').forEach(td => {
  const go = () => show(+td.dataset.l, +td.dataset.h);
  td.addEventListener('click', go);
  td.addEventListener('keydown', ev => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); go(); } });
});
"""

EXAMPLE_CHARS = 2000  # an example text longer than this is shown cut, with an ellipsis


def _grid(result: HeadsResult, score: str) -> str:
    values, ci = result.scores[score], result.ci[score]
    rows = ["<tr><th>layer</th>" + "".join(f"<th>h{h}</th>" for h in range(result.n_head)) + "</tr>"]
    for L in range(result.n_layer):
        cells = []
        for h in range(result.n_head):
            v = float(values[L, h])
            fg = "#000" if v > 0.55 else "#fff"
            roles = ", ".join(result.roles[L][h]) or "no clear role"
            tip = f"head {L}.{h}: {score} {v:.3f} [{ci[L, h, 0]:.3f}, {ci[L, h, 1]:.3f}]; {roles}"
            cells.append(f'<td class="cell" tabindex="0" data-l="{L}" data-h="{h}" title="{html.escape(tip)}" '
                         f'style="background:{ramp_color(v)};color:{fg}">{v:.2f}</td>')
        rows.append(f"<tr><th>{L}</th>{''.join(cells)}</tr>")
    return (f"<section><h2>{score}</h2><p class=\"muted\">{html.escape(DEFINITIONS[score])}</p>"
            f"<table class=\"grid\">{''.join(rows)}</table></section>")


def _examples(result: HeadsResult) -> list[list[dict[str, Any]]]:
    def cut(text: str) -> str:
        return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "\u2026"

    return [[{s: {**e, "text": printable(cut(e["text"]))} for s, e in head.items()} for head in layer]
            for layer in result.examples]


def heads_page(model: Model, result: HeadsResult, corpus: str) -> str:
    doc = heads_doc(model, result, corpus)
    title = f"attn heads: {model.name} over {corpus}"
    grids = "".join(_grid(result, s) for s in SCORES if s in result.scores)
    roles = "".join(f"<li>{html.escape(line)}</li>" for line in roles_lines(result, None))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    summary = (f"{result.texts:,} texts, {result.tokens:,} tokens, {result.positions:,} query positions; "
               f"intervals: {result.options.bootstrap} bootstrap replicates, 95%")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{html.escape(printable(title))}</title><style>{CSS}</style></head><body>
<h1>{html.escape(printable(title))}</h1>
<p>{html.escape(summary)}. Hover a cell for its number, interval and roles; click one (or Enter) to see the head's
strongest examples from the corpus.</p>
<div id="detail" aria-live="polite"><span class="muted">No head selected.</span></div>
<div class="grids">{grids}</div>
<h2>Heads with a clear role</h2><p class="muted">A head has a role when the low end of its score's 95% interval
reaches the role's threshold.</p><ul>{roles}</ul>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<script type="application/json" id="heads-data">{embed_json(doc)}</script>
<script type="application/json" id="heads-examples">{embed_json(_examples(result))}</script>
<script>{SCRIPT}</script></body></html>
"""
