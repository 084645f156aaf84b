// The --html page's script: inlined into the page by render/html.py. It reads the embedded
// `attn explain --json` document (#attn-data) and the page's note (#attn-page) and draws
// everything with DOM calls; text from the document only ever goes in through textContent.
"use strict";
const $ = id => document.getElementById(id);
const doc = JSON.parse($("attn-data").textContent);
const meta = JSON.parse($("attn-page").textContent);
const T = doc.tokens.length;
const H = doc.model.n_head;
const NL = doc.model.n_layer;
const Q0 = meta.first_query || 0; // rows (queries) before it are not in the page
const byLayer = new Map(doc.attention.map(l => [l.layer, l]));
const overview = new Map(((meta.overview || {}).layers || []).map(l => [l.layer, l.heads]));
const MAX_LINES = 12000; // past this many lines "all lines" would be unreadable and slow: one query's only
const MIN_WEIGHT = 1 / 255; // a line fainter than this is invisible: not drawn
const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const SVGNS = "http://www.w3.org/2000/svg";

// ---- text from the document, made visible (control characters written out as the CLI does) ----
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"};
function printable(s, newlines) {
  return String(s).replace(CONTROL, c => {
    if (newlines && c === "\n") return c;
    if (NAMED[c]) return NAMED[c];
    const n = c.charCodeAt(0);
    return n < 0x100 ? "\\x" + n.toString(16).padStart(2, "0") : "\\u" + n.toString(16).padStart(4, "0");
  });
}
function tokLabel(t) { // as the tables show a token: no leading space, "##" before a word's later pieces
  const text = printable(t.text);
  const stripped = text.replace(/^ +| +$/g, "") || `'${text}'`; // as Python's repr(), like the CLI
  return (t.continues ? "##" : "") + stripped;
}
const labels = doc.tokens.map(tokLabel);

// ---- numbers ----
const headColor = h => H <= TAB10.length ? TAB10[h] : `hsl(${Math.round(360 * h / H)},70%,40%)`;
const pct = w => w === null || w === undefined ? "masked" : (100 * w).toFixed(1) + "%";
const hasRows = L => byLayer.has(L);
function row(L, h, i, kind) { // one query's row of weights (or scores), or null if not in the page
  const l = byLayer.get(L);
  if (!l || i < Q0 || i >= T) return null;
  return l.heads[h][kind || "weights"][i - Q0];
}
function entropyBits(r) {
  let e = 0;
  for (const w of r) if (w) e -= w * Math.log2(w);
  return e;
}
function topKeys(r, k) {
  return r.map((w, j) => [w, j]).filter(x => x[0] !== null).sort((a, b) => b[0] - a[0]).slice(0, k);
}
function heat(w) { return `rgba(31,119,180,${(0.06 + 0.94 * Math.max(0, Math.min(1, w))).toFixed(3)})`; }
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "tabindex") e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
}

// ---- state ----
const firstLayer = hasRows(doc.view.layer) ? doc.view.layer : doc.attention[0].layer;
const ENCODER = !!meta.encoder; // every query sees every key: no masked cell anywhere
const ENCODER_QUERY = ENCODER && (doc.masks || []).length && doc.masks[0].index >= Q0 ? doc.masks[0].index : T - 1;
const state = {
  layer: firstLayer,
  head: typeof doc.view.head === "number" && doc.view.head < H ? doc.view.head : 0, // the head the steps and shades follow
  visible: new Set(Array.from({length: H}, (_, h) => h)), // heads drawn in the head view
  query: ENCODER_QUERY, // the last token; an encoder's first mask
  pinned: false, // the head view shows only the query's lines (a tap, a click, the keys)
  focused: false, // keyboard focus is on a query
  hoverQ: null, hoverK: null, // what the mouse is over
  allKeys: false, // the steps list every key, not only the largest weights
  mv: {L: firstLayer, h: 0}, // the model view's keyboard position
};

const lineCount = () => state.visible.size * (T - Q0) * (ENCODER ? T : (T + Q0 + 1) / 2); // lines of every visible head
const allAllowed = () => lineCount() <= MAX_LINES;
function say(msg) { $("status").textContent = msg; }

