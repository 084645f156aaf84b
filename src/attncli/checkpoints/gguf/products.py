"""x @ W from a GGUF matrix's quantized blocks, without its float32 copy, a tile of output rows at a
time (a few hundred KB, in cache, reused), on threads of our own when the matrix is big. Three kinds:

- tiles (many tokens): a tile is dequantized into a float32 [in, rows] buffer and multiplied. Its
  bytes are first transposed ([rows, bytes] -> [bytes, rows]) so that every field of every block is
  a run of `rows` bytes and each numpy operation loops over a whole tile row (quants.py's row-major
  kernels loop over 16 or 32 values at a time). The values are gguf-py's, bit for bit.
- factored (up to FACTORED_ROWS tokens): with w = a * u + c on each sub-block (u the integers, a
  and c float scales), x @ w = sum_g a_g (x_g . u_g) + c_g sum(x_g); the integers are converted and
  multiplied as stored, and the scales touch only the sub-blocks' sums.
- compiled (up to COMPILED_ROWS tokens, numba installed: fast.py): each row of W decoded once into
  float32 values in L1 and multiplied by every row of x.

Each is within float32 rounding of dequantize-then-multiply: at most n + 3 roundings stand between a
term and the result, so |ours - exact| <= g(n + 3) sum_k |x_k| (|a_k u_k| + |c_k|), g(m) = m u / (1 - m u),
u = 2**-24 (tests/reference/test_quantized_products.py states the bound it checks against gguf-py). Types
without kernels here (plain floats, the IQ and ternary types) dequantize a tile of rows with quants.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from ... import threads
from ...errors import ModelError
from .quants import QUANT_TYPES, dequantize
from .quants import _k_scales as _k_scales_natural

BY_NAME = {qt.name: qt for qt in QUANT_TYPES.values()}

TILE_VALUES = 1 << 18  # weights a tile holds: 1 MB as float32, about L2 here (measured best of 2**16..2**19)
MIN_TILE_ROWS = 32  # fewer output rows per tile makes numpy's loops too short to pay for themselves
COMPILED_TILE_VALUES = 1 << 20  # weights a compiled kernel's call takes: a call costs ~10 us in Python
COMPILED_ROWS = 16  # inputs of at most this many rows take fast.py's kernels where numba is installed (measured:
# benchmarks/quantized_matmul.py: numba's are 2-5x numpy's up to 16 rows, even at 24-32, behind at 64)
PARALLEL_VALUES = 1 << 20  # below this many weights a matrix is one thread's work: a hand-off costs more

U8, I8, F32 = np.uint8, np.int8, np.float32
TileKernel = Callable[[np.ndarray, np.ndarray], None]  # (uint8 [nb, type_size, R], float32 out [nb, block, R])


_local = threading.local()


def _scratch(key: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A thread's reusable buffer of this shape: tiles' temporaries are too big for numpy's cache of
    small blocks, and fresh memory for each would page-fault again every time."""
    bufs = _local.__dict__.setdefault("bufs", {})
    got = bufs.get((key, shape, dtype))
    if got is None:
        if len(bufs) > 64:  # shapes come from a few matrices; a stream of new ones starts afresh
            bufs.clear()
        got = bufs[(key, shape, dtype)] = np.empty(shape, dtype=dtype)
    return got


# ---- fields of transposed blocks: bt is uint8 [blocks, byte in block, row of the tile] ------------

def _half(bt: np.ndarray, at: int) -> np.ndarray:
    """The float16 at byte `at` of every block of every row, as float32 [nb, R]."""
    bits = bt[:, at + 1, :].astype(np.uint16)  # [nb, R]: the high byte, then the low one below it
    np.left_shift(bits, np.uint16(8), out=bits)
    np.bitwise_or(bits, bt[:, at, :], out=bits)
    return bits.view("<f2").astype(F32)  # [nb, R]


