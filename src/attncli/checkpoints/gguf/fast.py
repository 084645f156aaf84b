"""Compiled kernels for one token's product with quantized blocks, with numba (the optional `fast`
extra: pip install 'attncli[fast]'). products.py uses them for a single row of x (a generated
token, the last position's unembedding) when numba imports, and its numpy kernels otherwise; both
compute sum_k x_k (a_k u_k + c_k) within the same float32 bound.

One pass over a row's bytes: each value is decoded and multiplied by x where it is read, so no
float32 copy of anything exists. The float scales (a = d * scale; c = m, or -dmin * min) are
computed by numpy beforehand, the integers here. `reassoc` lets LLVM vectorize the sums (their
order is free within the bound); nothing else of IEEE arithmetic is relaxed. Each type is its own
function with its offsets written out: passed as arguments they make a kernel 3x slower.

The first use of a kernel compiles it (about a second), cached on disk after that (numba's cache:
beside this file, else ~/.cache, or NUMBA_CACHE_DIR).
"""

from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, boundscheck=False, fastmath={"reassoc", "contract"})
F = np.float32


# rows: uint8 [R, row bytes]; a, c: float32 [R, scales a row]; xsum: float32 [sub-blocks] (x's sum
# over each sub-block); x: float32 [in]; y: float32 [R], written


@jit
def q8_0(rows, a, x, y):  # d (f16), q[32] (int8)
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 34):
            s = F(0.0)
            for i in range(32):
                q = np.int32(row[34 * b + 2 + i])
                s += x[32 * b + i] * F(q - ((q >> 7) << 8))  # the byte as int8
            acc += a[r, b] * s
        y[r] = acc


@jit
def q4_0(rows, a, x, y):  # d, qs[16]: x = d * (q - 8)
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 18):
            s = F(0.0)
            for i in range(16):
                q = np.int32(row[18 * b + 2 + i])
                s += x[32 * b + i] * F((q & 15) - 8) + x[32 * b + 16 + i] * F((q >> 4) - 8)
            acc += a[r, b] * s
        y[r] = acc


@jit
def q4_1(rows, a, c, xsum, x, y):  # d, m, qs[16]: x = d * q + m
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 20):
            s = F(0.0)
            for i in range(16):
                q = np.int32(row[20 * b + 4 + i])
                s += x[32 * b + i] * F(q & 15) + x[32 * b + 16 + i] * F(q >> 4)
            acc += a[r, b] * s + c[r, b] * xsum[b]
        y[r] = acc


@jit
def q5_0(rows, a, x, y):  # d, qh[4] (bit i: value i's fifth bit), qs[16]: x = d * (q - 16)
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 22):
            o = 22 * b
            qh = np.uint32(row[o + 2]) | (np.uint32(row[o + 3]) << 8) | (np.uint32(row[o + 4]) << 16) \
                | (np.uint32(row[o + 5]) << 24)
            s = F(0.0)
            for i in range(16):
                q = np.uint32(row[o + 6 + i])
                lo = np.int32((q & 15) | (((qh >> i) & 1) << 4)) - 16
                hi = np.int32((q >> 4) | (((qh >> (i + 16)) & 1) << 4)) - 16
                s += x[32 * b + i] * F(lo) + x[32 * b + 16 + i] * F(hi)
            acc += a[r, b] * s
        y[r] = acc


@jit
def q5_1(rows, a, c, xsum, x, y):  # d, m, qh[4], qs[16]: x = d * q + m
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 24):
            o = 24 * b
            qh = np.uint32(row[o + 4]) | (np.uint32(row[o + 5]) << 8) | (np.uint32(row[o + 6]) << 16) \
                | (np.uint32(row[o + 7]) << 24)
            s = F(0.0)
            for i in range(16):
                q = np.uint32(row[o + 8 + i])
                lo = np.int32((q & 15) | (((qh >> i) & 1) << 4))
                hi = np.int32((q >> 4) | (((qh >> (i + 16)) & 1) << 4))
                s += x[32 * b + i] * F(lo) + x[32 * b + 16 + i] * F(hi)
            acc += a[r, b] * s + c[r, b] * xsum[b]
        y[r] = acc


@jit
def q4_k(rows, a, c, xsum, x, y):  # d, dmin, scales[12], qs[128]; a, c per 32 values
    """Sub-blocks 2j, 2j + 1: the low, high nibbles of qs bytes 32j..32j+31."""
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 144):
            for j in range(4):
                lo, hi = F(0.0), F(0.0)
                for i in range(32):
                    q = np.int32(row[144 * b + 16 + 32 * j + i])
                    lo += x[256 * b + 64 * j + i] * F(q & 15)
                    hi += x[256 * b + 64 * j + 32 + i] * F(q >> 4)
                g = 8 * b + 2 * j
                acc += a[r, g] * lo + a[r, g + 1] * hi + c[r, g] * xsum[g] + c[r, g + 1] * xsum[g + 1]
        y[r] = acc


@jit
def q5_k(rows, a, c, xsum, x, y):  # d, dmin, scales[12], qh[32], qs[128]
    """As Q4_K, with bits 2j, 2j + 1 of qh byte i the fifth bits of value i of sub-blocks 2j, 2j + 1."""
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 176):
            for j in range(4):
                lo, hi = F(0.0), F(0.0)
                for i in range(32):
                    q = np.int32(row[176 * b + 48 + 32 * j + i])
                    h = np.int32(row[176 * b + 16 + i])
                    lo += x[256 * b + 64 * j + i] * F((q & 15) | (((h >> (2 * j)) & 1) << 4))
                    hi += x[256 * b + 64 * j + 32 + i] * F((q >> 4) | (((h >> (2 * j + 1)) & 1) << 4))
                g = 8 * b + 2 * j
                acc += a[r, g] * lo + a[r, g + 1] * hi + c[r, g] * xsum[g] + c[r, g + 1] * xsum[g + 1]
        y[r] = acc


@jit
def q6_k(rows, a, x, y):  # ql[128], qh[64], scales[16], d; a per 16 values
    """Half h of 128 values, j < 32: ql bytes 64h + j and 64h + 32 + j and qh byte 128 + 32h + j give
    values 128h + j, + 32, + 64, + 96 (low nibbles, then high ones; qh's bits 0-1, 2-3, 4-5, 6-7 on
    top); minus 32. Sub-block (16 values) of value v: v // 16."""
    for r in range(rows.shape[0]):
        row, acc = rows[r], F(0.0)
        for b in range(rows.shape[1] // 210):
            o, v = 210 * b, 256 * b
            for h in range(2):
                for m in range(2):
                    s0, s1, s2, s3 = F(0.0), F(0.0), F(0.0), F(0.0)
                    for i in range(16):
                        j = 16 * m + i
                        q0 = np.int32(row[o + 64 * h + j])
                        q1 = np.int32(row[o + 64 * h + 32 + j])
                        qh = np.int32(row[o + 128 + 32 * h + j])
                        w = v + 128 * h + j
                        s0 += x[w] * F(((q0 & 15) | ((qh & 3) << 4)) - 32)
                        s1 += x[w + 32] * F(((q1 & 15) | (((qh >> 2) & 3) << 4)) - 32)
                        s2 += x[w + 64] * F(((q0 >> 4) | (((qh >> 4) & 3) << 4)) - 32)
                        s3 += x[w + 96] * F(((q1 >> 4) | (((qh >> 6) & 3) << 4)) - 32)
                    g = 16 * b + 8 * h + m
                    acc += a[r, g] * s0 + a[r, g + 2] * s1 + a[r, g + 4] * s2 + a[r, g + 6] * s3
        y[r] = acc