// ---- the input: sentence and token strip ----
function drawStrip() {
  const r = row(state.layer, state.head, state.query);
  const strip = $("strip");
  if (!strip.children.length) {
    strip.append(...labels.map((lab, j) => el("span", {class: "tok", role: "option", tabindex: "-1", "data-i": j, text: lab})));
  }
  for (const s of strip.children) {
    const j = +s.dataset.i, w = r ? r[j] : null;
    s.classList.toggle("query", j === state.query);
    s.classList.toggle("masked", r !== null && w === null);
    s.classList.toggle("out", j < Q0);
    s.classList.toggle("dark", w !== null && w > 0.55);
    s.style.background = w === null ? "transparent" : heat(w);
    s.tabIndex = j === state.query ? 0 : -1;
    s.setAttribute("aria-selected", j === state.query ? "true" : "false");
    s.title = `${j} ${labels[j]}: ${r ? pct(w) : "no row in this page"}`;
  }
}

// ---- the head view: queries on the left, keys on the right, one line per (query, key, head) ----
function buildHeadView() {
  const q = $("hv-q"), k = $("hv-k");
  q.append(...labels.map((lab, i) => el("div", {class: "tok" + (i < Q0 ? " out" : ""), role: "option", tabindex: "-1",
    "data-i": i, text: lab, title: `${i} ${lab}`})));
  k.append(...labels.map((lab, j) => el("div", {class: "tok", "data-j": j, text: lab, title: `${j} ${lab}`})));
  const svg = $("hv-lines");
  svg.setAttribute("viewBox", `0 0 100 ${T}`);
  svg.style.height = `calc(${T} * var(--row))`;
}
function drawHeadView() {
  const L = state.layer;
  $("hv-h").textContent = `Head view: layer ${L}, ${state.visible.size} of ${H} heads`;
  const g = document.createDocumentFragment();
  let queries, keyOnly = null;
  if (state.hoverK !== null) { queries = range(Q0, T); keyOnly = state.hoverK; }
  else if (state.hoverQ !== null) queries = [state.hoverQ];
  else if (state.pinned || state.focused || !allAllowed()) queries = [state.query];
  else queries = range(Q0, T);
  let n = 0;
  for (const h of [...state.visible].sort((a, b) => a - b)) {
    const color = headColor(h);
    for (const i of queries) {
      const r = row(L, h, i);
      if (!r) continue;
      for (let j = 0; j < r.length; j++) {
        const w = r[j];
        if (w === null || w < MIN_WEIGHT || (keyOnly !== null && j !== keyOnly)) continue;
        const line = document.createElementNS(SVGNS, "line");
        line.setAttribute("x1", "0"); line.setAttribute("y1", i + 0.5);
        line.setAttribute("x2", "100"); line.setAttribute("y2", j + 0.5);
        line.setAttribute("stroke", color); line.setAttribute("stroke-opacity", w.toFixed(3));
        line.setAttribute("data-head", h); line.setAttribute("data-q", i); line.setAttribute("data-k", j);
        g.append(line); n++;
      }
    }
  }
  $("hv-lines").replaceChildren(g);
  const shown = queries.length === 1 ? queries[0] : null;
  const r = shown !== null ? row(L, state.head, shown) : null;
  for (const s of $("hv-q").children) {
    const i = +s.dataset.i;
    s.classList.toggle("query", i === state.query);
    s.tabIndex = i === state.query ? 0 : -1;
    s.setAttribute("aria-selected", i === state.query ? "true" : "false");
  }
  for (const s of $("hv-k").children) {
    const j = +s.dataset.j, w = r ? r[j] : null;
    s.style.background = w === null || w === undefined ? "transparent" : heat(w);
    s.classList.toggle("dark", !!w && w > 0.55);
    s.classList.toggle("masked", !!r && w === null);
    s.classList.toggle("query", j === state.hoverK);
  }
  const which = keyOnly !== null ? `the lines into key ${keyOnly} "${labels[keyOnly]}"` :
    queries.length === 1 ? `the lines of query ${queries[0]} "${labels[queries[0]]}"` : "every query's lines";
  const why = queries.length === 1 && !state.pinned && !state.focused && state.hoverQ === null && !allAllowed() ?
    ` (every line would be ${lineCount().toLocaleString("en")}: more than ${MAX_LINES.toLocaleString("en")}, so one query at a time)` : "";
  $("hv-note").textContent = `${n.toLocaleString("en")} lines: ${which}${why}; keys shaded by head ${state.head}'s weights.`;
  $("only").setAttribute("aria-pressed", state.pinned || !allAllowed() ? "true" : "false");
  $("only").disabled = !allAllowed();
}
function range(a, b) { return Array.from({length: Math.max(0, b - a)}, (_, i) => a + i); }

