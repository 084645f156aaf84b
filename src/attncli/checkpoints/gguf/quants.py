"""ggml tensor types -> float32 with numpy: one small kernel per type, in a table by ggml type id.

Follows the block layouts of llama.cpp's ggml-common.h and the value formulas of its
dequantize_row_* functions, and computes each value with the same float32 operations in the
same order as gguf-py's `gguf.quants.dequantize`, so the results are bit-identical to it.
The grid-based IQ types (IQ1_S, IQ1_M, IQ2_*, IQ3_*) call gguf-py, imported only when needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ...errors import ModelError

QK_K = 256  # values in a K-quant (and IQ) super-block
CHUNK_VALUES = 1 << 18  # values per kernel call: measured best of 2**15..2**20 (temporaries fit L2; few calls)

Kernel = Callable[[np.ndarray, np.ndarray], None]  # (uint8 [n, type_size], float32 out [n, block_size]) -> None


F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class QuantType:
    """One ggml tensor type: its block geometry, its kernel, and where its float scales live."""

    name: str  # "Q4_K"
    type_id: int  # ggml type id (12)
    block_size: int  # values per block (256)
    type_size: int  # bytes per block (144)
    into: Kernel  # writes a chunk of blocks into a float32 [n_blocks, block_size] array
    fp16_at: tuple[int, ...] = ()  # byte offsets of the block's float16 scale fields (d, dmin, ...)
    # uint8 [n, type_size] -> the float scale fields; None for plain floats
    scales: Callable[[np.ndarray], np.ndarray] | None = None
    scale_limit: float = F32_MAX  # the largest scale whose values stay finite (only MXFP4's 2**127 can overflow)
    via_gguf: bool = False  # True when gguf-py computes it (the grid IQ types)

    def __post_init__(self) -> None:
        if self.scales is None and self.fp16_at:  # the usual case: the scales are float16 fields at fixed offsets
            object.__setattr__(self, "scales", partial(_fp16_fields, offsets=self.fp16_at))

    def dequantize(self, blocks: np.ndarray) -> np.ndarray:
        """uint8 [n_blocks, type_size] -> float32 [n_blocks, block_size]."""
        blocks = np.ascontiguousarray(blocks, dtype=np.uint8).reshape(-1, self.type_size)  # [n, type_size]
        out = np.empty((len(blocks), self.block_size), dtype=np.float32)  # [n, block_size]
        _fill(self, blocks, out)
        return out


# ---- shared pieces ----------------------------------------------------------------------------
#
# numpy pays per inner loop, and a block's fields are short runs (4..128 bytes) at a stride of
# type_size: so small per-block fields are read as columns (one long row per byte position), bulk
# fields are first copied contiguous, and integer work is done on uint8 before one float pass.

def _fp16_fields(blocks: np.ndarray, offsets: tuple[int, ...]) -> np.ndarray:
    """The float16 fields at these byte offsets of every block, as stored."""
    cols = np.array([[o, o + 1] for o in offsets]).reshape(-1)  # [2 * k]
    return np.ascontiguousarray(blocks[:, cols]).view("<f2")  # [n, k]


def _half(blocks: np.ndarray, at: int) -> np.ndarray:
    """The little-endian float16 at byte `at` of every block, as float32."""
    return blocks[:, at:at + 2].view("<f2")[:, 0].astype(np.float32)  # [n]


def _bytes(blocks: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Bytes start..stop of every block, copied contiguous."""
    return np.ascontiguousarray(blocks[:, start:stop])  # [n, stop - start]


