"""The walkthrough as titled Rich panels: the real numbers of each step and one plain sentence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..analysis.steps import Walkthrough
from ..labels import token_label
from ..model import Prediction
from ..tokenizer import Token
from .style import MASKED, bar
from .table import predictions_table


def _vec(x: np.ndarray, dims: int) -> str:
    shown = " ".join(f"{float(v):+.3f}" for v in x[:dims])
    return f"[{shown}{', …' if x.shape[0] > dims else ''}]"


def _panel(title: str, body: Any, sentence: str) -> Panel:
    return Panel(Group(body, Text(""), Text(sentence, style="italic")), title=Text.assemble((title, "bold")),
                 title_align="left", box=box.ROUNDED)


def _vectors_table(rows: list[tuple[str, np.ndarray, str]], dims: int) -> Table:
    """name | first dims | where it comes from; the last column wraps so the numbers never do."""
    vecs = [_vec(vec, dims) for _, vec, _ in rows]
    t = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    t.add_column(style="bold", no_wrap=True, min_width=max(len(r[0]) for r in rows))
    t.add_column(no_wrap=True, min_width=max(len(v) for v in vecs))
    t.add_column(style="dim")
    for (name, _, where), v in zip(rows, vecs, strict=True):
        t.add_row(Text(name), Text(v), Text(where))
    return t


ENCODER_MASK = ("Nothing is masked: {me} sees the keys after it as well as those before it. A causal model (GPT, "
                "Llama) sets the scores of later keys to -inf, because it is trained to predict the next word and must "
                "not see it; an encoder like BERT is trained to fill in a masked word from both sides, so every token "
                "sees the whole text.")


def steps_panels(w: Walkthrough, tokens: list[Token], preds: list[Prediction], dims: int = 6, width: int = 120,
                 model: Any = None) -> Group:
    L, h, i = w.layer, w.head, w.position
    labels = [token_label(t) for t in tokens]
    me = f'"{labels[i]}"'
    d = w.embed.shape[0]
    dims = max(1, min(dims, w.d_head, (width - 45) // 7))  # room for the name and where-from columns
    parts: list[Any] = [Text.assemble(
        f"Walkthrough of layer {L}, head {h}, for the query token ", (f"{i} {labels[i]}", "bold"),
        f" (first {dims} of {d} / {w.d_head} dims shown)")]

    # 1. embedding and position
    rows = [("embed", w.embed, f"row {tokens[i].id} of W_E  [embed]")]
    if w.pos_embed is not None:
        rows.append(("+ pos_embed", w.pos_embed, f"row {i} of W_pos  [pos_embed]"))
    if w.type_embed is not None:
        rows.append(("+ type_embed", w.type_embed, "row 0 of W_T (token type 0)  [type_embed]"))
    if w.embed_norm is not None:
        rows.append(("normed", w.embed_norm, "the sum, LayerNormed  [embed_norm]"))
    rows.append(("= resid_pre" if L == 0 or w.embed_norm is None else "resid_pre", w.resid_pre,
                 f"[blocks.{L}.resid_pre]"))
    if w.ln1 is not None:
        rows.append(("ln1", w.ln1, f"[blocks.{L}.ln1]"))
    where = "the token's embedding plus its position's" if w.pos_embed is not None else "the token's embedding"
    if w.embed_norm is not None:
        where += ", normed"
    first = (f"{where}" if L == 0 else f"{where}, changed by layer 0" if L == 1 else
             f"{where}, changed by layers 0 to {L - 1}")
    how = ("the layer normalizes it (ln1) before making q, k and v." if w.ln1 is not None else
           "the layer makes q, k and v from it as it is (a post-norm block, as BERT's, normalizes after attention).")
    parts.append(_panel("1 · Embedding and position", _vectors_table(rows, dims),
                        f"{me} enters layer {L} as {first}; {how}"))

    # 2. q, and k and v of every token
    label_w = max(len(f"{j} {lab}") for j, lab in enumerate(labels))
    kv_dims = max(1, min(dims, ((width - 8 - label_w) // 2 - 9) // 7))  # each value "+0.123 " is 7 wide
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("token", style="bold", no_wrap=True, min_width=label_w)
    t.add_column(Text(f"k  [blocks.{L}.attn.k]"), no_wrap=True)
    t.add_column(Text(f"v  [blocks.{L}.attn.v]"), no_wrap=True)
    for j in range(len(tokens)):
        style = "dim" if w.masked[j] else ""
        t.add_row(Text(f"{j} {labels[j]}"), Text(_vec(w.k[j], kv_dims), style), Text(_vec(w.v[j], kv_dims), style))
    body = Group(_vectors_table([("q", w.q, f"[blocks.{L}.attn.q]")], dims), t)
    kv = "" if w.kv_head == h else f" (key/value head {w.kv_head}, shared by several query heads)"
    src = "ln1" if w.ln1 is not None else "resid_pre"
    seen = (f"Dimmed rows come after {me}: it may not look at them." if w.causal else
            f"No row is dimmed: in an encoder {me} may look at every token, after it too.")
    parts.append(_panel("2 · Query, keys and values", body,
                        f"{src} times W_Q gives {me}'s query q; "
                        f"times W_K and W_V, every token's key k and value v{kv}. " + seen))

    # 3. scores
    scale = math.sqrt(w.scale_dim)
    n = f"{w.scale_dim:g}"
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("q·k", justify="right")
    t.add_column(f"÷ √{n} = score", justify="right")
    t.add_column("mask")
    for j in range(len(tokens)):
        if w.masked[j]:
            why = "future: hidden" if j > w.position else "beyond the window: hidden"
            t.add_row(Text(f"{j} {labels[j]}"), Text(MASKED, style="dim"), Text("-inf", style="dim"),
                      Text(why, style="dim"))
        else:
            t.add_row(Text(f"{j} {labels[j]}"), f"{w.dots[j]:+.3f}", f"{float(w.scores[j]):+.3f}", "visible")
    divisor = ("√d_head" if w.scale_dim == w.d_head else
               f"√{n} (the model's query_pre_attn_scalar; d_head is {w.d_head})")
    window = " and keys too far before it, beyond this layer's sliding window," if w.masked[:w.position].any() else ""
    masking = (f"; keys after it{window} are set to -inf (masked)." if w.causal else ". " + ENCODER_MASK.format(me=me))
    shown_divisor = "d_head" if w.scale_dim == w.d_head else n
    parts.append(_panel(f"3 · Scores: q·k ÷ √{shown_divisor}  [blocks.{L}.attn.scores]", t,
                        f"{me}'s query is compared with every key by a dot product, divided by {divisor} = {scale:.2f} "
                        f"so the scores do not grow with the head size{masking}"))

    # 4. softmax
    visible = int((~w.masked).sum())
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("weight", justify="right")
    t.add_column("", style="green", no_wrap=True)
    if w.what_if is not None:
        t.add_column(f"what-if T={w.what_if.temperature:g}", justify="right", style="magenta")
        t.add_column("", style="magenta", no_wrap=True)
    for j in range(len(tokens)):
        wt = float(w.weights[j])
        row: list[Any] = [f"{j} {labels[j]}", f"{100 * wt:.1f}%" if not w.masked[j] else MASKED, bar(wt, 20)]
        if w.what_if is not None:
            wi = float(w.what_if.weights[j])
            row += [f"{100 * wi:.1f}%" if not w.masked[j] else MASKED, bar(wi, 20)]
        t.add_row(*(Text(x) if isinstance(x, str) else x for x in row))
    best = int(np.argmax(w.weights))
    sentence = (f"Softmax turns the scores into weights that sum to 100%: "
                f"{me} gives the most, {100 * float(w.weights[best]):.1f}%, "
                f'to "{labels[best]}". Entropy'
                f" {w.entropy_bits:.2f} bits of at most {math.log2(visible):.2f} "
                f"(0 = all on one token, {math.log2(visible):.2f} = spread evenly over {visible}).")
    if w.what_if is not None:
        how = "sharper" if w.what_if.temperature < 1 else "flatter"
        sentence += (f" What-if, not the model: dividing the scores by T={w.what_if.temperature:g} makes the row {how} "
                     f"(entropy {w.what_if.entropy_bits:.2f} bits); the model itself uses T=1.")
    parts.append(_panel(f"4 · Softmax into weights  [blocks.{L}.attn.weights]", t, sentence))

    # 5. weighted sum
    share = np.argsort(-w.weights, kind="stable")[: min(3, visible)]  # [<=3] the biggest shares
    terms = " + ".join(f"{100 * float(w.weights[j]):.0f}%·v[{labels[j]}]" for j in share)
    rows = [("z", w.z, f"[blocks.{L}.attn.z]  norm {float(np.linalg.norm(w.z)):.3f}")]
    if w.what_if is not None:
        rows.append((f"what-if z (T={w.what_if.temperature:g})", w.what_if.z, "not the model's"))
    parts.append(_panel("5 · Weighted sum of values: the contextual vector", _vectors_table(rows, dims),
                        f"z = Σ weight × v over the visible tokens ≈ {terms}{' + …' if visible > 3 else ''}: "
                        f"{me}'s new vector in this head, mixed from the tokens it attended to."))

    # then the prediction
    vectors = _vectors_table([("attn.out", w.attn_out, f"[blocks.{L}.attn.out]  all heads through W_O"),
                              ("resid_mid", w.resid_mid, f"[blocks.{L}.resid_mid] = resid_pre + attn.out")], dims)
    later = [str(x) for x in range(L + 1, w.n_layer)]
    rest = (f"layer{'s' if len(later) > 1 else ''} {' to '.join(later[:1] + later[1:][-1:])} "
            f"do{'es' if len(later) == 1 else ''} the same" if later else "this was the last layer")
    joined = f"Every head's z is joined through W_O and added to {me}'s residual stream; its MLP adds more; {rest}; "
    if w.causal:
        body = Group(vectors, Text(""), predictions_table(preds, after="".join(t.text for t in tokens[: i + 1])))
        parts.append(_panel("Then: the next-token prediction", body,
                            joined + f"the final norm and the unembedding turn the vector at position {i} into the "
                            "probabilities of the token that comes next."))
        return Group(*parts)
    if not preds:  # a sentence encoder
        from ..analysis.embedding import describe, pooling_of

        pooled = describe(pooling_of(model.card)) if model is not None else "mean pooling"
        parts.append(_panel("Then: the sentence embedding", vectors,
                            joined + f"the last layer's vectors of every token are pooled ({pooled}) into one "
                            "sentence embedding. A sentence encoder has no vocabulary head: it predicts no words."))
        return Group(*parts)
    is_mask = model is not None and tokens[i].id == model.tokenizer.mask_id
    title = f"Fillers for the mask at token {i}" if is_mask else f"What the model reads at token {i}"
    body = Group(vectors, Text(""), predictions_table(preds, title=title))
    what = ("the words that fill the mask, from the words on both sides of it" if is_mask else
            "the word at that position (a masked-language model predicts the token at each place; at a mask it "
            "fills in the missing word)")
    heading = "Then: the masked-word prediction" if is_mask else "Then: the prediction at this position"
    parts.append(_panel(heading, body,
                        joined + f"the masked-LM head (dense, GELU, LayerNorm) and the unembedding turn the vector at "
                        f"position {i} into the probabilities of {what}."))
    return Group(*parts)
