"""Compare two inputs: align their tokens, and show what changed for the shared ones.

Tokens are aligned by difflib's longest matching blocks of token ids. For each shared
pair of query and key, the chosen head's weight in B minus that in A; for each shared
token, the cosine distance between its contextual vectors (the layer's output,
blocks.L.resid_post; a post-norm encoder's blocks.L.ln_out) in A and in B; and the top-k
next-token probabilities of both (a masked-language model: the fillers of each text's first
mask; a sentence encoder: none).

Meaning in context (--word): one word's vector in A against the same word's in B, layer by
layer (the embedding, then each layer's output), next to a control word whose sense does
not change; a word cut into pieces is the mean of its pieces' vectors.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig
from ..errors import UsageError
from ..labels import printable
from ..model import top_k
from ..tokenizer import Token
from ..trace import Trace, block_output
from ..views import HeadView, head_view
from .attribution import probs_at


@dataclass
class Comparison:
    layer: int
    head: int | str
    pairs: list[tuple[int, int]]  # (index in A, index in B) of each shared token
    opcodes: list[tuple[str, int, int, int, int]]  # difflib's edit script, A -> B
    view_a: HeadView
    view_b: HeadView
    weight_diff: np.ndarray  # [S, S]: B - A over shared (query, key) pairs; NaN where masked in either
    vectors_name: str  # the layer's output at each token: blocks.L.resid_post (post-norm: blocks.L.ln_out)
    cosine_distance: np.ndarray  # [S]: 1 - cos(vec_A, vec_B) per shared token
    prediction_ids: list[int]  # the union of both top-k, ordered by A's then B's rank
    prob_a: np.ndarray  # [P]
    prob_b: np.ndarray  # [P]


def align(ids_a: list[int], ids_b: list[int]) -> tuple[list[tuple[int, int]], list[tuple[str, int, int, int, int]]]:
    sm = difflib.SequenceMatcher(a=ids_a, b=ids_b, autojunk=False)
    pairs = [(blk.a + j, blk.b + j) for blk in sm.get_matching_blocks() for j in range(blk.size)]
    return pairs, [tuple(op) for op in sm.get_opcodes()]  # type: ignore[misc]


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 - cos; 0 for equal directions, 2 for opposite ones."""
    a, b = a.astype(np.float64), b.astype(np.float64)  # [S, n]
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)  # [S]
    cos = (a * b).sum(axis=-1) / np.maximum(na * nb, 1e-300)  # [S]
    return np.clip(1.0 - cos, 0.0, 2.0)  # [S]


def compare(trace_a: Trace, trace_b: Trace, layer: int, head: int | str, k: int,
            at: tuple[int, int] | None = (-1, -1)) -> Comparison:
    """`at`: where each text's predictions are read (the last token: the next one; a mask's
    position); None for a model that predicts no words there (a sentence encoder)."""
    ids_a, ids_b = trace_a.ids.tolist(), trace_b.ids.tolist()
    pairs, opcodes = align(ids_a, ids_b)
    ia = np.array([p[0] for p in pairs], dtype=np.int64)  # [S]
    ib = np.array([p[1] for p in pairs], dtype=np.int64)  # [S]
    va, vb = head_view(trace_a, layer, head), head_view(trace_b, layer, head)
    wa = va.weights[np.ix_(ia, ia)]  # [S, S]
    wb = vb.weights[np.ix_(ib, ib)]  # [S, S]
    hidden = va.masked[np.ix_(ia, ia)] | vb.masked[np.ix_(ib, ib)]  # [S, S]
    diff = np.where(hidden, np.nan, wb.astype(np.float64) - wa.astype(np.float64))  # [S, S]
    vectors_name = block_output(trace_a.config, layer)  # the contextual vector compared: the layer's output
    vec_a = trace_a[vectors_name][ia]  # [S, d]
    vec_b = trace_b[vectors_name][ib]  # [S, d]
    top: list[int] = []
    pa = pb = np.zeros(0)
    if at is not None:
        pa, pb = probs_at(trace_a, at[0]), probs_at(trace_b, at[1])  # [V] each
        top = [i for i, _, _ in top_k(trace_a["logits"][at[0]], k)]
        top += [i for i, _, _ in top_k(trace_b["logits"][at[1]], k) if i not in top]
    return Comparison(
        layer=layer, head=head, pairs=pairs, opcodes=opcodes, view_a=va, view_b=vb, weight_diff=diff,
        vectors_name=vectors_name, cosine_distance=cosine_distance(vec_a, vec_b),
        prediction_ids=top, prob_a=pa[top], prob_b=pb[top],
    )


