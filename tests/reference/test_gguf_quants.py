"""ggml dequantization (checkpoints/gguf/quants.py): every type against gguf-py's on random blocks
built as bytes, a few blocks by hand, the scale checks, row sizes and the errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.checkpoints.gguf import quants as gq
from attncli.errors import ModelError

# Where each type keeps its float16 scales (d, dmin, ...), read off ggml-common.h's block structs
# and gguf-py's hsplit order, written out here rather than taken from the module under test.
FP16_SCALES = {
    "Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2), "Q8_0": (0,),
    "Q2_K": (80, 82),  # scales[16], qs[64], d, dmin
    "Q3_K": (108,),  # hmask[32], qs[64], scales[12], d
    "Q4_K": (0, 2), "Q5_K": (0, 2),  # d, dmin, scales[12], (qh[32],) qs[128]
    "Q6_K": (208,),  # ql[128], qh[64], scales[16], d
    "IQ2_XXS": (0,), "IQ2_XS": (0,), "IQ2_S": (0,), "IQ3_XXS": (0,), "IQ3_S": (0,), "IQ1_S": (0,),
    "IQ4_NL": (0,), "IQ4_XS": (0,),
    "TQ1_0": (52,),  # qs[48], qh[4], d
    "TQ2_0": (64,),  # qs[64], d
}
PLAIN_FLOATS = ("F32", "F16", "BF16")
IQ1_M_D_BYTES = (49, 51, 53, 55)  # the high nibbles of IQ1_M's four scale u16s hold d, lowest nibble first

BY_NAME = {qt.name: qt for qt in gq.QUANT_TYPES.values()}
ALL_NAMES = sorted(BY_NAME)
OWN_NAMES = sorted(n for n, qt in BY_NAME.items() if not qt.via_gguf)


@pytest.fixture(scope="module")
def gguf():
    """gguf-py, the reference implementation."""
    return pytest.importorskip("gguf", reason="the comparison needs gguf-py (pip install gguf)")


def ggml_type(name: str):
    from gguf.constants import GGMLQuantizationType

    return GGMLQuantizationType[name]


def reference(raw: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """gguf-py's values for the bytes of a tensor of `shape`, given rows of bytes as a GGUF reader would."""
    from gguf.quants import dequantize

    rows = raw.reshape(-1, gq.row_bytes(BY_NAME[name].type_id, shape[-1]))  # [n_rows, row bytes]
    return np.asarray(dequantize(rows, ggml_type(name)), dtype=np.float32).reshape(shape)  # shape


def put_f16(blocks: np.ndarray, at: int, values: np.ndarray) -> None:
    blocks[:, at:at + 2] = np.asarray(values, dtype="<f2").reshape(-1, 1).view(np.uint8)


def put_iq1_m_d(blocks: np.ndarray, values: np.ndarray) -> None:
    """IQ1_M's d: nibble k of its float16 bits goes to the high nibble of byte 49 + 2k."""
    bits = np.asarray(values, dtype="<f2").view(np.uint16).reshape(-1)  # [n]
    for k, at in enumerate(IQ1_M_D_BYTES):
        nibble = ((bits >> (4 * k)) & 15).astype(np.uint8)  # [n]
        blocks[:, at] = (blocks[:, at] & 15) | (nibble << 4)


def random_scales(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite float16 of weight-like size and either sign, with a few exact zeros."""
    d = rng.uniform(1e-4, 0.5, n) * rng.choice([-1.0, 1.0], n)  # [n]
    d[rng.random(n) < 0.05] = 0.0
    return d.astype(np.float16)  # [n]


def random_blocks(name: str, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [n_blocks, type_size]: random bits, every float scale overwritten by a finite one."""
    qt = BY_NAME[name]
    blocks = rng.integers(0, 256, (n_blocks, qt.type_size), dtype=np.uint8)  # [n, type_size]
    for at in FP16_SCALES.get(name, ()):
        put_f16(blocks, at, random_scales(rng, n_blocks))
    if name == "IQ1_M":
        put_iq1_m_d(blocks, random_scales(rng, n_blocks))
    if name == "MXFP4":
        blocks[:, 0] = rng.integers(100, 150, n_blocks)  # the e8m0 exponent: 2**-27 .. 2**22
    return blocks


def assert_bit_identical(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))  # bits: signed zeros and NaNs too


