"""Compiled kernels for a few tokens' product with quantized blocks, with numba (the optional `fast`
extra: pip install 'attncli[fast]'). products.py uses them for inputs of up to COMPILED_ROWS rows (a
prompt, a generated token, the unembedding) when numba imports, and its numpy kernels otherwise.

Each output row of W is decoded once into a row of float32 values, w = a * u + c (u the block's
integers, a and c its float scales: gguf-py's values, or, where LLVM fuses the multiply and the add,
within one rounding of them), which stays in L1 while every row of x is multiplied by it. The float
scales (a = d * scale; c = m, or -dmin * min) are computed by numpy beforehand, the integers here.
`reassoc` lets LLVM vectorize the sums (their order is free within products.py's bound); nothing
else of IEEE arithmetic is relaxed. Each type is its own function with its offsets written out:
passed as arguments they make a kernel 3x slower.

The first use of a kernel compiles it (about a second), cached on disk after that (numba's cache:
beside this file, else ~/.cache, or NUMBA_CACHE_DIR).
"""

from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, boundscheck=False, fastmath={"reassoc", "contract"})
F = np.float32


# rows: uint8 [R, row bytes]; a, c: float32 [R, scales a row]; x: float32 [T, in]; y: float32 [T, R], written


@jit
def _dots(w, x, y, r):
    """y[:, r] = x @ w, w float32 [in] (one decoded row of W)."""
    for t in range(x.shape[0]):
        xt, acc = x[t], F(0.0)
        for k in range(w.shape[0]):
            acc += xt[k] * w[k]
        y[t, r] = acc


@jit
def q8_0(rows, a, x, y):  # d (f16), q[32] (int8): w = d * q; rows given as int8
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 34):
            d = a[r, b]
            for i in range(32):
                w[32 * b + i] = d * F(row[34 * b + 2 + i])
        _dots(w, x, y, r)


@jit
def q4_0(rows, a, x, y):  # d, qs[16]: w = d * (q - 8); value i the low nibble of byte i, 16 + i the high one
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 18):
            d = a[r, b]
            for i in range(16):
                q = np.int32(row[18 * b + 2 + i])
                w[32 * b + i] = d * F((q & 15) - 8)
                w[32 * b + 16 + i] = d * F((q >> 4) - 8)
        _dots(w, x, y, r)


@jit
def q4_1(rows, a, c, x, y):  # d, m, qs[16]: w = d * q + m
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 20):
            d, m = a[r, b], c[r, b]
            for i in range(16):
                q = np.int32(row[20 * b + 4 + i])
                w[32 * b + i] = d * F(q & 15) + m
                w[32 * b + 16 + i] = d * F(q >> 4) + m
        _dots(w, x, y, r)


@jit
def q5_0(rows, a, x, y):  # d, qh[4] (bit i of the little-endian u32: value i's fifth bit), qs[16]: w = d * (q - 16)
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 22):
            o, d = 22 * b, a[r, b]
            qh = np.uint32(row[o + 2]) | (np.uint32(row[o + 3]) << 8) | (np.uint32(row[o + 4]) << 16) \
                | (np.uint32(row[o + 5]) << 24)
            for i in range(16):
                q = np.uint32(row[o + 6 + i])
                w[32 * b + i] = d * F(np.int32((q & 15) | (((qh >> i) & 1) << 4)) - 16)
                w[32 * b + 16 + i] = d * F(np.int32((q >> 4) | (((qh >> (i + 16)) & 1) << 4)) - 16)
        _dots(w, x, y, r)


@jit
def q5_1(rows, a, c, x, y):  # d, m, qh[4], qs[16]: w = d * q + m
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 24):
            o, d, m = 24 * b, a[r, b], c[r, b]
            qh = np.uint32(row[o + 4]) | (np.uint32(row[o + 5]) << 8) | (np.uint32(row[o + 6]) << 16) \
                | (np.uint32(row[o + 7]) << 24)
            for i in range(16):
                q = np.uint32(row[o + 8 + i])
                w[32 * b + i] = d * F(np.int32((q & 15) | (((qh >> i) & 1) << 4))) + m
                w[32 * b + 16 + i] = d * F(np.int32((q >> 4) | (((qh >> (i + 16)) & 1) << 4))) + m
        _dots(w, x, y, r)


@jit
def q4_k(rows, a, c, x, y):  # d, dmin, scales[12], qs[128]; a, c per 32 values: w = a * q + c
    """Sub-blocks 2j, 2j + 1: the low, high nibbles of qs bytes 32j..32j+31."""
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 144):
            for j in range(4):
                g, o, v = 8 * b + 2 * j, 144 * b + 16 + 32 * j, 256 * b + 64 * j
                a0, c0, a1, c1 = a[r, g], c[r, g], a[r, g + 1], c[r, g + 1]
                for i in range(32):
                    q = np.int32(row[o + i])
                    w[v + i] = a0 * F(q & 15) + c0
                    w[v + 32 + i] = a1 * F(q >> 4) + c1
        _dots(w, x, y, r)


@jit
def q5_k(rows, a, c, x, y):  # d, dmin, scales[12], qh[32], qs[128]
    """As Q4_K, with bits 2j, 2j + 1 of qh byte i the fifth bits of value i of sub-blocks 2j, 2j + 1."""
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 176):
            for j in range(4):
                g, o, v = 8 * b + 2 * j, 176 * b + 48 + 32 * j, 256 * b + 64 * j
                a0, c0, a1, c1 = a[r, g], c[r, g], a[r, g + 1], c[r, g + 1]
                for i in range(32):
                    q = np.int32(row[o + i])
                    h = np.int32(row[176 * b + 16 + i])
                    w[v + i] = a0 * F((q & 15) | (((h >> (2 * j)) & 1) << 4)) + c0
                    w[v + 32 + i] = a1 * F((q >> 4) | (((h >> (2 * j + 1)) & 1) << 4)) + c1
        _dots(w, x, y, r)


@jit
def q6_k(rows, a, x, y):  # ql[128], qh[64], scales[16], d; a per 16 values: w = a * (q - 32)
    """Half h of 128 values, j < 32: ql bytes 64h + j and 64h + 32 + j and qh byte 128 + 32h + j give
    values 128h + j, + 32, + 64, + 96 (low nibbles, then high ones; qh's bits 0-1, 2-3, 4-5, 6-7 on
    top). Sub-block (16 values) of value v: v // 16."""
    w = np.empty(x.shape[1], dtype=F)
    for r in range(rows.shape[0]):
        row = rows[r]
        for b in range(rows.shape[1] // 210):
            o, v = 210 * b, 256 * b
            for h in range(2):
                for m in range(2):
                    g = 16 * b + 8 * h + m
                    a0, a1, a2, a3 = a[r, g], a[r, g + 2], a[r, g + 4], a[r, g + 6]
                    for i in range(16):
                        j = 16 * m + i
                        q0 = np.int32(row[o + 64 * h + j])
                        q1 = np.int32(row[o + 64 * h + 32 + j])
                        qh = np.int32(row[o + 128 + 32 * h + j])
                        u = v + 128 * h + j
                        w[u] = a0 * F(((q0 & 15) | ((qh & 3) << 4)) - 32)
                        w[u + 32] = a1 * F(((q1 & 15) | (((qh >> 2) & 3) << 4)) - 32)
                        w[u + 64] = a2 * F(((q0 >> 4) | (((qh >> 4) & 3) << 4)) - 32)
                        w[u + 96] = a3 * F(((q1 >> 4) | (((qh >> 6) & 3) << 4)) - 32)
        _dots(w, x, y, r)
