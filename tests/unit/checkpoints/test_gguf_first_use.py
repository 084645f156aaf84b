"""A GGUF tensor's scales are checked when it is first used, not at load: loading reads none of the
weights' pages, and a corrupt tensor is still refused, in one line, before its values are used."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import gguf
from attncli.checkpoints.gguf import products
from attncli.checkpoints.gguf.reader import read_header
from attncli.errors import ModelError
from helpers import synthetic_gguf
from helpers.run_cli import HOWS, assert_one_error_line, attn

SMALL = dict(n_layer=2, d=256, d_mlp=512, n_head=4, n_kv_head=2, vocab_size=300)
INF16 = np.array([np.inf], dtype="<f2").view(np.uint8)  # [2]: float16 +inf, little-endian


def broken(path: Path, tensor: str, block: int = 5) -> Path:
    """The file with block `block` of `tensor`'s float16 d (Q4_K: bytes 0-1 of its 144) set to infinity."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        _, tensors = read_header(memoryview(mm), path)
        offset = tensors[tensor].offset
        mm.close()
    data = bytearray(path.read_bytes())
    data[offset + 144 * block:offset + 144 * block + 2] = INF16.tobytes()
    out = path.with_name("broken.gguf")
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return synthetic_gguf.write(tmp_path_factory.mktemp("g") / "m.gguf", tied=False, **SMALL)


@pytest.mark.parametrize("max_memory", [None, 1])
@pytest.mark.parametrize("n_tokens", [3, 40])  # the scales checked by the product itself; by a pass of their own
@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_loading_reads_no_tensor_a_forward_refuses_the_corrupt_one(good: Path, max_memory: int | None, n_tokens: int,
                                                                   kernels: str, monkeypatch) -> None:
    if kernels == "numba":
        pytest.importorskip("numba", reason="the `fast` extra is not installed")
        monkeypatch.setattr(gguf, "COMPILED_MODEL_VALUES", 1)  # numba's kernels from the first forward
    monkeypatch.setenv("ATTN_KERNELS", kernels)
    monkeypatch.setattr(products, "_fast_module", None)
    path = broken(good, "blk.1.ffn_up.weight")
    model = gguf.load(path, max_memory=max_memory)  # nothing of the matrices is read yet
    with pytest.raises(ModelError) as e:
        model.forward(list(range(1, n_tokens + 1)))
    msg = str(e.value)
    assert "blk.1.ffn_up.weight" in msg and "NaN or infinite scales" in msg and str(path) in msg and "\n" not in msg


def test_an_embedding_row_is_checked_when_looked_up(good: Path) -> None:
    path = broken(good, "token_embd.weight", block=0)  # block 0 of row 0: d = 256, one block a row
    model = gguf.load(path)
    model.forward([7, 8])  # rows 7 and 8 are sound
    with pytest.raises(ModelError, match="token_embd.weight has NaN or infinite scales"):
        model.forward([0, 8])


@pytest.mark.parametrize("how", HOWS)
def test_the_cli_says_so_in_one_line(good: Path, how: str) -> None:
    path = broken(good, "blk.0.attn_q.weight")
    run = attn(how, ["predict", "-m", str(path), "hello"])
    assert run.code != 0 and run.stdout == ""
    line = assert_one_error_line(run)
    assert "blk.0.attn_q.weight" in line and "download them again" in line
