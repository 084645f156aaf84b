"""Compare two inputs: align their tokens, and show what changed for the shared ones.

Tokens are aligned by difflib's longest matching blocks of token ids. For each shared
pair of query and key, the chosen head's weight in B minus that in A; for each shared
token, the cosine distance between its contextual vectors (blocks.L.resid_post, the
layer's output) in A and in B; and the top-k next-token probabilities of both.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from ..model import top_k
from ..trace import Trace
from ..views import HeadView, head_view
from .attribution import last_probs

VECTORS = "resid_post"  # the contextual vector compared: the layer's output at each token


@dataclass
class Comparison:
    layer: int
    head: int | str
    pairs: list[tuple[int, int]]  # (index in A, index in B) of each shared token
    opcodes: list[tuple[str, int, int, int, int]]  # difflib's edit script, A -> B
    view_a: HeadView
    view_b: HeadView
    weight_diff: np.ndarray  # [S, S]: B - A over shared (query, key) pairs; NaN where masked in either
    vectors_name: str  # blocks.L.resid_post
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


def compare(trace_a: Trace, trace_b: Trace, layer: int, head: int | str, k: int) -> Comparison:
    ids_a, ids_b = trace_a.ids.tolist(), trace_b.ids.tolist()
    pairs, opcodes = align(ids_a, ids_b)
    ia = np.array([p[0] for p in pairs], dtype=np.int64)  # [S]
    ib = np.array([p[1] for p in pairs], dtype=np.int64)  # [S]
    va, vb = head_view(trace_a, layer, head), head_view(trace_b, layer, head)
    wa = va.weights[np.ix_(ia, ia)]  # [S, S]
    wb = vb.weights[np.ix_(ib, ib)]  # [S, S]
    hidden = va.masked[np.ix_(ia, ia)] | vb.masked[np.ix_(ib, ib)]  # [S, S]
    diff = np.where(hidden, np.nan, wb.astype(np.float64) - wa.astype(np.float64))  # [S, S]
    vec_a = trace_a.block(layer, VECTORS)[ia]  # [S, d]
    vec_b = trace_b.block(layer, VECTORS)[ib]  # [S, d]
    pa, pb = last_probs(trace_a), last_probs(trace_b)  # [V] each
    top = [i for i, _, _ in top_k(trace_a["logits"][-1], k)]
    top += [i for i, _, _ in top_k(trace_b["logits"][-1], k) if i not in top]
    return Comparison(
        layer=layer, head=head, pairs=pairs, opcodes=opcodes, view_a=va, view_b=vb, weight_diff=diff,
        vectors_name=f"blocks.{layer}.{VECTORS}", cosine_distance=cosine_distance(vec_a, vec_b),
        prediction_ids=top, prob_a=pa[top], prob_b=pb[top],
    )
