"""Which kernels a GGUF model's products take (checkpoints/gguf/inplace.py): numba's (the `fast`
extra) from the first forward of a model big enough to repay importing numba, from the second of a
smaller one, and everywhere once numba is imported; numpy's otherwise. The logits are the same
within float32 rounding whichever ran (the kernels themselves are checked against gguf-py in
tests/reference/test_quantized_products.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import gguf
from attncli.checkpoints.gguf import products
from helpers import synthetic_gguf

pytest.importorskip("numba", reason="the `fast` extra is not installed")

SMALL = dict(n_layer=2, d=256, d_mlp=512, n_head=4, n_kv_head=2, vocab_size=300)
IDS = [3, 77, 12, 299, 0, 5]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return synthetic_gguf.write(tmp_path_factory.mktemp("k") / "m.gguf", tied=False,
                                kinds={"attn": "Q5_0", "attn_v": "Q8_0", "ffn_down": "Q4_K"}, **SMALL)


@pytest.fixture
def unloaded(monkeypatch) -> None:
    """As at start-up: fast.py not imported yet, numba's kernels allowed."""
    monkeypatch.delenv("ATTN_KERNELS", raising=False)
    monkeypatch.setattr(products, "_fast_module", None)


def logits(path: Path) -> np.ndarray:
    model = gguf.load(path, max_memory=1)  # every matrix kept quantized: products from the blocks
    return model.forward(IDS, layers=[])["logits"]  # [T, V]


def test_a_small_model_takes_numpy_first_and_numba_from_its_second_forward(small: Path, unloaded) -> None:
    model = gguf.load(small, max_memory=1)
    first = model.forward(IDS, layers=[])["logits"]
    assert not products.compiled_loaded()  # a prompt through a small model does not pay for numba's import
    second = model.forward(IDS, layers=[])["logits"]
    assert products.compiled_loaded()
    np.testing.assert_allclose(second, first, rtol=1e-4, atol=1e-4 * np.abs(first).max())
    assert (second.argmax(-1) == first.argmax(-1)).all()


def test_a_big_model_takes_numba_from_its_first_forward(small: Path, unloaded, monkeypatch) -> None:
    monkeypatch.setattr(gguf, "COMPILED_MODEL_VALUES", 1)  # every model is big
    big = logits(small)
    assert products.compiled_loaded()
    monkeypatch.setenv("ATTN_KERNELS", "numpy")
    monkeypatch.setattr(products, "_fast_module", None)
    numpy_only = logits(small)
    assert not products.compiled_loaded()
    np.testing.assert_allclose(big, numpy_only, rtol=1e-4, atol=1e-4 * np.abs(numpy_only).max())
    assert (big.argmax(-1) == numpy_only.argmax(-1)).all()


def test_the_vocabulary_alone_does_not_import_numba(small: Path, unloaded, monkeypatch) -> None:
    """A long prompt takes numpy's tiles in every block; the one row of its unembedding would not repay the import."""
    monkeypatch.setattr(gguf, "COMPILED_MODEL_VALUES", 1)
    model = gguf.load(small, max_memory=1)
    model.forward((IDS * 3)[:products.COMPILED_ROWS + 1], layers=[]).row("logits", -1)  # as predict reads it
    assert not products.compiled_loaded()