# ---- meaning in context: one word's vector in A and in B, layer by layer ------------------------

@dataclass
class WordDistance:
    word: str  # as given (--word)
    a: list[int]  # its tokens in A
    b: list[int]  # its tokens in B
    names: list[str]  # the vectors compared: blocks.0.resid_pre (the embedding), then each layer's output
    distance: np.ndarray  # [n_layer + 1]: cosine distance of the word's vector in A and in B
    control: str | None  # a word whose sense does not change, or None when the texts share none
    control_a: list[int]
    control_b: list[int]
    control_distance: np.ndarray | None  # [n_layer + 1]


def vector_names(config: ModelConfig) -> list[str]:
    """What --word compares: the input to the first block, then every block's output."""
    return ["blocks.0.resid_pre"] + [block_output(config, L) for L in range(config.n_layer)]


def _words(tokens: list[Token]) -> list[tuple[str, list[int]]]:
    """(the word as the input spells it, its tokens' indices) for each word of the text; the tokens the
    template adds ([CLS], [SEP], BOS: they span no character) left out."""
    out: dict[int, tuple[str, list[int]]] = {}
    for t in tokens:
        if t.special and t.start == t.end:
            continue
        text = t.word_text or t.text.strip()
        out.setdefault(t.word, (text, []))[1].append(t.index)
    return list(out.values())


def find_word(tokens: list[Token], word: str, which: str, text: str, option: str = "--word") -> list[int]:
    """The tokens of the first occurrence of `word` (compared ignoring case) in the text."""
    want = word.strip().casefold()
    for spelled, indices in _words(tokens):
        if spelled.casefold() == want:
            return indices
    shown = ", ".join(dict.fromkeys(printable(w) for w, _ in _words(tokens)))
    raise UsageError(f"{option} {word!r} is not a word of {which} ({text!r}); its words are: {shown}")


def shared_word(tokens_a: list[Token], tokens_b: list[Token], word: str) -> str | None:
    """A control word: the first word of A made of letters that B has too, other than `word`."""
    in_b = {w.casefold() for w, _ in _words(tokens_b)}
    for w, _ in _words(tokens_a):
        if w.casefold() != word.strip().casefold() and w.isalpha() and w.casefold() in in_b:
            return w
    return None


def word_distance(vectors_a: dict[str, np.ndarray], vectors_b: dict[str, np.ndarray],
                  tokens: tuple[list[Token], list[Token]], texts: tuple[str, str], word: str,
                  control: str | None = None) -> WordDistance:
    """`vectors_*`: name -> [T, d] for every name of vector_names (captured during the forward passes)."""
    names = list(vectors_a)

    def distances(ia: list[int], ib: list[int]) -> np.ndarray:
        a = np.stack([vectors_a[n][ia].astype(np.float64).mean(axis=0) for n in names])  # [n_names, d]
        b = np.stack([vectors_b[n][ib].astype(np.float64).mean(axis=0) for n in names])  # [n_names, d]
        return cosine_distance(a, b)  # [n_names]

    ia, ib = find_word(tokens[0], word, "A", texts[0]), find_word(tokens[1], word, "B", texts[1])
    if control is None:
        control = shared_word(tokens[0], tokens[1], word)
    ca = cb = []
    control_distance = None
    if control is not None:
        ca = find_word(tokens[0], control, "A", texts[0], "--control")
        cb = find_word(tokens[1], control, "B", texts[1], "--control")
        control_distance = distances(ca, cb)
    return WordDistance(word=word, a=ia, b=ib, names=names, distance=distances(ia, ib), control=control,
                        control_a=ca, control_b=cb, control_distance=control_distance)
