"""ggml's tensor types, one small dequantize function each, registered by type id.

Each quantized block is a float16 scale d (and for Q4_1 a float16 minimum m) and 32 small
integers q; a value is d * q (Q8_0), d * (q - 8) (Q4_0) or d * q + m (Q4_1), computed in
float32 in that order, so the result is bit-identical to ggml's. Each type also says where
its scales live, so a corrupt file is refused before its NaNs reach a matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QuantType:
    name: str  # "Q4_1"
    type_id: int  # ggml's id
    block_size: int  # values per block
    type_size: int  # bytes per block
    dequantize: Callable[[np.ndarray], np.ndarray]  # uint8 [n_blocks, type_size] -> float32 [n_blocks, block_size]
    scales: Callable[[np.ndarray], np.ndarray] | None  # uint8 blocks -> their float scales; None for plain floats


def _f32(blocks: np.ndarray) -> np.ndarray:
    return blocks.view("<f4").astype(np.float32)  # [n, 4] -> [n, 1]


def _f16(blocks: np.ndarray) -> np.ndarray:
    return blocks.view("<f2").astype(np.float32)  # [n, 2] -> [n, 1]


def _bf16(blocks: np.ndarray) -> np.ndarray:
    return (blocks.view("<u2").astype(np.uint32) << 16).view(np.float32)  # [n, 2] -> [n, 1]


def _d(blocks: np.ndarray) -> np.ndarray:
    """The float16 scale at the start of a block."""
    return blocks[:, 0:2].copy().view("<f2")  # [n, 1]


def _q8_0(blocks: np.ndarray) -> np.ndarray:
    out = np.empty((blocks.shape[0], 32), dtype=np.float32)  # [n, 32]
    np.multiply(blocks[:, 2:].view(np.int8), _d(blocks).astype(np.float32), out=out)  # one pass, float32(q) * d
    return out


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """[n, 16] bytes -> [n, 32] values: value i in the low nibble of byte i, 16+i in the high."""
    q = np.empty((qs.shape[0], 32), dtype=np.uint8)  # [n, 32]
    np.bitwise_and(qs, 15, out=q[:, :16])
    np.right_shift(qs, 4, out=q[:, 16:])
    return q


def _q4_0(blocks: np.ndarray) -> np.ndarray:
    q = _nibbles(blocks[:, 2:])  # [n, 32]
    np.subtract(q.view(np.int8), np.int8(8), out=q.view(np.int8))  # q - 8, in -8..7
    out = np.empty(q.shape, dtype=np.float32)  # [n, 32]
    np.multiply(q.view(np.int8), _d(blocks).astype(np.float32), out=out)
    return out


def _q4_1(blocks: np.ndarray) -> np.ndarray:
    q = _nibbles(blocks[:, 4:])  # [n, 32]
    m = blocks[:, 2:4].copy().view("<f2").astype(np.float32)  # [n, 1]: each block's minimum
    out = np.empty(q.shape, dtype=np.float32)  # [n, 32]
    np.multiply(q, _d(blocks).astype(np.float32), out=out)
    out += m  # d * q + m
    return out


def _scale_d(blocks: np.ndarray) -> np.ndarray:
    return _d(blocks)  # [n, 1]


def _scale_d_m(blocks: np.ndarray) -> np.ndarray:
    return blocks[:, 0:4].copy().view("<f2")  # [n, 2]: d and m


QUANT_TYPES: dict[int, QuantType] = {q.type_id: q for q in (
    QuantType("F32", 0, 1, 4, _f32, None),
    QuantType("F16", 1, 1, 2, _f16, None),
    QuantType("Q4_0", 2, 32, 18, _q4_0, _scale_d),
    QuantType("Q4_1", 3, 32, 20, _q4_1, _scale_d_m),
    QuantType("Q8_0", 8, 32, 34, _q8_0, _scale_d),
    QuantType("BF16", 30, 1, 2, _bf16, None),
)}


def dequantize(raw: np.ndarray, type_id: int, shape: tuple[int, ...]) -> np.ndarray:
    """Bytes of whole blocks of one tensor -> float32 values of `shape` (row-major), as ggml computes them."""
    qt = QUANT_TYPES[type_id]
    blocks = raw.reshape(-1, qt.type_size)  # [n_blocks, type_size]
    return qt.dequantize(blocks).reshape(shape)  # shape


def scales_finite(raw: np.ndarray, type_id: int) -> bool:
    """Whether a tensor's block scales are finite (plain float types have none: check their values)."""
    qt = QUANT_TYPES[type_id]
    if qt.scales is None:
        return True
    return bool(np.isfinite(qt.scales(raw.reshape(-1, qt.type_size))).all())