def _columns(blocks: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Bytes start..stop of every block, one row per byte position (so each op is one long loop)."""
    return np.ascontiguousarray(blocks[:, start:stop].T)  # [stop - start, n]


def _split(src: np.ndarray, shifts: tuple[int, ...], mask: int, out: np.ndarray) -> None:
    """Bytes src [..., m] -> out [..., k, m]: the bit field (src >> shifts[i]) & mask, for k shifts.

    One scalar shift per field (numpy's fast path; an array of shifts broadcast is ~2.5x slower),
    then one mask over everything.
    """
    for i, shift in enumerate(shifts):
        if shift:
            np.right_shift(src, np.uint8(shift), out=out[..., i, :])
        else:
            np.copyto(out[..., i, :], src)
    np.bitwise_and(out, np.uint8(mask), out=out)


def _shl(x: np.ndarray, k: int) -> None:
    """uint8 x <<= k, as a multiply: numpy's uint8 left shift has no SIMD loop and is ~10x slower."""
    np.multiply(x, np.uint8(1 << k), out=x)


def _scaled(q: np.ndarray, scale: np.ndarray, out: np.ndarray) -> None:
    """out [n, k, m] = float32(q) * scale [n, k]: the integers convert exactly, then one rounding."""
    np.copyto(out, q)
    np.multiply(out, scale[:, :, None], out=out)


NIBBLES = (0, 4)  # the shifts of 4-bit fields: low nibble first, as ggml orders values
CRUMBS = (0, 2, 4, 6)  # 2-bit fields, lowest first
BITS = tuple(range(8))  # single bits, lowest first


# ---- plain floats -------------------------------------------------------------------------------

def _f32(blocks: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, blocks.view("<f4"))  # [n, 1]


def _f16(blocks: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, blocks.view("<f2"))  # [n, 1]


def _bf16(blocks: np.ndarray, out: np.ndarray) -> None:
    """bfloat16 is the high half of a float32."""
    bits = out.view(np.uint32)  # [n, 1]
    np.copyto(bits, blocks.view("<u2"))
    np.left_shift(bits, np.uint32(16), out=bits)


# ---- 32-value blocks: d (and m) then 4, 5 or 8-bit q -------------------------------------------

def _q8_0(blocks: np.ndarray, out: np.ndarray) -> None:
    """d (f16), q[32] (int8): x = q * d."""
    _scaled(blocks[:, None, 2:].view(np.int8), _half(blocks, 0)[:, None], out[:, None, :])


def _q4(qs: np.ndarray) -> np.ndarray:
    """qs[16] (value i in the low nibble of byte i, 16 + i in the high) -> q in 0..15, uint8 [n, 32]."""
    q = np.empty((len(qs), 2, 16), dtype=np.uint8)  # [n, 2, 16]
    _split(qs, NIBBLES, 15, q)
    return q.reshape(-1, 32)  # [n, 32]


def _q5(qh: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """qh[4] (bit i: the fifth bit of value i), qs[16] -> q in 0..31, uint8 [n, 32]."""
    q = _q4(qs)  # [n, 32]
    high = np.unpackbits(qh, axis=1, bitorder="little")  # [n, 32]: bit i of the little-endian u32
    _shl(high, 4)
    np.bitwise_or(q, high, out=q)
    return q  # [n, 32]


def _centred(q: np.ndarray, zero: int) -> np.ndarray:
    """uint8 q -> int8 q - zero, in place."""
    qi = q.view(np.int8)  # [...]
    np.subtract(qi, np.int8(zero), out=qi)
    return qi


def _q4_0(blocks: np.ndarray, out: np.ndarray) -> None:
    """d (f16), qs[16]: x = d * (q - 8)."""
    q = _centred(_q4(_bytes(blocks, 2, 18)), 8)  # [n, 32]
    _scaled(q[:, None], _half(blocks, 0)[:, None], out[:, None])


def _q4_1(blocks: np.ndarray, out: np.ndarray) -> None:
    """d, m (f16), qs[16]: x = d * q + m."""
    _scaled(_q4(_bytes(blocks, 4, 20))[:, None], _half(blocks, 0)[:, None], out[:, None])
    np.add(out, _half(blocks, 2)[:, None], out=out)


def _q5_0(blocks: np.ndarray, out: np.ndarray) -> None:
    """d (f16), qh[4], qs[16]: x = d * (q - 16)."""
    q = _centred(_q5(blocks[:, 2:6], _bytes(blocks, 6, 22)), 16)  # [n, 32]
    _scaled(q[:, None], _half(blocks, 0)[:, None], out[:, None])


def _q5_1(blocks: np.ndarray, out: np.ndarray) -> None:
    """d, m (f16), qh[4], qs[16]: x = d * q + m."""
    _scaled(_q5(blocks[:, 4:8], _bytes(blocks, 8, 24))[:, None], _half(blocks, 0)[:, None], out[:, None])
    np.add(out, _half(blocks, 2)[:, None], out=out)


# ---- K-quants: 256-value super-blocks of 16 or 32-value sub-blocks with small integer scales ---

def _q2_k(blocks: np.ndarray, out: np.ndarray) -> None:
    """scales[16] (low nibble: scale, high: min), qs[64] (2-bit), d, dmin (f16).

    x = (d * scale) * q - (dmin * min), for 16 sub-blocks of 16.
    """
    n = len(blocks)
    sc = _columns(blocks, 0, 16)  # [16, n]
    dl = np.multiply(_half(blocks, 80), (sc & np.uint8(15)).astype(np.float32))  # [16, n]
    ml = np.multiply(_half(blocks, 82), (sc >> np.uint8(4)).astype(np.float32))  # [16, n]
    q = np.empty((n, 2, 4, 32), dtype=np.uint8)  # [n, half, shift, 32]: value 128 * half + 32 * shift + l
    _split(_bytes(blocks, 16, 80).reshape(n, 2, 32), CRUMBS, 3, q)
    out3 = out.reshape(n, 16, 16)  # [n, sub-block, 16]
    _scaled(q.reshape(n, 16, 16), dl.T, out3)
    np.subtract(out3, ml.T[:, :, None], out=out3)


def _q3_k_scales(blocks: np.ndarray) -> np.ndarray:
    """Bytes 96..107: 16 six-bit scales -> d * (scale - 32), float32 [16, n].

    Low 4 bits: the low nibbles of bytes 0..7, then their high nibbles; high 2 bits: bytes 8..11
    at shifts 0, 2, 4, 6.
    """
    s = _columns(blocks, 96, 108)  # [12, n]
    low = np.empty((2, 8, len(blocks)), dtype=np.uint8)  # [nibble, byte, n]
    _split(s[:8], NIBBLES, 15, low.transpose(1, 0, 2))
    high = np.empty((4, 4, len(blocks)), dtype=np.uint8)  # [shift, byte, n]
    _split(s[8:], CRUMBS, 3, high.transpose(1, 0, 2))
    _shl(high, 4)
    sc = _centred(np.bitwise_or(low.reshape(16, -1), high.reshape(16, -1)), 32)  # [16, n]
    return np.multiply(_half(blocks, 108), sc.astype(np.float32))  # [16, n]


def _q3_k(blocks: np.ndarray, out: np.ndarray) -> None:
    """hmask[32], qs[64] (2-bit), scales[12] (6-bit), d (f16).

    q = the 2-bit field, minus 4 where the hmask bit is clear; x = (d * (scale - 32)) * q, 16 sub-blocks of 16.
    """
    n = len(blocks)
    q = np.empty((n, 2, 4, 32), dtype=np.uint8)  # [n, half, shift, 32]: value 32 * j + l, j = 4 * half + shift
    _split(_bytes(blocks, 32, 96).reshape(n, 2, 32), CRUMBS, 3, q)
    high = np.empty((n, 8, 32), dtype=np.uint8)  # [n, j, 32]: bit j of hmask byte l
    _split(_bytes(blocks, 0, 32), BITS, 1, high)
    _shl(high, 2)
    np.bitwise_or(q, high.reshape(q.shape), out=q)  # q + 4 * bit, 0..7
    _scaled(_centred(q, 4).reshape(n, 16, 16), _q3_k_scales(blocks).T, out.reshape(n, 16, 16))


def _k_scales(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K/Q5_K's d, dmin and 12 bytes of 6-bit scales and mins -> d * scale, dmin * min, float32 [n, 8] each.

    Bytes 0..3 hold scales 0..3 and bytes 4..7 mins 0..3 in their low 6 bits, and the top 2 bits of
    scales/mins 4..7 in their top 2; bytes 8..11 hold the low nibbles of scales 4..7 (low) and mins 4..7 (high).
    """
    n = len(blocks)
    s = _columns(blocks, 4, 16)  # [12, n]
    sm = np.empty((2, 2, 4, n), dtype=np.uint8)  # [scale/min, sub-blocks 0..3 / 4..7, 4, n]
    ab = s[:8].reshape(2, 4, n)  # [scale/min, 4, n]
    np.bitwise_and(ab, np.uint8(63), out=sm[:, 0])
    top = sm[:, 1]  # [scale/min, 4, n]
    _split(s[8:], NIBBLES, 15, top.transpose(1, 0, 2))
    np.bitwise_or(top, (ab >> np.uint8(2)) & np.uint8(48), out=top)
    d = np.stack([_half(blocks, 0), _half(blocks, 2)])[:, None, :]  # [2, 1, n]: d, dmin
    f = np.multiply(d, sm.reshape(2, 8, n).astype(np.float32))  # [scale/min, 8, n]
    return f[0].T, f[1].T  # [n, 8] each


def _k_finish(blocks: np.ndarray, q: np.ndarray, out: np.ndarray) -> None:
    """x = (d * scale) * q - (dmin * min) for 8 sub-blocks of 32 (Q4_K, Q5_K); q uint8 [n, 8, 32]."""
    dl, ml = _k_scales(blocks)  # [n, 8] each
    out3 = out.reshape(len(blocks), 8, 32)  # [n, sub-block, 32]
    _scaled(q, dl, out3)
    np.subtract(out3, ml[:, :, None], out=out3)


def _q4_k(blocks: np.ndarray, out: np.ndarray) -> None:
    """d, dmin (f16), scales[12], qs[128]: sub-blocks 2j, 2j + 1 are the low, high nibbles of bytes 32j..32j+31."""
    n = len(blocks)
    q = np.empty((n, 4, 2, 32), dtype=np.uint8)  # [n, 4, nibble, 32]
    _split(_bytes(blocks, 16, 144).reshape(n, 4, 32), NIBBLES, 15, q)
    _k_finish(blocks, q.reshape(n, 8, 32), out)


def _q5_k(blocks: np.ndarray, out: np.ndarray) -> None:
    """d, dmin (f16), scales[12], qh[32] (bit j of byte l: the fifth bit of value 32j + l), qs[128]."""
    n = len(blocks)
    q = np.empty((n, 4, 2, 32), dtype=np.uint8)  # [n, 4, nibble, 32]
    _split(_bytes(blocks, 48, 176).reshape(n, 4, 32), NIBBLES, 15, q)
    high = np.empty((n, 8, 32), dtype=np.uint8)  # [n, j, 32]
    _split(_bytes(blocks, 16, 48), BITS, 1, high)
    _shl(high, 4)
    np.bitwise_or(q, high.reshape(q.shape), out=q)
    _k_finish(blocks, q.reshape(n, 8, 32), out)


def _q6_k(blocks: np.ndarray, out: np.ndarray) -> None:
    """ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (f16): x = (d * scale) * (q - 32).

    Each half of 128 values takes 64 ql bytes (low then high nibbles) and 32 qh bytes (shifts 0, 2, 4, 6).
    """
    n = len(blocks)
    dl = np.multiply(_half(blocks, 208), _columns(blocks, 192, 208).view(np.int8).astype(np.float32))  # [16, n]
    q = np.empty((n, 2, 2, 64), dtype=np.uint8)  # [n, half, nibble, 64]
    _split(_bytes(blocks, 0, 128).reshape(n, 2, 64), NIBBLES, 15, q)
    high = np.empty((n, 2, 4, 32), dtype=np.uint8)  # [n, half, shift, 32]: the same 128 values a half
    _split(_bytes(blocks, 128, 192).reshape(n, 2, 32), CRUMBS, 3, high)
    _shl(high, 4)
    np.bitwise_or(q, high.reshape(q.shape), out=q)
    _scaled(_centred(q, 32).reshape(n, 16, 16), dl.T, out.reshape(n, 16, 16))


# ---- lookup-table types: IQ4_NL, IQ4_XS, MXFP4, NVFP4 ---------------------------------------------

KVALUES_IQ4 = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                       dtype=np.float32)  # [16]
KVALUES_FP4 = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12],
                       dtype=np.float32)  # [16]: e2m1, doubled


def _looked_up(table: np.ndarray, q: np.ndarray, scale: np.ndarray, out: np.ndarray) -> None:
    """out [n, k, m] = table[q] * scale [n, k] (the table holds small integers, exact in float32)."""
    np.take(table, q, out=out, mode="clip")  # indices are 0..15; "raise" would buffer the output
    np.multiply(out, scale[:, :, None], out=out)


def _iq4_nl(blocks: np.ndarray, out: np.ndarray) -> None:
    """d (f16), qs[16] (4-bit indices into a non-linear table): x = d * k[q]."""
    _looked_up(KVALUES_IQ4, _q4(_bytes(blocks, 2, 18))[:, None], _half(blocks, 0)[:, None], out[:, None])


def _iq4_xs(blocks: np.ndarray, out: np.ndarray) -> None:
    """d (f16), scales_h (u16: 2 bits per sub-block), scales_l[4] (nibbles), qs[128]: x = (d * (scale - 32)) * k[q]."""
    n = len(blocks)
    s = _columns(blocks, 2, 8)  # [6, n]: scales_h (2 bytes), scales_l (4 bytes)
    low = np.empty((4, 2, n), dtype=np.uint8)  # [byte, nibble, n]: sub-block 2 * byte + nibble
    _split(s[2:], NIBBLES, 15, low)
    high = np.empty((2, 4, n), dtype=np.uint8)  # [byte, shift, n]: sub-block 4 * byte + shift
    _split(s[:2], CRUMBS, 3, high)
    _shl(high, 4)
    sc = _centred(np.bitwise_or(low.reshape(8, n), high.reshape(8, n)), 32)  # [8, n]
    dl = np.multiply(_half(blocks, 0), sc.astype(np.float32))  # [8, n]
    q = np.empty((n, 8, 2, 16), dtype=np.uint8)  # [n, sub-block, nibble, 16]
    _split(_bytes(blocks, 8, 136).reshape(n, 8, 16), NIBBLES, 15, q)
    _looked_up(KVALUES_IQ4, q.reshape(n, 8, 32), dl.T, out.reshape(n, 8, 32))


def _e8m0_half(e: np.ndarray) -> np.ndarray:
    """MXFP4's shared exponent byte -> 2**(e - 128) as float32, as ggml_e8m0_to_fp32_half (finite for every byte)."""
    e32 = e.astype(np.uint32)  # [n]
    bits = np.where(e32 < 2, np.uint32(0x00200000) << e32, (e32 - np.uint32(1)) << np.uint32(23))  # [n]
    return bits.astype(np.uint32, copy=False).view(np.float32)  # [n]


def _mxfp4(blocks: np.ndarray, out: np.ndarray) -> None:
    """e (e8m0), qs[16] (e2m1 codes): x = 2**(e - 128) * k[q]."""
    _looked_up(KVALUES_FP4, _q4(_bytes(blocks, 1, 17))[:, None], _e8m0_half(blocks[:, 0])[:, None], out[:, None])


def _ue4m3_table() -> np.ndarray:
    """Every ue4m3 byte -> its value times 0.5, as gguf-py's NVFP4 (bit 7 ignored, 0x7F read as 0); exact in float32."""
    x = np.arange(256)  # [256]
    exp, man = (x >> 3) & 15, x & 7  # [256] each
    value = np.where(exp == 0, np.ldexp(man, -9), np.ldexp(8 + man, exp - 10))  # [256]: (1 + man/8) * 2**(exp - 7)
    return np.where((x == 0) | (x == 0x7F), 0.0, value * 0.5).astype(np.float32)  # [256]


UE4M3_HALF = _ue4m3_table()  # [256]


def _nvfp4(blocks: np.ndarray, out: np.ndarray) -> None:
    """d[4] (ue4m3, one per 16 values), qs[32] (e2m1 codes; 8 bytes per 16 values, low nibbles first)."""
    n = len(blocks)
    d = np.take(UE4M3_HALF, blocks[:, :4])  # [n, 4]
    q = np.empty((n, 4, 2, 8), dtype=np.uint8)  # [n, 4, nibble, 8]
    _split(_bytes(blocks, 4, 36).reshape(n, 4, 8), NIBBLES, 15, q)
    _looked_up(KVALUES_FP4, q.reshape(n, 4, 16), d, out.reshape(n, 4, 16))


# ---- ternary types: TQ1_0, TQ2_0 ------------------------------------------------------------------

def _tq2_0(blocks: np.ndarray, out: np.ndarray) -> None:
    """qs[64] (2-bit, shifts 0, 2, 4, 6 per 32 bytes), d (f16): x = d * (q - 1)."""
    n = len(blocks)
    q = np.empty((n, 2, 4, 32), dtype=np.uint8)  # [n, half, shift, 32]
    _split(_bytes(blocks, 0, 64).reshape(n, 2, 32), CRUMBS, 3, q)
    _scaled(_centred(q, 1).reshape(n, 1, 256), _half(blocks, 64)[:, None], out[:, None])


POW3 = np.array([1, 3, 9, 27, 81], dtype=np.uint8)[:, None]  # [5, 1]


def _tq1_0(blocks: np.ndarray, out: np.ndarray) -> None:
    """qs[48] (5 base-3 digits a byte, as fixed-point fractions), qh[4] (4 digits a byte), d (f16).

    Digit k of byte b is ((b * 3**k mod 256) * 3) >> 8; x = d * (digit - 1).
    """
    n = len(blocks)
    q = np.empty((n, 256), dtype=np.uint8)  # [n, 256]
    np.multiply(blocks[:, None, :32], POW3, out=q[:, :160].reshape(n, 5, 32))
    np.multiply(blocks[:, None, 32:48], POW3, out=q[:, 160:240].reshape(n, 5, 16))
    np.multiply(blocks[:, None, 48:52], POW3[:4], out=q[:, 240:].reshape(n, 4, 4))
    digit = (q.astype(np.uint16) * np.uint16(3)) >> np.uint16(8)  # [n, 256], 0..2
    np.copyto(q, digit, casting="unsafe")
    _scaled(_centred(q, 1)[:, None], _half(blocks, 52)[:, None], out[:, None])


# ---- the grid IQ types, through gguf-py ---------------------------------------------------------

def _via_gguf(name: str, blocks: np.ndarray, out: np.ndarray) -> None:
    """gguf-py's dequantization, on the chunk as one row (its row grouping would otherwise go 16 blocks at a time)."""
    try:
        from gguf.constants import GGMLQuantizationType
        from gguf.quants import dequantize as gguf_dequantize
    except ImportError:
        raise ModelError(f"dequantizing {name} tensors needs gguf-py; install it with `pip install gguf`, "
                         "or use a GGUF file quantized as Q8_0, Q6_K, Q5_K_M or Q4_K_M") from None
    row = np.ascontiguousarray(blocks).reshape(1, -1)  # [1, n * type_size]
    out[...] = gguf_dequantize(row, GGMLQuantizationType[name]).reshape(out.shape)  # [n, 256]


# ---- scales, for the finiteness check -----------------------------------------------------------

def _iq1_m_scale(blocks: np.ndarray) -> np.ndarray:
    """IQ1_M keeps its float16 d in the top nibbles of its four scale u16s (bytes 48..55), lowest first."""
    top = blocks[:, [49, 51, 53, 55]] >> np.uint8(4)  # [n, 4]: nibbles 0..3 of d
    d = np.empty((len(blocks), 2), dtype=np.uint8)  # [n, 2]: little-endian bytes of d
    np.bitwise_or(top[:, 0::2], top[:, 1::2] << np.uint8(4), out=d)
    return d.view("<f2")  # [n, 1]


def _mxfp4_scale(blocks: np.ndarray) -> np.ndarray:
    return _e8m0_half(blocks[:, 0])[:, None]  # [n, 1]


def _nvfp4_scales(blocks: np.ndarray) -> np.ndarray:
    return np.take(UE4M3_HALF, blocks[:, :4])  # [n, 4]


# ---- the table ------------------------------------------------------------------------------------

def _grid(name: str, type_id: int, type_size: int, fp16_at: tuple[int, ...] = (),
          scales: Callable[[np.ndarray], np.ndarray] | None = None) -> QuantType:
    """A grid IQ type: gguf-py computes its values; its scale check is ours."""
    return QuantType(name, type_id, QK_K, type_size, partial(_via_gguf, name), fp16_at, scales, via_gguf=True)


QUANT_TYPES: dict[int, QuantType] = {qt.type_id: qt for qt in (
    # name, ggml id, values a block, bytes a block, kernel, offsets of the float16 scales
    QuantType("F32", 0, 1, 4, _f32),
    QuantType("F16", 1, 1, 2, _f16),
    QuantType("BF16", 30, 1, 2, _bf16),
    QuantType("Q4_0", 2, 32, 18, _q4_0, (0,)),
    QuantType("Q4_1", 3, 32, 20, _q4_1, (0, 2)),
    QuantType("Q5_0", 6, 32, 22, _q5_0, (0,)),
    QuantType("Q5_1", 7, 32, 24, _q5_1, (0, 2)),
    QuantType("Q8_0", 8, 32, 34, _q8_0, (0,)),
    QuantType("Q2_K", 10, QK_K, 84, _q2_k, (80, 82)),
    QuantType("Q3_K", 11, QK_K, 110, _q3_k, (108,)),
    QuantType("Q4_K", 12, QK_K, 144, _q4_k, (0, 2)),
    QuantType("Q5_K", 13, QK_K, 176, _q5_k, (0, 2)),
    QuantType("Q6_K", 14, QK_K, 210, _q6_k, (208,)),
    QuantType("IQ4_NL", 20, 32, 18, _iq4_nl, (0,)),
    QuantType("IQ4_XS", 23, QK_K, 136, _iq4_xs, (0,)),
    QuantType("TQ1_0", 34, QK_K, 54, _tq1_0, (52,)),
    QuantType("TQ2_0", 35, QK_K, 66, _tq2_0, (64,)),
    # MXFP4's e8m0 exponent decodes finite up to 2**127, but 12 * 2**125 overflows: limit = what times 12 stays finite
    QuantType("MXFP4", 39, 32, 17, _mxfp4, scales=_mxfp4_scale, scale_limit=F32_MAX / 12),
    QuantType("NVFP4", 40, 64, 36, _nvfp4, scales=_nvfp4_scales),  # ue4m3: every byte decodes to at most 240
    _grid("IQ2_XXS", 16, 66, (0,)),
    _grid("IQ2_XS", 17, 74, (0,)),
    _grid("IQ3_XXS", 18, 98, (0,)),
    _grid("IQ1_S", 19, 50, (0,)),
    _grid("IQ3_S", 21, 110, (0,)),
    _grid("IQ2_S", 22, 82, (0,)),
    _grid("IQ1_M", 29, 56, scales=_iq1_m_scale),  # its float16 d is split into four nibbles
)}


# ---- the API --------------------------------------------------------------------------------------

def quant_type(type_id: int) -> QuantType:
    """The table entry of a ggml type id, or a ModelError naming the types attncli reads."""
    qt = QUANT_TYPES.get(type_id)
    if qt is None:
        known = ", ".join(q.name for q in QUANT_TYPES.values())
        raise ModelError(f"ggml type {type_id} is not one attncli can dequantize (it reads {known}); "
                         "use a GGUF file quantized with one of those")
    return qt


def row_bytes(type_id: int, n_values: int) -> int:
    """Bytes of one row of n_values; a row must be whole blocks."""
    qt = quant_type(type_id)
    if n_values < 0 or n_values % qt.block_size:
        raise ValueError(f"a {qt.name} row of {n_values} values is not whole blocks of {qt.block_size}")
    return n_values // qt.block_size * qt.type_size


def dequantize(raw: np.ndarray, type_id: int, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """1-D uint8 bytes of whole blocks -> float32 of `shape` (row-major), bit-identical to gguf-py.

    Works through the blocks a chunk at a time so the integer temporaries stay small. `out`, a
    C-contiguous float32 array of `shape`, is filled instead of a new array (a caller that reuses
    one skips the page faults of fresh memory, a large part of the time for the fast types).
    """
    qt = quant_type(type_id)
    if not shape:
        raise ValueError("a tensor has at least one dimension")
    nbytes = row_bytes(type_id, shape[-1]) * int(np.prod(shape[:-1], dtype=np.int64))
    if raw.size != nbytes:
        raise ValueError(f"{raw.size} bytes of {qt.name} cannot hold shape {tuple(shape)}: that takes {nbytes}")
    if out is None:
        out = np.empty(shape, dtype=np.float32)  # shape
    elif out.shape != tuple(shape) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {tuple(shape)}")
    blocks = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, qt.type_size)  # [n_blocks, type_size]
    _fill(qt, blocks, out.reshape(len(blocks), qt.block_size))
    return out  # shape


def _fill(qt: QuantType, blocks: np.ndarray, values: np.ndarray) -> None:
    """Run the kernel over [n_blocks, type_size] a chunk at a time, into float32 [n_blocks, block_size]."""
    step = max(1, CHUNK_VALUES // qt.block_size)
    for b0 in range(0, len(blocks), step):
        qt.into(blocks[b0:b0 + step], values[b0:b0 + step])


def scales_finite(raw: np.ndarray, type_id: int) -> bool:
    """Whether every float scale of a quantized tensor is finite, so its values are (plain floats: True, check
    their values).

    A scale counts as finite when it is at most the type's scale_limit: float32's largest for all
    but MXFP4, whose exponent can reach 2**127, and whose values then overflow.
    """
    qt = quant_type(type_id)
    if qt.scales is None:
        return True
    blocks = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, qt.type_size)  # [n_blocks, type_size]
    if isinstance(qt.scales, partial) and qt.scales.func is _fp16_fields:  # plain float16 fields: read their bits
        for at in qt.fp16_at:  # a float16 is inf or NaN when its five exponent bits are all ones: 0x7C of its high byte
            if (np.bitwise_and(blocks[:, at + 1], 0x7C) == 0x7C).any():  # [n_blocks], no copy of the fields
                return False
        return True
    scales = qt.scales(blocks).astype(np.float32)  # [n_blocks, k]
    return bool((np.abs(scales) <= qt.scale_limit).all())  # False for NaN and inf too