# ---- the table against gguf-py's ---------------------------------------------------------------

def test_covers_every_type_gguf_py_dequantizes(gguf) -> None:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    readable = set()
    for t in GGMLQuantizationType:
        try:
            dequantize(np.zeros((1, GGML_QUANT_SIZES[t][1]), dtype=np.uint8), t)
        except NotImplementedError:
            continue
        readable.add(t.value)
    assert readable == set(gq.QUANT_TYPES)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_geometry_matches_gguf_py(gguf, name: str) -> None:
    from gguf.constants import GGML_QUANT_SIZES

    qt = BY_NAME[name]
    assert ggml_type(name).value == qt.type_id
    assert GGML_QUANT_SIZES[ggml_type(name)] == (qt.block_size, qt.type_size)


@pytest.mark.parametrize("name", sorted(FP16_SCALES))
def test_scale_offsets_match_the_layouts(name: str) -> None:
    assert BY_NAME[name].fp16_at == FP16_SCALES[name]


def test_every_quantized_type_has_a_scale_check() -> None:
    for name, qt in BY_NAME.items():
        assert (qt.scales is None) == (name in PLAIN_FLOATS), name


# ---- values: bit-identical to gguf-py ------------------------------------------------------------

@pytest.mark.parametrize("n_blocks", [1, 7, 1000])
@pytest.mark.parametrize("name", ALL_NAMES)
def test_equals_gguf_py(gguf, name: str, n_blocks: int) -> None:
    qt = BY_NAME[name]
    blocks = random_blocks(name, n_blocks, np.random.default_rng(n_blocks))  # [n, type_size]
    shape = (n_blocks * qt.block_size,)
    ours = gq.dequantize(blocks.reshape(-1), qt.type_id, shape)  # shape
    assert_bit_identical(ours, reference(blocks, name, shape))


@pytest.mark.parametrize("shape_in_blocks", [(3, 5), (2, 3, 2), (4, 1)])
@pytest.mark.parametrize("name", ALL_NAMES)
def test_rows_equal_gguf_py(gguf, name: str, shape_in_blocks: tuple[int, ...]) -> None:
    qt = BY_NAME[name]
    shape = (*shape_in_blocks[:-1], shape_in_blocks[-1] * qt.block_size)  # the last dim is whole blocks
    blocks = random_blocks(name, int(np.prod(shape_in_blocks)), np.random.default_rng(len(shape)))  # [n, type_size]
    ours = gq.dequantize(blocks.reshape(-1), qt.type_id, shape)  # shape
    assert_bit_identical(ours, reference(blocks, name, shape))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_chunks_meet_without_seams(gguf, monkeypatch, name: str) -> None:
    """Chunks of 3 blocks over 20 (the last one short) give gguf-py's values, and so does the per-type API."""
    qt = BY_NAME[name]
    monkeypatch.setattr(gq, "CHUNK_VALUES", 3 * qt.block_size)
    blocks = random_blocks(name, 20, np.random.default_rng(3))  # [20, type_size]
    expected = reference(blocks, name, (20, qt.block_size))  # [20, block_size]
    assert_bit_identical(gq.dequantize(blocks.reshape(-1), qt.type_id, (20, qt.block_size)), expected)
    assert_bit_identical(qt.dequantize(blocks), expected)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_read_only_unaligned_bytes(gguf, name: str) -> None:
    """As from a memory-mapped file: read-only, and at an odd address."""
    qt = BY_NAME[name]
    blocks = random_blocks(name, 5, np.random.default_rng(4))  # [5, type_size]
    padded = np.concatenate([np.zeros(1, dtype=np.uint8), blocks.reshape(-1)])  # [1 + 5 * type_size]
    raw = padded[1:]  # [5 * type_size], one byte past an aligned start
    raw.setflags(write=False)
    assert_bit_identical(gq.dequantize(raw, qt.type_id, (5 * qt.block_size,)), reference(blocks, name, (5 * qt.block_size,)))
    assert gq.scales_finite(raw, qt.type_id)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_blocks=st.integers(1, 50), name=st.sampled_from(OWN_NAMES))
