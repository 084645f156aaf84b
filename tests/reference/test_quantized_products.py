"""Products from quantized blocks (checkpoints/gguf/products.py) against gguf-py's dequantization
followed by an exact multiply, on every type with a kernel and every shape class.

The tolerance is derived, not tuned. A kernel computes sum_k x_k (a_k u_k + c_k), where a and c are
the block's float scales and u its integers, with some order of float32 roundings: at most
n + 3 of them stand between any product x_k a_k u_k (or x_k c_k) and the result (the L-value sum,
the scale, the sum over sub-blocks, the offset term), so by the usual bound its error is at most
g(n + 3) * sum_k |x_k| (|a_k u_k| + |c_k|), g(m) = m u / (1 - m u), u = 2**-24. The reference
multiplies gguf-py's values w = fl(fl(a u) + c) in float64 (error n 2**-53 sum |x||w|, below one
more g); |a u| <= (|w| + |c|)(1 + 3u). Altogether |ours - ref| <= g(n + 5) sum_k |x_k| (2|w_k| + 3|c_k|),
with c_k the value the block gives when its integers are all zero (gguf-py on the block with its
quantized bytes zeroed): exactly c for the types with an offset, and a looser bound for the others.
A wrong integer, scale or position changes a result by about |x_k w_k|, far above this bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attncli.checkpoints.gguf import products
from attncli.checkpoints.gguf.quants import QUANT_TYPES

gguf_quants = pytest.importorskip("gguf.quants", reason="needs gguf-py (pip install -r requirements-reference.txt)")
from gguf.constants import GGMLQuantizationType  # noqa: E402

BY_NAME = {qt.name: qt for qt in QUANT_TYPES.values()}


@pytest.fixture(autouse=True, params=["numpy", "numba"])
def kernels(request, monkeypatch) -> str:
    """Every test twice: with the numpy kernels, and with numba's (the `fast` extra) when it is installed."""
    if request.param == "numba":
        pytest.importorskip("numba", reason="the `fast` extra is not installed")
    monkeypatch.setenv("ATTN_KERNELS", request.param)
    monkeypatch.setattr(products, "_fast_module", None)  # looked up again under this setting
    yield request.param
    assert (products.compiled_kernels() is not None) == (request.param == "numba")
# the bytes of each block that hold its integers, from llama.cpp's ggml-common.h (not from products.py)
INTEGER_BYTES = {"Q4_0": (2, 18), "Q4_1": (4, 20), "Q5_0": (2, 22), "Q5_1": (4, 24), "Q8_0": (2, 34),
                 "Q2_K": (16, 80), "Q3_K": (0, 96), "Q4_K": (16, 144), "Q5_K": (16, 176), "Q6_K": (0, 192)}
TYPES = sorted(INTEGER_BYTES)
U = 2.0 ** -24


