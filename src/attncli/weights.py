"""How the forward pass reads a weight: a float32 array, or a matrix kept in another form (a GGUF
file's quantized bytes, see checkpoints/gguf/inplace.py) that gives float32 values when used.

Such a matrix has `shape` (the parameter's, e.g. [in, out]), `as_array()` (the whole float32
parameter), `matmul(x)` (x @ W, for a linear matrix), `unembed(h)` (h @ the vocabulary's [d, V]),
`rows(ids)` (rows of a [vocab, d] embedding) and `vocab_rows(r0, r1)` (float32 [r1 - r0, d] rows
r0..r1 of the vocabulary). The functions below take either; an array is the fast path, unchanged
but for the BLAS threads its size gets (threads.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import threads

# values of the vocabulary dequantized (or multiplied) at a time: 4 MB of float32, measured best of 2**16..2**22
VOCAB_CHUNK_VALUES = 1 << 20


def dense(w: Any) -> np.ndarray:
    """The parameter as a float32 array: as it is, or dequantized now (and not kept)."""
    return w if isinstance(w, np.ndarray) else w.as_array()


def product(x: np.ndarray, w: Any) -> np.ndarray:
    """x [T, in] @ W [in, out]; a matrix kept quantized computes it from its blocks."""
    if isinstance(w, np.ndarray):
        threads.size_for(2.0 * x.shape[0] * w.shape[0] * w.shape[1])
        return x @ w  # [T, in] @ [in, out] -> [T, out]
    return w.matmul(x)  # [T, out]


def take_rows(w: Any, ids: np.ndarray) -> np.ndarray:
    """Rows `ids` of a [vocab, d] embedding: only those rows are dequantized."""
    return w[ids] if isinstance(w, np.ndarray) else w.rows(ids)  # [T] -> [T, d]


def vocab_rows(w: Any, r0: int, r1: int, transposed: bool) -> np.ndarray:
    """Vocabulary entries r0..r1 of an unembedding as [r1 - r0, d] rows: of W_E [V, d] itself, or
    (`transposed`) of W_U [d, V], whose columns they are."""
    if isinstance(w, np.ndarray):
        return w[:, r0:r1].T if transposed else w[r0:r1]  # [n, d], a view
    return w.vocab_rows(r0, r1)  # [n, d]


def vocab_chunk(n_vocab: int, d: int) -> int:
    """Vocabulary rows per chunk of the unembedding: the same for both paths, so they agree bit for bit."""
    return max(1, min(n_vocab, VOCAB_CHUNK_VALUES // max(d, 1)))


def unembed_chunked(h: np.ndarray, w: Any, transposed: bool) -> np.ndarray:
    """h @ W_U, a chunk of vocabulary rows at a time: no float32 copy of a quantized vocabulary is
    ever whole, and an array and its quantized form give the same bits (the same products, in the
    same order and layout)."""
    if not isinstance(w, np.ndarray) and hasattr(w, "unembed"):
        return w.unembed(h)  # [T, V], from the blocks
    d = h.shape[-1]
    n_vocab = w.shape[1] if transposed else w.shape[0]
    threads.size_for(2.0 * h.shape[0] * d * n_vocab)
    out = np.empty((h.shape[0], n_vocab), dtype=h.dtype)  # [T, V]
    step = vocab_chunk(n_vocab, d)
    for r0 in range(0, n_vocab, step):
        r1 = min(n_vocab, r0 + step)
        out[:, r0:r1] = h @ vocab_rows(w, r0, r1, transposed).T  # [T, d] @ [d, n] -> [T, n]
    return out  # [T, V]