def test_any_blocks_equal_gguf_py(gguf, seed: int, n_blocks: int, name: str) -> None:
    qt = BY_NAME[name]
    blocks = random_blocks(name, n_blocks, np.random.default_rng(seed))  # [n, type_size]
    shape = (n_blocks, qt.block_size)
    assert_bit_identical(gq.dequantize(blocks.reshape(-1), qt.type_id, shape), reference(blocks, name, shape))


def test_plain_float_bits_pass_through_unchanged(gguf) -> None:
    """Every float16 and bfloat16 bit pattern, NaNs and infinities included."""
    every = np.arange(65536, dtype=np.uint16).view(np.uint8)  # [131072]
    for name in ("F16", "BF16"):
        assert_bit_identical(gq.dequantize(every, BY_NAME[name].type_id, (65536,)), reference(every, name, (65536,)))
    f32 = np.random.default_rng(0).integers(0, 2**32, 4096, dtype=np.uint32).view(np.uint8)  # [16384]
    assert_bit_identical(gq.dequantize(f32, 0, (4096,)), reference(f32, "F32", (4096,)))


# ---- a few blocks by hand (no gguf-py needed) ---------------------------------------------------

def test_q4_k_block_by_hand() -> None:
    d, dmin = 0.5, 0.25
    sc = [1, 2, 3, 4, 5, 40, 7, 8]  # 40 > 15: uses the top bits in byte 1
    mn = [0, 1, 2, 3, 4, 5, 50, 7]  # 50 > 15: uses the top bits in byte 6
    packed = np.zeros(12, dtype=np.uint8)
    for j in range(4):
        packed[j] = sc[j] | (sc[j + 4] >> 4) << 6
        packed[j + 4] = mn[j] | (mn[j + 4] >> 4) << 6
        packed[j + 8] = (sc[j + 4] & 15) | (mn[j + 4] & 15) << 4
    q = (np.arange(256) * 7) % 16  # [256]
    qs = np.zeros(128, dtype=np.uint8)
    for i in range(256):
        j, l = divmod(i, 32)  # sub-block j, position l
        qs[32 * (j // 2) + l] |= q[i] << (4 * (j % 2))
    raw = np.concatenate([np.array([d, dmin], dtype="<f2").view(np.uint8), packed, qs])  # [144]
    expected = [d * sc[i // 32] * q[i] - dmin * mn[i // 32] for i in range(256)]  # exact in float32
    np.testing.assert_array_equal(gq.dequantize(raw, 12, (256,)), np.array(expected, dtype=np.float32))


def test_q6_k_block_by_hand() -> None:
    d = 0.125
    scales = np.arange(-8, 8, dtype=np.int8)  # [16]
    q = (np.arange(256) * 5) % 64  # [256], 6 bits
    ql, qh = np.zeros(128, dtype=np.uint8), np.zeros(64, dtype=np.uint8)
    for i in range(256):
        half, r = divmod(i, 128)
        ql[64 * half + r % 64] |= (q[i] & 15) << (4 * (r // 64))
        qh[32 * half + r % 32] |= (q[i] >> 4) << (2 * (r // 32))
    raw = np.concatenate([ql, qh, scales.view(np.uint8), np.array([d], dtype="<f2").view(np.uint8)])  # [210]
    expected = [d * scales[i // 16] * (q[i] - 32) for i in range(256)]
    np.testing.assert_array_equal(gq.dequantize(raw, 14, (256,)), np.array(expected, dtype=np.float32))


def test_q5_0_block_by_hand() -> None:
    d = 0.25
    q = (np.arange(32) * 3) % 32  # [32], 5 bits
    qh = sum(int(q[i] >> 4) << i for i in range(32))  # bit i: the fifth bit of value i
    qs = (q[:16] & 15) | (q[16:] & 15) << 4  # [16]
    raw = np.concatenate([np.array([d], dtype="<f2").view(np.uint8), np.frombuffer(qh.to_bytes(4, "little"), np.uint8),
                          qs.astype(np.uint8)])  # [22]
    np.testing.assert_array_equal(gq.dequantize(raw, 6, (32,)), (d * (q - 16)).astype(np.float32))


def test_mxfp4_block_by_hand() -> None:
    """OCP MX: e2m1 codes times the shared power of two 2**(e - 127)."""
    e2m1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6]
    codes = np.arange(32) % 16  # [32]
    for e in (120, 127, 130):
        raw = np.concatenate([[e], codes[:16] | codes[16:] << 4]).astype(np.uint8)  # [17]
        expected = np.array([e2m1[c] * 2.0 ** (e - 127) for c in codes], dtype=np.float32)
        np.testing.assert_array_equal(gq.dequantize(raw, 39, (32,)), expected)


# ---- scale checks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", sorted(FP16_SCALES))
def test_a_non_finite_fp16_scale_is_refused(name: str, bad: float) -> None:
    qt = BY_NAME[name]
    blocks = random_blocks(name, 9, np.random.default_rng(1))  # [9, type_size]
    assert gq.scales_finite(blocks.reshape(-1), qt.type_id)
    for at in FP16_SCALES[name]:
        broken = blocks.copy()
        broken[4, at:at + 2] = np.array([bad], dtype="<f2").view(np.uint8)
        assert not gq.scales_finite(broken.reshape(-1), qt.type_id), f"{name} scale at byte {at}"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_iq1_m_scale_is_refused(bad: float) -> None:
    blocks = random_blocks("IQ1_M", 9, np.random.default_rng(2))  # [9, 56]
    assert gq.scales_finite(blocks.reshape(-1), 29)
    put_iq1_m_d(blocks[4:5], np.array([bad]))
    assert not gq.scales_finite(blocks.reshape(-1), 29)


def test_finite_scales_mean_finite_values(gguf) -> None:
    for name in ALL_NAMES:
        if name in PLAIN_FLOATS:
            continue
        qt = BY_NAME[name]
        blocks = random_blocks(name, 50, np.random.default_rng(5))  # [50, type_size]
        assert gq.scales_finite(blocks.reshape(-1), qt.type_id), name
        assert np.isfinite(reference(blocks, name, (50 * qt.block_size,))).all(), name


def test_mxfp4_exponents_are_refused_exactly_when_values_overflow(gguf) -> None:
    """ggml decodes every e8m0 byte to a finite power of two, but 6 * 2**(e - 127) overflows from e = 253."""
    codes = np.full(16, 0x77, dtype=np.uint8)  # code 7 (6.0) in both nibbles: the largest magnitude
    for e in range(256):
        raw = np.concatenate([[np.uint8(e)], codes])  # [17]
        with np.errstate(over="ignore"):  # the overflow is what is being checked
            values = reference(raw, "MXFP4", (32,))  # [32]
        assert gq.scales_finite(raw, 39) == bool(np.isfinite(values).all()), e
    assert not gq.scales_finite(np.concatenate([[np.uint8(255)], codes]), 39)


def test_nvfp4_scales_are_always_finite(gguf) -> None:
    """ue4m3 has no NaN or infinity in ggml's reading: every byte is a finite scale."""
    blocks = np.zeros((256, 36), dtype=np.uint8)
    blocks[:, :4] = np.arange(256, dtype=np.uint8)[:, None]
    blocks[:, 4:] = 0x77  # the largest code everywhere
    assert gq.scales_finite(blocks.reshape(-1), 40)
    assert np.isfinite(reference(blocks, "NVFP4", (256 * 64,))).all()


def test_plain_floats_have_no_scales_to_check() -> None:
    nan16 = np.array([np.nan, 1.0], dtype="<f2").view(np.uint8)
    assert gq.scales_finite(nan16, 1)  # the caller checks plain float values after conversion
    assert BY_NAME["F16"].scales is None


# ---- sizes and errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("type_id, n_values, expected", [
    (0, 10, 40), (1, 10, 20), (30, 3, 6),  # F32, F16, BF16
    (8, 64, 68),  # Q8_0: 2 blocks of d + 32 bytes
    (2, 32, 18), (3, 96, 60),  # Q4_0, Q4_1
    (12, 512, 288), (14, 256, 210), (10, 256, 84),  # Q4_K, Q6_K, Q2_K
    (39, 64, 34), (40, 128, 72),  # MXFP4, NVFP4
    (12, 0, 0),
])
def test_row_bytes(type_id: int, n_values: int, expected: int) -> None:
    assert gq.row_bytes(type_id, n_values) == expected


@pytest.mark.parametrize("type_id, n_values", [(12, 100), (8, 33), (14, 255), (40, 32)])
def test_a_row_of_partial_blocks_is_refused(type_id: int, n_values: int) -> None:
    with pytest.raises(ValueError, match="not whole blocks"):
        gq.row_bytes(type_id, n_values)
    with pytest.raises(ValueError, match="not whole blocks"):
        gq.dequantize(np.zeros(10_000, dtype=np.uint8), type_id, (2, n_values))


def test_unknown_types_are_a_model_error() -> None:
    for type_id in (9, 15, 41, 99):  # Q8_1 and Q8_K (no reference to compare with), Q1_0, nothing
        with pytest.raises(ModelError, match=f"ggml type {type_id} is not one attncli can dequantize"):
            gq.row_bytes(type_id, 256)
        with pytest.raises(ModelError):
            gq.dequantize(np.zeros(1024, dtype=np.uint8), type_id, (256,))


def test_byte_count_must_match_the_shape() -> None:
    with pytest.raises(ValueError, match="cannot hold shape"):
        gq.dequantize(np.zeros(143, dtype=np.uint8), 12, (256,))
    with pytest.raises(ValueError, match="cannot hold shape"):
        gq.dequantize(np.zeros(144, dtype=np.uint8), 12, (2, 256))


def test_out_is_filled_and_returned() -> None:
    raw = np.concatenate([np.array([2.0], dtype="<f2").view(np.uint8), np.arange(-16, 16, dtype=np.int8).view(np.uint8)])
    out = np.full((1, 32), np.nan, dtype=np.float32)
    assert gq.dequantize(raw, 8, (1, 32), out=out) is out
    np.testing.assert_array_equal(out[0], np.arange(-32, 32, 2, dtype=np.float32))
    with pytest.raises(ValueError, match="out must be"):
        gq.dequantize(raw, 8, (1, 32), out=np.empty((32,), dtype=np.float32))


def test_grid_types_without_gguf_py_say_what_to_install(monkeypatch) -> None:
    for module in ("gguf", "gguf.constants", "gguf.quants"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import gguf...` raise ImportError
    blocks = np.zeros((1, 66), dtype=np.uint8)
    with pytest.raises(ModelError, match=r"IQ2_XXS.*pip install gguf"):
        gq.dequantize(blocks.reshape(-1), 16, (256,))
    assert gq.scales_finite(blocks.reshape(-1), 16)  # the scale check needs no gguf-py
    np.testing.assert_array_equal(gq.dequantize(np.zeros(34, np.uint8), 8, (32,)), np.zeros(32, np.float32))


def test_importing_the_module_does_not_import_gguf_py() -> None:
    code = "import sys, attncli.checkpoints.gguf.quants; print('gguf' in sys.modules)"
    src = str(Path(gq.__file__).resolve().parents[2])  # the attncli under test, not another install
    env = dict(os.environ, PYTHONPATH=src)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "False"