def random_rows(name: str, n_out: int, n_in: int, rng: np.random.Generator) -> np.ndarray:
    """Stored rows uint8 [n_out, row bytes] of random blocks whose float16 scales are finite, of both signs."""
    qt = BY_NAME[name]
    blocks = rng.integers(0, 256, (n_out * n_in // qt.block_size, qt.type_size), dtype=np.uint8)
    for at in qt.fp16_at:
        blocks[:, at:at + 2] = rng.uniform(-0.02, 0.02, (len(blocks), 1)).astype("<f2").view(np.uint8)
    return blocks.reshape(n_out, -1)


def reference(name: str, rows: np.ndarray) -> np.ndarray:
    """gguf-py's values of the rows, float32 [n_out, n_in]."""
    return gguf_quants.dequantize(rows, GGMLQuantizationType[name])


def offsets(name: str, rows: np.ndarray) -> np.ndarray:
    """Each value's block offset c: what gguf-py gives for the block with its integers zeroed."""
    qt = BY_NAME[name]
    blocks = rows.reshape(-1, qt.type_size).copy()
    start, stop = INTEGER_BYTES[name]
    blocks[:, start:stop] = 0
    return reference(name, blocks.reshape(rows.shape))


def check(name: str, n_rows: int, n_out: int, n_in: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = random_rows(name, n_out, n_in, rng)
    x = rng.standard_normal((n_rows, n_in)).astype(np.float32)  # [T, in]
    w = reference(name, rows).astype(np.float64)  # [out, in]
    c = offsets(name, rows).astype(np.float64)  # [out, in]
    got = products.matmul(x, rows, BY_NAME[name].type_id, n_in)  # [T, out]
    assert got.shape == (n_rows, n_out) and got.dtype == np.float32
    exact = x.astype(np.float64) @ w.T  # [T, out]
    m = n_in + 5
    bound = m * U / (1 - m * U) * (np.abs(x).astype(np.float64) @ (2 * np.abs(w) + 3 * np.abs(c)).T)  # [T, out]
    excess = np.abs(got - exact) - bound
    assert (excess <= 0).all(), f"{name} T={n_rows} {n_out}x{n_in}: worst excess {excess.max():.3g}"


@pytest.mark.parametrize("name", TYPES)
def test_a_tile_holds_gguf_pys_values(name: str) -> None:
    rng = np.random.default_rng(1)
    n_in = 2 * BY_NAME[name].block_size * (8 if BY_NAME[name].block_size == 32 else 1)
    rows = random_rows(name, 37, n_in, rng)
    tile = products.dequantize_tile(rows, BY_NAME[name].type_id, n_in)  # [in, R]
    np.testing.assert_array_equal(tile, reference(name, rows).T)  # bit for bit


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("n_rows, n_out, blocks", [
    (1, 300, 2),     # one token, a tall matrix (many outputs, few inputs)
    (1, 24, 24),     # one token, a wide matrix
    (6, 160, 3),     # a prompt's few tokens
    (40, 96, 4),     # many rows: the tiles of the float32 kind
])
def test_products_are_dequantize_then_multiply(name: str, n_rows: int, n_out: int, blocks: int) -> None:
    n_in = blocks * BY_NAME[name].block_size
    check(name, n_rows, n_out, n_in, seed=n_rows * 1000 + n_out)


@pytest.mark.parametrize("name", ["Q4_K", "Q5_0", "Q6_K", "Q8_0"])
@pytest.mark.parametrize("n_rows", [1, 5, 17])
def test_outputs_that_are_not_whole_tiles(name: str, n_rows: int) -> None:
    n_in = 2 * BY_NAME[name].block_size
    n_out = 2 * products.tile_rows(n_in) + 7  # two whole tiles and a part
    check(name, n_rows, n_out, n_in, seed=n_rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(TYPES), n_rows=st.integers(1, 12), n_out=st.integers(1, 70),
       blocks=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_any_shape(name: str, n_rows: int, n_out: int, blocks: int, seed: int) -> None:
    check(name, n_rows, n_out, blocks * BY_NAME[name].block_size, seed)


def test_threads_split_the_rows_the_same_way(monkeypatch) -> None:
    """Tiles on a pool of threads: the same bits as one thread (each tile's sums are its own)."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(products, "PARALLEL_VALUES", 0)
    rng = np.random.default_rng(3)
    n_in = 512
    rows = random_rows("Q4_K", 3 * products.tile_rows(n_in) + 5, n_in, rng)
    x = rng.standard_normal((2, n_in)).astype(np.float32)
    alone = products.matmul(x, rows, BY_NAME["Q4_K"].type_id, n_in)
    with ThreadPoolExecutor(2) as pool:
        shared = products.matmul(x, rows, BY_NAME["Q4_K"].type_id, n_in, pool)
    np.testing.assert_array_equal(alone, shared)


def test_a_type_without_a_tile_kernel_takes_quants_values() -> None:
    """Plain floats and the other types: quants.py's values, tiled the same way."""
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((50, 64)).astype(np.float16)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    got = products.matmul(x, rows.view(np.uint8), BY_NAME["F16"].type_id, 64)
    exact = x.astype(np.float64) @ rows.astype(np.float64).T
    bound = 64 * U / (1 - 64 * U) * (np.abs(x).astype(np.float64) @ np.abs(rows.astype(np.float64)).T)
    assert (np.abs(got - exact) <= bound).all()