// ---- heads: chips that toggle, and the steps' head ----
function buildHeads() {
  $("heads").append(...range(0, H).map(h => {
    const b = el("button", {type: "button", class: "chip", text: `${h}`, "data-h": h, "aria-label": `head ${h}`});
    b.style.setProperty("--c", headColor(h));
    return b;
  }));
  for (let h = 0; h < H; h++) $("step-head").add(new Option(`${h}`, h));
  for (let L = 0; L < NL; L++) {
    const why = hasRows(L) ? "" : overview.has(L) ? " (overview only)" : " (not computed)";
    $("layer").add(new Option(`${L}${why}`, L, false, L === state.layer));
    if (why) $("layer").options[L].disabled = true;
  }
}
function drawHeads() {
  [...$("heads").children].forEach((b, h) => {
    b.setAttribute("aria-pressed", state.visible.has(h) ? "true" : "false");
    b.tabIndex = h === headFocus ? 0 : -1;
  });
  $("step-head").value = state.head;
  $("layer").value = state.layer;
}
let headFocus = 0;

// ---- steps for the selected query ----
function drawSteps() {
  const L = state.layer, h = state.head, i = state.query, d = doc.model.d_head;
  $("steps-title").textContent = `Query ${i} "${labels[i]}", layer ${L}, head ${h}`;
  const list = $("step-list");
  const w = row(L, h, i), s = row(L, h, i, "scores");
  if (!w) {
    list.replaceChildren(el("li", {text: `The row of query ${i} is not in this page (see "What this page holds" below): choose a later token.`}));
    return;
  }
  const cmd = `attn explain TEXT --steps --token ${i} --layer ${L} --head ${h}`;
  const visible = w.filter(x => x !== null).length;
  const step1 = el("li", {}, el("b", {text: "Scores. "}),
    `Each key's score is q·k ÷ √${d} (d_head = ${d}), ` +
    (ENCODER ? "nothing masked (an encoder: the query sees the keys after it too, where a causal model hides them)"
             : "the future keys masked") + `: blocks.${L}.attn.scores[${h}][${i}]. ` +
    "The vectors q, k and v are not in this page; ", el("code", {text: cmd}), " shows them.");
  const all = visible <= 24 || state.allKeys;
  const order = all ? range(0, T) : topKeys(w, 20).map(x => x[1]);
  const body = order.map(j => el("tr", {class: w[j] === null ? "masked" : ""},
    el("td", {text: `${j} ${labels[j]}`}),
    el("td", {text: s[j] === null ? "−∞" : s[j].toFixed(3)}),
    el("td", {text: w[j] === null ? "masked (future)" : pct(w[j])}),
    el("td", {class: "barcell"}, w[j] === null ? "" : bar(w[j]))));
  const table = el("table", {class: "num", id: "step-table"},
    el("thead", {}, el("tr", {}, ...["key", "score", "weight", ""].map(x => el("th", {text: x})))), el("tbody", {}, ...body));
  const more = all ? (visible > 24 ? el("button", {type: "button", text: "top 20 only", id: "keys-toggle"}) : "") :
    el("button", {type: "button", text: `show all ${T} keys`, id: "keys-toggle"});
  const sum = w.reduce((a, x) => a + (x || 0), 0);
  const step2 = el("li", {}, el("b", {text: "Softmax. "}),
    `The weights, blocks.${L}.attn.weights[${h}][${i}], are e^score over the sum of e^score of the ${visible} visible keys ` +
    `(${all ? "every key" : "the 20 largest"} below); they sum to ${pct(sum)}.`, table, more);
  const e = entropyBits(w);
  const step3 = el("li", {}, el("b", {text: "Spread. "}),
    `Entropy ${e.toFixed(2)} bits of at most ${Math.log2(visible).toFixed(2)} (log₂ of ${visible} keys): ` +
    (visible > 1 && e < 0.3 * Math.log2(visible) ? "a sharp head." : "the attention is spread."));
  const cv = doc.contextual_vectors;
  let zText;
  if (cv && cv.layer === L && cv.head === h && i - Q0 < cv.vectors.length && i >= Q0) {
    const z = cv.vectors[i - Q0];
    zText = `z = Σ weight × v = [${z.slice(0, 6).map(x => x.toFixed(3)).join(", ")}${z.length > 6 ? ", …" : ""}] ` +
      `(${z.length} dims), its length ${cv.norms[i].toFixed(3)} (${cv.name}).`;
  } else {
    zText = `z = Σ weight × v (blocks.${L}.attn.z): this page has it for the document's view only, layer ${cv ? cv.layer : "?"} ` +
      `head ${cv ? cv.head : "?"}; the command above shows it for this head.`;
  }
  const step4 = el("li", {}, el("b", {text: "Weighted sum. "}), zText);
  const step5 = el("li", {}, el("b", {text: "Top keys. "}),
    topKeys(w, 3).map(([x, j]) => `${j} "${labels[j]}" ${pct(x)}`).join(", ") + ".");
  list.replaceChildren(step1, step2, step3, step4, step5);
}
function bar(w) {
  const b = el("span", {class: "bar"});
  b.style.width = `${Math.max(1, Math.round(120 * w))}px`;
  return b;
}