def _nibbles(src: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Low and high nibbles of src [nb, m, R] into lo, hi (uint8 views of the same shape)."""
    np.bitwise_and(src, U8(15), out=lo)
    np.right_shift(src, U8(4), out=hi)


def _crumbs(src: np.ndarray, out: np.ndarray) -> None:
    """The 2-bit fields of src [nb, m, R] at shifts 0, 2, 4, 6 into out [nb, 4, m, R]."""
    for i in range(4):
        np.right_shift(src, U8(2 * i), out=out[:, i])
    np.bitwise_and(out, U8(3), out=out)


def _bits(src: np.ndarray, out: np.ndarray, value: int) -> None:
    """Bit j of src [nb, m, R] times `value` into out [nb, 8, m, R] (j = 0..7)."""
    for j in range(8):
        np.right_shift(src, U8(j), out=out[:, j])
    np.bitwise_and(out, U8(1), out=out)
    np.multiply(out, U8(value), out=out)  # a uint8 multiply: numpy's uint8 left shift has no SIMD loop


def _scaled(q: np.ndarray, scale: np.ndarray, out: np.ndarray, sub: int) -> None:
    """out = float32(q) * scale, scale [nb, n_sub, R] for sub-blocks of `sub` values: one rounding, as gguf-py."""
    nb, n, r = scale.shape
    np.multiply(q.reshape(nb, n, sub, r), scale[:, :, None, :], out=out.reshape(nb, n, sub, r))


def _offset(out: np.ndarray, m: np.ndarray, sub: int, subtract: bool) -> None:
    """out += m (or -= m), m [nb, n_sub, R] for sub-blocks of `sub` values."""
    nb, n, r = m.shape
    view = out.reshape(nb, n, sub, r)
    (np.subtract if subtract else np.add)(view, m[:, :, None, :], out=view)


def _centred(q: np.ndarray, zero: int) -> np.ndarray:
    """uint8 q -> int8 q - zero, in place."""
    qi = q.view(I8)
    np.subtract(qi, I8(zero), out=qi)
    return qi


# ---- 32-value blocks ------------------------------------------------------------------------------

def _q8_0(bt: np.ndarray, out: np.ndarray) -> None:
    """d (f16), q[32] (int8): x = q * d."""
    _scaled(bt[:, 2:34].view(I8), _half(bt, 0)[:, None, :], out, 32)


def _q4(src: np.ndarray) -> np.ndarray:
    """qs[16] -> q uint8 [nb, 32, R]: value i is byte i's low nibble, value 16 + i its high one."""
    q = _scratch("tq", (src.shape[0], 32, src.shape[2]), U8)  # [nb, 32, R]
    _nibbles(src, q[:, :16], q[:, 16:])
    return q


def _q5(qh: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """qh[4] (bit i of the little-endian u32: value i's fifth bit), qs[16] -> q uint8 [nb, 32, R]."""
    q = _q4(qs)  # [nb, 32, R]
    high = _scratch("thigh", (qh.shape[0], 8, 4, qh.shape[2]), U8)  # [nb, bit, byte, R]: value 8 * byte + bit
    _bits(qh, high, 16)
    np.bitwise_or(q.reshape(q.shape[0], 4, 8, -1), high.transpose(0, 2, 1, 3), out=q.reshape(q.shape[0], 4, 8, -1))
    return q


def _q4_0(bt: np.ndarray, out: np.ndarray) -> None:
    """d, qs[16]: x = d * (q - 8)."""
    _scaled(_centred(_q4(bt[:, 2:18]), 8), _half(bt, 0)[:, None, :], out, 32)


def _q4_1(bt: np.ndarray, out: np.ndarray) -> None:
    """d, m, qs[16]: x = d * q + m."""
    _scaled(_q4(bt[:, 4:20]), _half(bt, 0)[:, None, :], out, 32)
    _offset(out, _half(bt, 2)[:, None, :], 32, subtract=False)


def _q5_0(bt: np.ndarray, out: np.ndarray) -> None:
    """d, qh[4], qs[16]: x = d * (q - 16)."""
    _scaled(_centred(_q5(bt[:, 2:6], bt[:, 6:22]), 16), _half(bt, 0)[:, None, :], out, 32)


def _q5_1(bt: np.ndarray, out: np.ndarray) -> None:
    """d, m, qh[4], qs[16]: x = d * q + m."""
    _scaled(_q5(bt[:, 4:8], bt[:, 8:24]), _half(bt, 0)[:, None, :], out, 32)
    _offset(out, _half(bt, 2)[:, None, :], 32, subtract=False)


# ---- K-quants: 256-value super-blocks -------------------------------------------------------------

def _q2_k(bt: np.ndarray, out: np.ndarray) -> None:
    """scales[16] (low nibble scale, high nibble min), qs[64], d, dmin: x = (d * scale) * q - dmin * min."""
    nb, _, r = bt.shape
    sc = np.empty((nb, 2, 16, r), dtype=U8)  # [nb, scale/min, sub-block, R]
    _nibbles(bt[:, 0:16], sc[:, 0], sc[:, 1])
    dl = _half(bt, 80)[:, None, :] * sc[:, 0].astype(F32)  # [nb, 16, R]
    ml = _half(bt, 82)[:, None, :] * sc[:, 1].astype(F32)  # [nb, 16, R]
    q = _scratch("tq", (nb, 2, 4, 32, r), U8)  # [nb, half, shift, 32, R]: value 128 * half + 32 * shift + l
    for h in range(2):
        _crumbs(bt[:, 16 + 32 * h:48 + 32 * h], q[:, h])
    _scaled(q, dl, out, 16)
    _offset(out, ml, 16, subtract=True)


def _q3_k(bt: np.ndarray, out: np.ndarray) -> None:
    """hmask[32], qs[64], scales[12] (6-bit), d: x = (d * (scale - 32)) * q, q = the 2-bit field,
    minus 4 where the hmask bit is clear."""
    nb, _, r = bt.shape
    q = _scratch("tq", (nb, 2, 4, 32, r), U8)  # [nb, half, shift, 32, R]
    for h in range(2):
        _crumbs(bt[:, 32 + 32 * h:64 + 32 * h], q[:, h])
    high = _scratch("thigh", (nb, 8, 32, r), U8)  # [nb, j, 32, R]: bit j of hmask byte l, value 32 * j + l
    _bits(bt[:, 0:32], high, 4)
    qv = q.reshape(nb, 8, 32, r)
    np.bitwise_or(qv, high, out=qv)  # q + 4 * bit: 0..7
    low = np.empty((nb, 2, 8, r), dtype=U8)  # scale s < 16: low 4 bits from byte s % 8, nibble s // 8
    _nibbles(bt[:, 96:104], low[:, 0], low[:, 1])
    top = np.empty((nb, 4, 4, r), dtype=U8)  # high 2 bits from byte 8 + s % 4, shift 2 * (s // 4)
    _crumbs(bt[:, 104:108], top)
    np.multiply(top, U8(16), out=top)
    sc = np.bitwise_or(low.reshape(nb, 16, r), top.reshape(nb, 16, r))  # [nb, 16, R]
    dl = _half(bt, 108)[:, None, :] * _centred(sc, 32).astype(F32)  # [nb, 16, R]
    _scaled(_centred(qv, 4), dl, out, 16)


def _k_scales(bt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K/Q5_K's d, dmin and 12 bytes of 6-bit scales and mins -> d * scale, dmin * min, float32 [nb, 8, R]."""
    s = bt[:, 4:16]  # [nb, 12, R]: bytes 0..3 scales 0..3, 4..7 mins 0..3, 8..11 the low nibbles of 4..7
    nb, _, r = s.shape
    sm = np.empty((nb, 2, 8, r), dtype=U8)  # [nb, scale/min, sub-block, R]
    np.bitwise_and(s[:, 0:8].reshape(nb, 2, 4, r), U8(63), out=sm[:, :, 0:4])
    _nibbles(s[:, 8:12], sm[:, 0, 4:8], sm[:, 1, 4:8])
    np.bitwise_or(sm[:, :, 4:8], (s[:, 0:8] >> U8(2)).reshape(nb, 2, 4, r) & U8(48), out=sm[:, :, 4:8])
    d = _half(bt, 0)[:, None, :] * sm[:, 0].astype(F32)  # [nb, 8, R]
    m = _half(bt, 2)[:, None, :] * sm[:, 1].astype(F32)  # [nb, 8, R]
    return d, m


def _q4_k(bt: np.ndarray, out: np.ndarray) -> None:
    """d, dmin, scales[12], qs[128]: sub-blocks 2j, 2j + 1 are the low, high nibbles of bytes 32j..32j+31."""
    nb, _, r = bt.shape
    q = _scratch("tq", (nb, 4, 2, 32, r), U8)  # [nb, j, nibble, 32, R]
    qs = bt[:, 16:144].reshape(nb, 4, 32, r)
    _nibbles(qs, q[:, :, 0], q[:, :, 1])
    d, m = _k_scales(bt)
    _scaled(q, d, out, 32)
    _offset(out, m, 32, subtract=True)


def _q5_k(bt: np.ndarray, out: np.ndarray) -> None:
    """d, dmin, scales[12], qh[32] (bit j of byte l: value 32j + l's fifth bit), qs[128]."""
    nb, _, r = bt.shape
    q = _scratch("tq", (nb, 4, 2, 32, r), U8)  # [nb, j, nibble, 32, R]
    _nibbles(bt[:, 48:176].reshape(nb, 4, 32, r), q[:, :, 0], q[:, :, 1])
    high = _scratch("thigh", (nb, 8, 32, r), U8)  # [nb, j, 32, R]
    _bits(bt[:, 16:48], high, 16)
    qv = q.reshape(nb, 8, 32, r)
    np.bitwise_or(qv, high, out=qv)
    d, m = _k_scales(bt)
    _scaled(qv, d, out, 32)
    _offset(out, m, 32, subtract=True)


def _q6_k(bt: np.ndarray, out: np.ndarray) -> None:
    """ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d: x = (d * scale) * (q - 32).

    Half h of 128 values: value 128h + 64 * nibble + l is ql byte 64h + l's nibble; value
    128h + 32s + l takes bits 2s, 2s + 1 of qh byte 32h + l."""
    nb, _, r = bt.shape
    q = _scratch("tq", (nb, 2, 2, 64, r), U8)  # [nb, half, nibble, 64, R]
    _nibbles(bt[:, 0:128].reshape(nb, 2, 64, r), q[:, :, 0], q[:, :, 1])
    high = _scratch("thigh", (nb, 2, 4, 32, r), U8)  # [nb, half, shift, 32, R]
    for h in range(2):
        _crumbs(bt[:, 128 + 32 * h:160 + 32 * h], high[:, h])
    np.multiply(high, U8(16), out=high)
    qv = q.reshape(nb, 8, 32, r)
    np.bitwise_or(qv, high.reshape(nb, 8, 32, r), out=qv)
    d = _half(bt, 208)[:, None, :] * bt[:, 192:208].view(I8).astype(F32)  # [nb, 16, R]
    _scaled(_centred(qv, 32), d, out, 16)


TILE_KERNELS: dict[str, TileKernel] = {
    "Q4_0": _q4_0, "Q4_1": _q4_1, "Q5_0": _q5_0, "Q5_1": _q5_1, "Q8_0": _q8_0,
    "Q2_K": _q2_k, "Q3_K": _q3_k, "Q4_K": _q4_k, "Q5_K": _q5_k, "Q6_K": _q6_k,
}


# ---- few tokens: the integers times x, the scales applied to each sub-block's sum ------------------
#
# With w = a * u + c on each sub-block of L values (u the block's integers, a and c its float
# scales), x @ w = sum_g a_g (sum_l x_l u_l) + c_g (sum_l x_l). The integers convert to float32 in
# one pass over the tile's blocks as stored (no transpose), the L-value sums are one batched
# matrix product, and the scales multiply only those sums. A Fill writes the integers of natural
# blocks uint8 [n, type_size] into float32 [n, block] and gives (a, c) [n, sub-blocks] (c None
# where it is 0). Nibbles are split over whole blocks (long loops), then gathered once.

Fill = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]


def _d(b: np.ndarray, at: int) -> np.ndarray:
    return b[:, at:at + 2].view("<f2").astype(F32)  # [n, 1]


def _split_whole(b: np.ndarray) -> np.ndarray:
    """Low and high nibbles of every byte of the blocks b [n, size]: uint8 [2, n, size]."""
    t = _scratch("nibbles", (2, *b.shape), U8)
    _nibbles(b, t[0], t[1])
    return t


def _fill_q8_0(b: np.ndarray, uf: np.ndarray) -> tuple[np.ndarray, None]:
    np.copyto(uf, b[:, 2:34].view(I8))
    return _d(b, 0), None


def _fill_q4(b: np.ndarray, uf: np.ndarray, at: int, zero: int) -> None:
    """qs[16] at byte `at`: value i the low nibble of byte i, 16 + i its high one; minus `zero`."""
    t = _split_whole(b)  # [2, n, size]
    qs = t[:, :, at:at + 16].transpose(1, 0, 2)  # [n, 2, 16]
    np.copyto(uf.reshape(-1, 2, 16), _centred(qs, zero) if zero else qs)


def _fill_q5(b: np.ndarray, uf: np.ndarray, at: int, zero: int) -> None:
    """qh[4] at `at` (bit i of the little-endian u32: value i's fifth bit), qs[16] after it."""
    t = _split_whole(b)  # [2, n, size]
    high = np.unpackbits(b[:, at:at + 4], axis=1, bitorder="little")  # [n, 32]
    np.multiply(high, U8(16), out=high)
    q = _scratch("q", (b.shape[0], 2, 16), U8)  # [n, 2, 16]
    np.bitwise_or(t[:, :, at + 4:at + 20].transpose(1, 0, 2), high.reshape(-1, 2, 16), out=q)
    np.copyto(uf.reshape(-1, 2, 16), _centred(q, zero) if zero else q)


def _fill_32(b: np.ndarray, uf: np.ndarray, ints: Callable[..., None], zero: int,
             offset: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Q4_0, Q4_1, Q5_0, Q5_1: d (and m: `offset`) first, then the integers `ints` reads."""
    ints(b, uf, 4 if offset else 2, zero)
    return _d(b, 0), _d(b, 2) if offset else None


def _k_nibbles(b: np.ndarray, at: int) -> np.ndarray:
    """Q4_K/Q5_K's qs[128] at `at` -> a view [n, 4, 2, 32]: sub-blocks 2j, 2j + 1 the low, high
    nibbles of bytes 32j..32j+31."""
    t = _split_whole(b)  # [2, n, size]
    return t[:, :, at:at + 128].reshape(2, -1, 4, 32).transpose(1, 2, 0, 3)  # [n, j, nibble, 32]


def _fill_q4_k(b: np.ndarray, uf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    np.copyto(uf.reshape(-1, 4, 2, 32), _k_nibbles(b, 16))
    d, m = _k_scales_natural(b)
    return d, np.negative(m)


def _fill_q5_k(b: np.ndarray, uf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = b.shape[0]
    high = np.unpackbits(b[:, 16:48], axis=1, bitorder="little")  # [n, 256]: bit j of byte l at 8l + j
    np.multiply(high, U8(16), out=high)
    q = _scratch("q", (n, 4, 2, 32), U8)  # [n, j, nibble, 32]: value 64j + 32 nibble + l, its bit 2j + nibble of byte l
    np.bitwise_or(_k_nibbles(b, 48), high.reshape(n, 32, 4, 2).transpose(0, 2, 3, 1), out=q)
    np.copyto(uf.reshape(n, 4, 2, 32), q)
    d, m = _k_scales_natural(b)
    return d, np.negative(m)


def _fill_q6_k(b: np.ndarray, uf: np.ndarray) -> tuple[np.ndarray, None]:
    """Value 128h + 64 nibble + 32k + l: ql byte 64h + 32k + l's nibble, and bits 2s, 2s + 1
    (s = 2 nibble + k) of qh byte 128 + 32h + l."""
    n = b.shape[0]
    low = _split_whole(b)[:, :, 0:128].reshape(2, n, 2, 2, 32)  # [nibble, n, h, k, l]
    high = _scratch("high", (4, n, 64), U8)  # [s, n, 32h + l]
    for s in range(4):
        np.right_shift(b[:, 128:192], U8(2 * s), out=high[s])
    np.bitwise_and(high, U8(3), out=high)
    np.multiply(high, U8(16), out=high)
    q = _scratch("q", (n, 2, 2, 2, 32), U8)  # [n, h, nibble, k, l]
    np.bitwise_or(low.transpose(1, 2, 0, 3, 4), high.reshape(2, 2, n, 2, 32).transpose(2, 3, 0, 1, 4), out=q)
    np.copyto(uf, _centred(q, 32).reshape(n, 256))
    return _d(b, 208) * b[:, 192:208].view(I8).astype(F32), None  # [n, 16]


FILLS: dict[str, tuple[Fill, int]] = {  # the fill, and the values a scale covers
    "Q4_0": (partial(_fill_32, ints=_fill_q4, zero=8, offset=False), 32),
    "Q4_1": (partial(_fill_32, ints=_fill_q4, zero=0, offset=True), 32),
    "Q5_0": (partial(_fill_32, ints=_fill_q5, zero=16, offset=False), 32),
    "Q5_1": (partial(_fill_32, ints=_fill_q5, zero=0, offset=True), 32),
    "Q8_0": (_fill_q8_0, 32), "Q4_K": (_fill_q4_k, 32), "Q5_K": (_fill_q5_k, 32), "Q6_K": (_fill_q6_k, 16),
}
FACTORED_ROWS = 16  # inputs of at most this many rows take the factored path (measured: benchmarks/quantized_matmul.py)


class NonFiniteScales(ValueError):
    """A block's float scale is NaN or infinite (raised by a product asked to check them)."""


def checks_scales(n_rows: int, type_id: int) -> bool:
    """Whether a product of x with this many rows computes every block's float scales of this
    type (the factored and compiled kinds), and so can check them as it goes (matmul's `check`)."""
    return 0 < n_rows <= FACTORED_ROWS and QUANT_TYPES[type_id].name in FILLS  # FAST_TYPES are FILLS' types


def _finite(check: bool, *scales: np.ndarray | None) -> None:
    """A block's scale that is not finite makes every one of its terms NaN or infinite: refuse it."""
    if check and not all(s is None or np.isfinite(s).all() for s in scales):
        raise NonFiniteScales("NaN or infinite scales")


def _factored(xg: np.ndarray, xsum: np.ndarray, rows: np.ndarray, type_id: int, n_in: int,
              check: bool = False) -> np.ndarray:
    """x @ W for stored rows [R, row bytes] of a type in FILLS, x given as its sub-blocks
    xg [G, L, T] and their sums xsum [T, G]: [T, R]. `check`: the scales are finite, or NonFiniteScales."""
    qt = QUANT_TYPES[type_id]
    fill, sub = FILLS[qt.name]
    n_rows, n_sub = rows.shape[0], n_in // sub
    blocks = np.ascontiguousarray(rows).reshape(-1, qt.type_size)  # [R * nb, type_size]
    uf = _scratch("uf", (n_rows, n_in), F32)  # [R, in]: the integers
    with np.errstate(invalid="ignore"):  # an infinite scale times a zero one: NaN, refused just below
        a, c = fill(blocks, uf.reshape(-1, qt.block_size))
    _finite(check, a, c)
    z = np.matmul(uf.reshape(n_rows, n_sub, sub).transpose(1, 0, 2), xg)  # [G, R, L] @ [G, L, T] -> [G, R, T]
    np.multiply(z, a.reshape(n_rows, n_sub).T[:, :, None], out=z)
    y = z.sum(axis=0).T  # [T, R]
    if c is not None:
        y += xsum @ c.reshape(n_rows, n_sub).T  # [T, G] @ [G, R]
    return y


# ---- numba's compiled kernels (fast.py), when the `fast` extra is installed --------------------

FAST_TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K")
_fast_module: object | None = None  # fast.py once imported; False when numba is not there (or ATTN_KERNELS=numpy)


def compiled_kernels() -> object | None:
    """fast.py, or None: numba not installed, or ATTN_KERNELS=numpy."""
    global _fast_module
    if _fast_module is None:
        _fast_module = False
        if os.environ.get("ATTN_KERNELS", "").lower() != "numpy":
            try:
                from . import fast
            except ImportError:  # the `fast` extra is optional: the numpy kernels compute the same
                pass
            else:
                _fast_module = fast
    return _fast_module or None


def compiled_loaded() -> bool:
    """Whether fast.py is imported already (its kernels then cost nothing more to use)."""
    return bool(_fast_module)


def _compiled_tile(fast, x: np.ndarray, rows: np.ndarray, name: str, check: bool = False) -> np.ndarray:
    """x [T, in] @ W for stored rows [R, row bytes] through fast.py: [T, R]. The float scales come from
    numpy (`check`: they are finite, or NonFiniteScales)."""
    qt = BY_NAME[name]
    rows = np.ascontiguousarray(rows)  # [R, row bytes]
    n_rows = rows.shape[0]
    b = rows.reshape(-1, qt.type_size)  # [R * nb, type_size]
    y = np.empty((x.shape[0], n_rows), dtype=F32)  # [T, R]
    kernel = getattr(fast, name.lower())
    c = None
    with np.errstate(invalid="ignore"):  # an infinite scale times a zero one: NaN, refused just below
        if name in ("Q8_0", "Q4_0", "Q5_0"):
            a = _d(b, 0).reshape(n_rows, -1)
        elif name in ("Q4_1", "Q5_1"):
            a, c = _d(b, 0).reshape(n_rows, -1), _d(b, 2).reshape(n_rows, -1)
        elif name in ("Q4_K", "Q5_K"):
            d, m = _k_scales_natural(b)  # [R * nb, 8] each
            a, c = d.reshape(n_rows, -1), np.negative(m).reshape(n_rows, -1)
        else:  # Q6_K
            a = (_d(b, 208) * b[:, 192:208].view(I8).astype(F32)).reshape(n_rows, -1)
    _finite(check, a, c)
    if c is not None:
        kernel(rows, a, c, x, y)
    else:
        kernel(rows.view(I8) if name == "Q8_0" else rows, a, x, y)
    return y


# ---- the products ---------------------------------------------------------------------------------

def tile_rows(n_in: int) -> int:
    """Output rows per tile: about TILE_VALUES weights, a multiple of 16 (SIMD-friendly), at least MIN_TILE_ROWS."""
    return max(MIN_TILE_ROWS, TILE_VALUES // max(n_in, 1) // 16 * 16)


def dequantize_tile(rows: np.ndarray, type_id: int, n_in: int, reuse: bool = False) -> np.ndarray:
    """Stored rows uint8 [R, row bytes] of a [out, in] matrix -> float32 [n_in, R]: their values,
    transposed. `reuse`: into this thread's buffer, valid until its next call (matmul's tiles)."""
    qt = QUANT_TYPES[type_id]
    kernel = TILE_KERNELS.get(qt.name)
    n_rows = rows.shape[0]
    if kernel is None:  # no tile kernel: quants.py's row-major values, transposed
        values = dequantize(np.ascontiguousarray(rows).reshape(-1), type_id, (n_rows, n_in))  # [R, in]
        return np.ascontiguousarray(values.T)  # [in, R]
    nb = n_in // qt.block_size
    bt = _scratch("bt", (nb, qt.type_size, n_rows), U8)  # [nb, type_size, R]
    np.copyto(bt, rows.reshape(n_rows, nb, qt.type_size).transpose(1, 2, 0))
    out = _scratch("tile", (n_in, n_rows), F32) if reuse else np.empty((n_in, n_rows), dtype=F32)  # [in, R]
    kernel(bt, out.reshape(nb, qt.block_size, n_rows))
    return out


_pool: ThreadPoolExecutor | None = None


def scratch_bytes(largest: int) -> int:
    """About the most memory the tiles' buffers take, for matrices of at most `largest` values: each
    thread keeps ~14 bytes a tile's value (float32 values or integers, and the integer temporaries
    of both kinds of tile)."""
    return (os.cpu_count() or 1) * 14 * min(largest, TILE_VALUES)


def pool() -> ThreadPoolExecutor | None:
    """The threads products may run their tiles on (as many as cores; each product uses as many as
    threads.cores() says are free), or None on one core."""
    global _pool
    n = threads.env_threads("ATTN_THREADS") or threads.env_threads("OPENBLAS_NUM_THREADS") or os.cpu_count() or 1
    if n < 2:
        return None
    if _pool is None or _pool._max_workers != n:
        _pool = ThreadPoolExecutor(n, thread_name_prefix="attn-product")
    return _pool


def matmul(x: np.ndarray, rows: np.ndarray, type_id: int, n_in: int, pool: ThreadPoolExecutor | None = None,
           compiled: bool = True, check: bool = False) -> np.ndarray:
    """x [T, n_in] @ W [n_in, out], where W's out columns are the stored rows uint8 [out, row bytes]
    (a GGUF matrix as stored, or vocabulary rows): a tile of rows at a time, never the whole float32 W.

    `pool` (an executor) runs the tiles over its threads when the matrix is big enough to pay for it.
    `compiled`: up to COMPILED_ROWS rows may take fast.py's kernels (False: numpy's, which spares a
    process that multiplies by a small model once the ~0.4 s of importing numba; see inplace.py).
    `check` (where checks_scales says the product can): raise NonFiniteScales on a block whose float
    scales are not all finite, before any of their values is used.
    """
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ModelError(f"cannot multiply a {list(x.shape)} input by a matrix of {n_in} inputs")
    x = np.ascontiguousarray(x, dtype=F32)  # [T, in]
    n_out = rows.shape[0]
    y = np.empty((x.shape[0], n_out), dtype=F32)  # [T, out]

    name = QUANT_TYPES[type_id].name
    factored = x.shape[0] <= FACTORED_ROWS and name in FILLS
    fast = compiled_kernels() if compiled and x.shape[0] <= COMPILED_ROWS and name in FAST_TYPES else None
    if factored and fast is None:
        sub = FILLS[name][1]
        xg = np.ascontiguousarray(x.reshape(x.shape[0], -1, sub).transpose(1, 2, 0))  # [G, L, T]
        xsum = x.reshape(x.shape[0], -1, sub).sum(-1)  # [T, G]: each sub-block's sum of x
    # a compiled kernel streams through its rows; a tile then only bounds the scales numpy computes for it
    step = max(tile_rows(n_in), COMPILED_TILE_VALUES // n_in) if fast is not None else tile_rows(n_in)

    def run(r0: int, r1: int) -> None:
        for t0 in range(r0, r1, step):
            t1 = min(r1, t0 + step)
            if fast is not None:
                y[:, t0:t1] = _compiled_tile(fast, x, rows[t0:t1], name, check)  # [T, R]
            elif factored:
                y[:, t0:t1] = _factored(xg, xsum, rows[t0:t1], type_id, n_in, check)  # [T, R]
            else:
                tile = dequantize_tile(rows[t0:t1], type_id, n_in, reuse=True)  # [in, R]
                y[:, t0:t1] = x @ tile  # [T, in] @ [in, R] -> [T, R]

    workers = min(pool._max_workers, threads.cores()) if pool is not None else 1
    n_tiles = -(-n_out // step)
    with threads.one_blas_thread():  # a tile's product is small, and the tiles may run side by side
        if pool is None or workers < 2 or n_tiles < 2 or n_out * n_in < PARALLEL_VALUES:
            run(0, n_out)
            return y
        per = -(-n_tiles // min(workers, n_tiles)) * step  # contiguous runs of whole tiles, one a worker
        futures = [pool.submit(run, r0, min(n_out, r0 + per)) for r0 in range(0, n_out, per)]
        for f in futures:
            f.result()
    return y
