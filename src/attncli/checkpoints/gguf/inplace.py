"""Quantized: a matrix left in its GGUF file's quantized bytes (memory-mapped), dequantized when
used. The memory of a model kept this way scales with the file, not with 4 bytes a parameter.

Each use gives exactly the float32 values the load-time path would have made (the same kernels
on the same blocks, into the same layout), so the two paths compute the same bits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .quants import dequantize

ROWS_PER_CHUNK = 256  # stored rows dequantized at a time into a matrix's [in, out] copy (as the load path)


class Quantized:
    """A parameter whose stored rows are quantized bytes: a linear matrix ([in, out], the transpose
    of its stored [out, in] rows) or the token embedding ([vocab, d], as stored)."""

    def __init__(self, name: str, raw_rows: np.ndarray, type_id: int, n_cols: int, transposed: bool,
                 copy_after: int | None = None) -> None:
        self.name = name  # the GGUF tensor's, for messages
        self.raw = raw_rows  # uint8 [stored rows, row bytes]: a view of the memory map (or, un-permuted, a copy)
        self.type = type_id
        self.n_cols = n_cols  # values a stored row holds
        self.transposed = transposed  # the parameter is [n_cols, stored rows]
        n_rows = raw_rows.shape[0]
        self.shape = (n_cols, n_rows) if transposed else (n_rows, n_cols)
        self.dtype = np.dtype(np.float32)
        # a vocabulary read whole more than `copy_after` times (generation, attribution: one pass per
        # forward) keeps a float32 copy from then on, when the budget allowed it (None: never)
        self.copy_after = copy_after
        self.passes = 0
        self.copy: np.ndarray | None = None  # [stored rows, n_cols]

    @property
    def nbytes_quantized(self) -> int:
        return int(self.raw.size)

    def _decode(self, raw: np.ndarray, n: int) -> np.ndarray:
        return dequantize(np.ascontiguousarray(raw).reshape(-1), self.type, (n, self.n_cols))  # [n, n_cols]

    def stored_rows(self, r0: int, r1: int) -> np.ndarray:
        """Stored rows r0..r1 as float32 [r1 - r0, n_cols]."""
        if self.copy is not None:
            return self.copy[r0:r1]
        return self._decode(self.raw[r0:r1], r1 - r0)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows `ids` of an embedding ([vocab, d] as stored): only those are dequantized."""
        ids = np.asarray(ids)
        if self.copy is not None:
            return self.copy[ids]
        return self._decode(self.raw[ids.reshape(-1)], ids.size).reshape(*ids.shape, self.n_cols)  # [..., d]

    def vocab_rows(self, r0: int, r1: int) -> np.ndarray:
        """Vocabulary entries r0..r1 as [r1 - r0, d]: stored rows, whether the parameter is W_E or W_U.
        A pass over the vocabulary starts at row 0: that is where passes are counted."""
        if r0 == 0 and self.copy is None and self.copy_after is not None:
            self.passes += 1
            if self.passes > self.copy_after:
                self.copy = self._decode(self.raw, self.raw.shape[0])  # [rows, n_cols], the same values
        return self.stored_rows(r0, r1)

    def as_array(self) -> np.ndarray:
        """The whole parameter in float32: [in, out] for a linear matrix, made a few hundred rows at a time."""
        n_rows = self.raw.shape[0]
        if not self.transposed:
            return self.stored_rows(0, n_rows)  # [rows, cols]
        dest = np.empty(self.shape, dtype=np.float32)  # [in, out]
        for c0 in range(0, n_rows, ROWS_PER_CHUNK):
            c1 = min(n_rows, c0 + ROWS_PER_CHUNK)
            dest[:, c0:c1] = self.stored_rows(c0, c1).T
        return dest

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """np.asarray(q): the float32 parameter, for code that needs the whole array (tests, tools)."""
        a = self.as_array()
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        return f"Quantized({self.name}, shape={self.shape}, {self.nbytes_quantized} bytes)"


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