// ---- model view: every layer x head as a small picture of its weights ----
const THUMB = 64; // at most this many pixels a side: larger matrices are shown by their largest weight per block
function pixels(L, h) { // [n*n] values in 0..1, or -1 where masked / not in the page, and n
  if (hasRows(L)) {
    const n = Math.min(T, THUMB), out = new Float32Array(n * n).fill(-1);
    for (let i = 0; i < T; i++) {
      const r = row(L, h, i);
      if (!r) continue;
      const bi = Math.floor(i * n / T);
      for (let j = 0; j < T; j++) {
        const w = r[j], k = bi * n + Math.floor(j * n / T);
        if (w !== null && w > out[k]) out[k] = w;
      }
    }
    return [out, n];
  }
  if (overview.has(L)) {
    const bytes = atob(overview.get(L)[h]), n = Math.round(Math.sqrt(bytes.length));
    const out = new Float32Array(n * n);
    for (let k = 0; k < n * n; k++) {
      const b = bytes.charCodeAt(k);
      out[k] = b === meta.overview.masked ? -1 : b / 254;
    }
    return [out, n];
  }
  return [null, 1];
}
function paint(canvas, L, h) {
  const [px, n] = pixels(L, h);
  canvas.width = n; canvas.height = n;
  const ctx = canvas.getContext("2d");
  if (!px) { ctx.fillStyle = "#e4e4e4"; ctx.fillRect(0, 0, 1, 1); return; }
  const img = ctx.createImageData(n, n);
  for (let k = 0; k < n * n; k++) {
    const w = px[k], o = 4 * k;
    if (w < 0) { img.data[o] = img.data[o + 1] = img.data[o + 2] = 228; }
    else { img.data[o] = 255 - 224 * w; img.data[o + 1] = 255 - 136 * w; img.data[o + 2] = 255 - 75 * w; }
    img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
function buildModelView() {
  const mv = $("mv");
  mv.style.gridTemplateColumns = `auto repeat(${H}, var(--thumb))`;
  if (H > 8) mv.style.setProperty("--thumb", H > 12 ? "34px" : "46px");
  const top = el("div", {role: "row"});
  top.style.display = "contents";
  top.append(el("span", {class: "lab", text: ""}), ...range(0, H).map(h => {
    const s = el("span", {class: "lab", role: "columnheader", text: `head ${h}`});
    s.style.color = headColor(h);
    return s;
  }));
  mv.append(top);
  for (let L = 0; L < NL; L++) {
    const rowEl = el("div", {role: "row"});
    rowEl.style.display = "contents";
    rowEl.append(el("span", {class: "lab row", "data-layer": L, text: `layer ${L}`, role: "rowheader"}));
    for (let h = 0; h < H; h++) {
      const what = hasRows(L) ? "" : overview.has(L) ? " (overview: not in this page in full)" : " (not computed)";
      const c = el("canvas", {class: "thumb" + (hasRows(L) || overview.has(L) ? "" : " none"), role: "gridcell",
        tabindex: "-1", "data-l": L, "data-h": h, "aria-label": `layer ${L} head ${h}${what}`, title: `layer ${L} head ${h}${what}`});
      paint(c, L, h);
      rowEl.append(c);
    }
    mv.append(rowEl);
  }
}
function drawModelView() {
  for (const c of $("mv").querySelectorAll("canvas")) {
    const L = +c.dataset.l, h = +c.dataset.h;
    c.classList.toggle("cur", L === state.layer && h === state.head);
    c.classList.toggle("vis", L === state.layer && state.visible.has(h));
    c.tabIndex = L === state.mv.L && h === state.mv.h ? 0 : -1;
  }
  for (const s of $("mv").querySelectorAll(".lab.row")) s.classList.toggle("cur", +s.dataset.layer === state.layer);
}
function openHead(L, h) {
  if (!hasRows(L)) {
    say(overview.has(L) ? `Layer ${L} is in this page only as an overview; attn explain TEXT --layer ${L} --html FILE has it in full.`
      : `Layer ${L} was not computed for this text; attn explain TEXT --layer ${L} --html FILE shows it.`);
    return;
  }
  state.layer = L; state.head = h; state.visible = new Set([h]);
  say(`Opened layer ${L} head ${h} in the head view.`);
  draw();
}

// ---- predictions, lens, generation ----
function predictionItems(preds) {
  return preds.map(p => {
    const b = el("span", {class: "bar pbar"});
    b.style.width = `${Math.max(1, Math.round(300 * p.probability))}px`;
    return el("li", {text: `${JSON.stringify(printable(p.text))}  ${(100 * p.probability).toFixed(2)}%`}, b);
  });
}
function drawPredictions() {
  if (!ENCODER) {
    $("preds").replaceChildren(...predictionItems(doc.predictions));
    return;
  }
  const masks = doc.masks || [];
  $("pred-h").textContent = masks.length ? "Masked-word predictions: the fillers of each mask" : "Predictions";
  $("preds").replaceChildren(...(masks.length ? masks.map(m => el("li", {text: `the mask at token ${m.index} ${labels[m.index]}:`},
    el("ol", {}, ...predictionItems(m.predictions)))) :
    [el("li", {text: doc.masks ? "No [MASK] in the text: a masked-language model fills in a masked word."
                               : "None: a sentence encoder has no vocabulary head, so it predicts no words."})]));
}
function drawLens() {
  const lens = doc.lens;
  if (!lens || !Array.isArray(lens.layers) || !lens.layers.length) return;
  $("lens").hidden = false;
  const perPosition = lens.layers.some(l => Array.isArray(l.positions));
  const at = perPosition ? state.query : (typeof lens.index === "number" ? lens.index : T - 1);
  $("lens-note").textContent = `What each layer's output reads like at token ${at} "${labels[at] || ""}"` +
    `${lens.name ? ` (${printable(lens.name)})` : ""}: its top next tokens and their probabilities.`;
  const rows = lens.layers.map(l => {
    const top = perPosition ? ((l.positions || []).find(p => p.index === at) || {}).top : l.top;
    const cells = (top || []).slice(0, 5).map(p => el("td", {text: `${JSON.stringify(printable(p.text))} ${pct(p.probability)}`}));
    return el("tr", {}, el("th", {text: `layer ${l.layer}`}), ...(cells.length ? cells : [el("td", {text: "not for this token"})]));
  });
  $("lens-table").replaceChildren(el("tbody", {}, ...rows));
}
const gen = doc.generation || (doc.generated && Array.isArray(doc.generated.steps) ? doc.generated : null);
function drawGeneration() {
  if (!gen || !Array.isArray(gen.steps) || !gen.steps.length) return;
  $("generation").hidden = false;
  const n = gen.steps.length, k = Math.max(0, Math.min(n - 1, +$("gen-step").value));
  $("gen-step").max = n - 1;
  const steps = gen.steps, s = steps[k];
  const all = labels.concat(steps.map(x => tokLabel({text: x.text || "", continues: false})));
  const r = s.weights || (s.attention && s.attention.weights) || [];
  $("gen-pos").textContent = `token ${k + 1} of ${n}`;
  const alts = (s.alternatives || []).map(a => `${JSON.stringify(printable(a.text))} ${pct(a.probability)}`).join(", ");
  const where = gen.layer !== undefined ? ` Attention of layer ${gen.layer}, head ${gen.head}.` : "";
  $("gen-title").textContent = `Generated ${JSON.stringify(printable(s.text))}` +
    (typeof s.probability === "number" ? ` with probability ${pct(s.probability)}` : "") +
    (alts ? `; the alternatives: ${alts}.` : ".") + where;
  $("gen-strip").replaceChildren(...r.map((w, j) => {
    const t = el("span", {class: "tok" + (w !== null && w > 0.55 ? " dark" : ""), text: all[j] || `#${j}`,
      title: `${j} ${all[j] || ""}: ${pct(w)}`});
    t.style.background = w === null ? "transparent" : heat(w);
    return t;
  }));
  $("gen-top").textContent = "Attended most: " + topKeys(r, 3).map(([w, j]) => `${j} "${all[j] || ""}" ${pct(w)}`).join(", ");
  $("gen-prev").disabled = k === 0; $("gen-next").disabled = k === n - 1;
}

// ---- drawing everything, and the events ----
function draw() {
  drawStrip(); drawHeads(); drawHeadView(); drawSteps(); drawModelView(); drawLens();
}
function setQuery(i, how) {
  i = Math.max(Q0, Math.min(T - 1, i));
  state.query = i;
  if (how === "pin") state.pinned = true;
  draw();
  reveal();
}
function reveal() { // scroll the head view and the strip (not the window) to the query
  for (const [box, t] of [[$("hv-scroll"), $("hv-q").children[state.query]], [$("strip"), $("strip").children[state.query]]]) {
    if (!t) continue;
    const top = t.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop, bottom = top + t.offsetHeight;
    if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) box.scrollTop = top - box.clientHeight / 2;
  }
}
function focusQuery(container) { // after a key moved the query, keep the focus on it
  const t = container.querySelector(`[data-i="${state.query}"]`);
  if (t) t.focus();
}
function queryKeys(e, container, prev, next) {
  const step = {[prev]: -1, [next]: 1}[e.key];
  if (step !== undefined) { state.focused = true; setQuery(state.query + step, "pin"); }
  else if (e.key === "Home") setQuery(Q0, "pin");
  else if (e.key === "End") setQuery(T - 1, "pin");
  else if (e.key === "Escape") { state.pinned = false; state.focused = false; draw(); return; }
  else if (e.key === "Enter" || e.key === " ") { state.pinned = !state.pinned; draw(); }
  else return;
  e.preventDefault();
  focusQuery(container);
}
function tokenIndex(e, attr) {
  const t = e.target.closest(`[data-${attr}]`);
  return t ? +t.dataset[attr] : null;
}
function wire() {
  const q = $("hv-q"), k = $("hv-k"), strip = $("strip");
  for (const c of [q, strip]) {
    c.addEventListener("click", e => {
      const i = tokenIndex(e, "i");
      if (i === null || i < Q0) return;
      state.pinned = !(state.pinned && i === state.query);
      setQuery(i);
    });
  }
  q.addEventListener("pointerover", e => {
    const i = tokenIndex(e, "i");
    if (e.pointerType !== "mouse" || i === null || i < Q0) return;
    state.hoverQ = i; state.query = i; draw();
  });
  q.addEventListener("pointerleave", () => { if (state.hoverQ !== null) { state.hoverQ = null; draw(); } });
  k.addEventListener("pointerover", e => {
    const j = tokenIndex(e, "j");
    if (e.pointerType !== "mouse" || j === null) return;
    state.hoverK = j; drawHeadView();
  });
  k.addEventListener("pointerleave", () => { state.hoverK = null; drawHeadView(); });
  q.addEventListener("keydown", e => queryKeys(e, q, "ArrowUp", "ArrowDown"));
  strip.addEventListener("keydown", e => queryKeys(e, strip, "ArrowLeft", "ArrowRight"));
  q.addEventListener("focusin", e => { // a keyboard focus, not the focus a click leaves behind
    if (!state.focused && e.target.matches(":focus-visible")) { state.focused = true; drawHeadView(); }
  });
  q.addEventListener("focusout", e => { if (!q.contains(e.relatedTarget)) { state.focused = false; drawHeadView(); } });
  document.addEventListener("keydown", e => {
    if (e.key === "Escape" && state.pinned) { state.pinned = false; draw(); }
  });

  $("heads").addEventListener("click", e => {
    const b = e.target.closest("[data-h]");
    if (!b) return;
    const h = +b.dataset.h;
    headFocus = h;
    if (state.visible.has(h)) state.visible.delete(h); else state.visible.add(h);
    say(`Head ${h} ${state.visible.has(h) ? "shown" : "hidden"} in the head view.`);
    draw();
  });
  $("heads").addEventListener("keydown", e => {
    const step = {ArrowLeft: -1, ArrowRight: 1}[e.key];
    if (step === undefined) return;
    e.preventDefault();
    headFocus = (headFocus + step + H) % H;
    drawHeads();
    $("heads").children[headFocus].focus();
  });
  $("all-heads").addEventListener("click", () => { state.visible = new Set(range(0, H)); draw(); });
  $("no-heads").addEventListener("click", () => { state.visible = new Set(); draw(); });
  $("only").addEventListener("click", () => { state.pinned = !state.pinned; draw(); });
  $("layer").addEventListener("change", e => { state.layer = +e.target.value; draw(); });
  $("step-head").addEventListener("change", e => { state.head = +e.target.value; draw(); });
  $("step-list").addEventListener("click", e => {
    if (e.target.id === "keys-toggle") { state.allKeys = !state.allKeys; drawSteps(); $("keys-toggle").focus(); }
  });

  const mv = $("mv");
  mv.addEventListener("click", e => {
    const c = e.target.closest("canvas");
    if (!c) return;
    state.mv = {L: +c.dataset.l, h: +c.dataset.h};
    openHead(state.mv.L, state.mv.h);
    drawModelView();
  });
  mv.addEventListener("keydown", e => {
    const move = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]}[e.key];
    if (move) {
      state.mv = {L: Math.max(0, Math.min(NL - 1, state.mv.L + move[0])), h: Math.max(0, Math.min(H - 1, state.mv.h + move[1]))};
    } else if (e.key === "Enter" || e.key === " ") {
      openHead(state.mv.L, state.mv.h);
    } else return;
    e.preventDefault();
    drawModelView();
    mv.querySelector(`canvas[data-l="${state.mv.L}"][data-h="${state.mv.h}"]`).focus();
  });

  if (gen) {
    $("gen-step").addEventListener("input", drawGeneration);
    $("gen-prev").addEventListener("click", () => { $("gen-step").value = +$("gen-step").value - 1; drawGeneration(); });
    $("gen-next").addEventListener("click", () => { $("gen-step").value = +$("gen-step").value + 1; drawGeneration(); });
  }
}

$("model").textContent = `${printable(doc.model.name)} (${NL} layers × ${H} heads)`;
$("sentence").textContent = printable(doc.text, true);
document.title = `attn explain: ${printable(doc.text).slice(0, 80)}`;
$("note-list").replaceChildren(...meta.notes.map(n => el("li", {text: n})),
  ...(doc.truncated ? [el("li", {text: `The text was cut to its last ${T} tokens to fit the model's context (--truncate).`})] : []));
state.mv = {L: state.layer, h: state.head};
headFocus = state.head;
buildHeads(); buildHeadView(); buildModelView(); drawPredictions(); wire(); draw(); drawGeneration(); reveal();
