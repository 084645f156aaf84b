"""Quantized: a matrix left in its GGUF file's quantized bytes (memory-mapped). A product with it is
computed from the blocks, a tile at a time (products.py): no float32 copy of the matrix is made.
The memory of a model kept this way scales with the file, not with 4 bytes a parameter.

Where the `fast` extra is installed, a product of a few tokens takes numba's compiled kernels
(products.py): from a matrix's first use in a model big enough that they repay importing numba
(COMPILED_MODEL_VALUES), from its second (generation) in a smaller one, and from then on
everywhere in the process.

When the memory budget allows (the float32 path), a matrix used more than `copy_after` times (one
use a forward) is dequantized once and kept, and its products are then float32 ones: a prediction
or an explanation never pays for a float32 copy, a long generation does once. Either way a product
is within float32 rounding of dequantize-then-multiply (products.py states the bound); a float32
copy holds exactly the values the blocks give (the same kernels as gguf-py's).

The scales (or, for plain floats, the values) of a tensor are checked when it is first used, not at
load: loading then reads none of the tensors' pages. A product of a few tokens computes every
block's float scales anyway, and checks them there (products.checks_scales) instead of in a pass
of its own over the tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ModelError
from ...weights import unembed_chunked
from . import products
from .quants import QUANT_TYPES, dequantize, scales_finite

ROWS_PER_CHUNK = 256  # stored rows dequantized at a time into a matrix's [in, out] copy, or value-checked
# a model whose matrices (but the vocabulary's) hold this many values takes numba's kernels from its
# first forward: importing numba and loading its first kernel cost ~0.4 s of CPU, and a prompt of a few
# tokens costs ~1.5 ns a weight more through numpy's kernels than through numba's (measured on
# Qwen2.5-0.5B's 494M: 1.27 s against 0.40 s a forward), so the import pays back from ~280M
COMPILED_MODEL_VALUES = 300_000_000


class Quantized:
    """A parameter whose stored rows are quantized bytes: a linear matrix ([in, out], the transpose
    of its stored [out, in] rows), the unembedding ([d, vocab], likewise) or the token embedding
    ([vocab, d], as stored)."""

    def __init__(self, name: str, raw_rows: np.ndarray, type_id: int, n_cols: int, transposed: bool,
                 copy_after: int | None = None, file: Path | str = "", compiled_after: int = 1) -> None:
        self.name = name  # the GGUF tensor's, for messages
        self.file = str(file)
        self.raw = raw_rows  # uint8 [stored rows, row bytes]: a view of the memory map (or, un-permuted, a copy)
        self.type = type_id
        self.n_cols = n_cols  # values a stored row holds
        self.transposed = transposed  # the parameter is [n_cols, stored rows]
        n_rows = raw_rows.shape[0]
        self.shape = (n_cols, n_rows) if transposed else (n_rows, n_cols)
        self.dtype = np.dtype(np.float32)
        # used more than `copy_after` times (a product, or a pass over the vocabulary), the parameter
        # keeps a float32 copy from then on, when the budget allowed it (None: never)
        self.copy_after = copy_after
        self.uses = 0
        self.compiled_after = compiled_after  # products take numba's kernels once used more than this often
        self.copy: np.ndarray | None = None  # the parameter in float32, of self.shape
        self.checked = False

    @property
    def nbytes_quantized(self) -> int:
        return int(self.raw.size)

    # ---- checks and values --------------------------------------------------------------------------

    def _corrupt(self, what: str) -> ModelError:
        return ModelError(f"{self.file}: tensor {self.name} has NaN or infinite {what}; the weights are corrupt, "
                          "download them again")

    def _check(self, raw: np.ndarray | None = None) -> None:
        """Every scale finite (plain floats: every value), of the whole tensor or of these rows."""
        if self.checked:
            return
        rows = self.raw if raw is None else raw
        if QUANT_TYPES[self.type].scales is not None:
            if not scales_finite(np.ascontiguousarray(rows).reshape(-1), self.type):
                raise self._corrupt("scales")
        else:
            for r0 in range(0, rows.shape[0], ROWS_PER_CHUNK):
                if not np.isfinite(self._decode(rows[r0:r0 + ROWS_PER_CHUNK])).all():
                    raise self._corrupt("values")
        self.checked = raw is None

    def _decode(self, raw: np.ndarray) -> np.ndarray:
        n = raw.shape[0]
        return dequantize(np.ascontiguousarray(raw).reshape(-1), self.type, (n, self.n_cols))  # [n, n_cols]

    def _use(self, rows: int = 0) -> None:
        """Count a whole use; past copy_after, make the float32 copy. A product of `rows` rows that
        computes every block's scales (products.checks_scales) checks them there, not here."""
        if not (self.copy is None and products.checks_scales(rows, self.type)):
            self._check()
        self.uses += 1
        if self.copy is None and self.copy_after is not None and self.uses > self.copy_after:
            self.copy = self.as_array()

    def stored_rows(self, r0: int, r1: int) -> np.ndarray:
        """Stored rows r0..r1 as float32 [r1 - r0, n_cols]."""
        if self.copy is not None:
            return self.copy[:, r0:r1].T if self.transposed else self.copy[r0:r1]
        self._check()
        return self._decode(self.raw[r0:r1])

    def as_array(self) -> np.ndarray:
        """The whole parameter in float32 (kept, where the budget allows a copy): [in, out] for a
        linear matrix, made a few hundred rows at a time."""
        if self.copy is not None:
            return self.copy
        self._check()
        n_rows = self.raw.shape[0]
        if not self.transposed:
            dest = self._decode(self.raw)  # [rows, cols]
        else:
            dest = np.empty(self.shape, dtype=np.float32)  # [in, out]
            for c0 in range(0, n_rows, ROWS_PER_CHUNK):
                c1 = min(n_rows, c0 + ROWS_PER_CHUNK)
                dest[:, c0:c1] = self._decode(self.raw[c0:c1]).T
        if self.copy_after is not None:
            self.copy = dest
        return dest

    def _compiled(self) -> bool:
        """Whether products may take numba's kernels: see the module's docstring."""
        return self.uses > self.compiled_after or products.compiled_loaded()

    # ---- what the forward pass asks of a weight (see weights.py) ------------------------------------

    def _product(self, x: np.ndarray) -> np.ndarray:
        """x [T, n_cols] @ the stored rows' transpose, from the blocks: [T, stored rows]."""
        check = not self.checked and products.checks_scales(x.shape[0], self.type)
        try:
            y = products.matmul(x, self.raw, self.type, self.n_cols, products.pool(), self._compiled(), check)
        except products.NonFiniteScales:
            raise self._corrupt("scales") from None
        self.checked = True  # every row's scales were used (and, if not checked before, checked)
        return y  # [T, stored rows]

    def matmul(self, x: np.ndarray) -> np.ndarray:
        """x [T, in] @ the linear matrix [in, out]: from the blocks, or the float32 copy once there is one."""
        self._use(x.shape[0])
        if self.copy is not None:
            return x @ self.copy  # [T, in] @ [in, out]
        return self._product(x)  # [T, out]

    def unembed(self, h: np.ndarray) -> np.ndarray:
        """h [T, d] @ the vocabulary's [d, V] (this is W_E [V, d], or W_U [d, V]): [T, V]."""
        self._use(h.shape[0])
        if self.copy is not None:
            return unembed_chunked(h, self.copy, self.transposed)  # [T, V]
        return self._product(h)  # [T, V]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows `ids` of an embedding ([vocab, d] as stored): only those are checked and dequantized."""
        ids = np.asarray(ids)
        if self.copy is not None:
            return self.copy[ids]
        raw = self.raw[ids.reshape(-1)]  # [n, row bytes]
        self._check(raw)
        return self._decode(raw).reshape(*ids.shape, self.n_cols)  # [..., d]

    def vocab_rows(self, r0: int, r1: int) -> np.ndarray:
        """Vocabulary entries r0..r1 as [r1 - r0, d]: stored rows, whether the parameter is W_E or W_U."""
        return self.stored_rows(r0, r1)

    # ---- for code that wants the whole array (tests); analyses read through attncli.readout ----------

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """np.asarray(q): the float32 parameter."""
        a = self.as_array()
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        return f"Quantized({self.name}, shape={self.shape}, {self.nbytes_quantized} bytes)"


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
