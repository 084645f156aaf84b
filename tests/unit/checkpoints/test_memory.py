"""Memory that scales with the file: a GGUF model's matrices stay quantized in the memory-mapped file,
their products computed from the blocks; only when the float32 model fits the budget does a matrix
used more than twice get a float32 copy. The first forward is the same bits either way; the
quantized way peaks near the file's size, not four bytes a parameter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import gguf
from attncli.checkpoints.gguf.inplace import Quantized
from attncli.checkpoints.gguf.memory import COPY_AFTER
from attncli.commands.common import parse_size
from attncli.errors import UsageError
from attncli.units import binary_size
from helpers import synthetic_gguf
from helpers.run_cli import HOWS, attn, ok

SMALL = dict(n_layer=2, d=256, d_mlp=512, n_head=4, n_kv_head=2, vocab_size=1000)


@pytest.fixture(scope="module", params=["tied", "untied"])
def small(request, tmp_path_factory) -> Path:
    kinds = {"embed": "Q8_0", "attn": "Q5_0"} if request.param == "tied" else {}
    return synthetic_gguf.write(tmp_path_factory.mktemp("m") / "small.gguf", tied=request.param == "tied", kinds=kinds, **SMALL)


def test_both_paths_compute_the_same_bits_until_the_copies(small: Path) -> None:
    fast, in_place = gguf.load(small), gguf.load(small, max_memory=1)
    assert fast.memory.path == "float32" and in_place.memory.path == "quantized in place"
    W = "blocks.0.mlp.W_in"
    assert isinstance(in_place.params[W], Quantized) and isinstance(fast.params[W], Quantized)  # not dequantized
    ids = [3, 77, 12, 999, 0, 5, 5]
    a, b = fast.forward(ids), in_place.forward(ids)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)  # the same products from the blocks
    assert fast.params[W].copy is None
    for _ in range(COPY_AFTER):
        a, b = fast.forward(ids), in_place.forward(ids)
    assert fast.params[W].copy is not None and in_place.params[W].copy is None  # the float32 path copied it
    # float32 products now on one side: the same values within float32 rounding, the same predictions
    np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-4, atol=1e-4 * np.abs(b["logits"]).max())
    assert (a["logits"].argmax(-1) == b["logits"].argmax(-1)).all()
    for name, w in in_place.params.items():  # each matrix's values, from the blocks, are the float32 copy's
        np.testing.assert_array_equal(np.asarray(w), np.asarray(fast.params[name]), err_msg=name)


def test_the_embedding_is_read_row_by_row(small: Path) -> None:
    model = gguf.load(small, max_memory=1)
    W_E = model.params["embed.W_E"]
    full = np.asarray(W_E)  # [V, d]
    np.testing.assert_array_equal(W_E.rows(np.array([7, 3, 7])), full[[7, 3, 7]])


def test_an_untied_fast_path_keeps_only_the_embedding_quantized(tmp_path: Path) -> None:
    model = gguf.load(synthetic_gguf.write(tmp_path / "u.gguf", tied=False, **SMALL))
    for _ in range(COPY_AFTER + 1):
        model.forward([1, 2, 3])["logits"]  # the unembedding is used when the logits are read
    kept = {n for n, w in model.params.items() if isinstance(w, Quantized) and w.copy is None}
    assert kept == {"embed.W_E"} == model.memory.in_place  # it is only ever looked up


def test_the_plan_adds_up(small: Path) -> None:
    plan = gguf.load(small).memory
    assert plan.float32_bytes == 4 * plan.parameters and plan.file_bytes == small.stat().st_size
    # the file's matrices, the float32 norms and a few MB of tiles a thread (a tiny model's float32 copy is smaller)
    assert plan.file_bytes < plan.in_place_bytes < plan.file_bytes + (os.cpu_count() or 1) * 16 * 2**20
    assert gguf.load(small, max_memory=plan.fast_bytes).memory.path == "float32"  # exactly fits
    assert gguf.load(small, max_memory=plan.fast_bytes - 1).memory.path == "quantized in place"


@pytest.mark.parametrize("text, size", [("2G", 2 << 30), ("512M", 512 << 20), ("1.5GiB", 3 << 29), ("300000", 300000),
                                        ("64kb", 64 << 10)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "-1G", "0", "2X", "two"])
def test_bad_sizes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--max-memory"):
        parse_size(text)


def test_cli_max_memory(small: Path) -> None:
    run = ok(attn("subprocess", ["info", "-m", str(small), "--max-memory", "1K", "--json"]))
    memory = run.json()["info"]["memory"]
    assert memory["path"] == "quantized in place" and memory["budget"] == 1024
    table = ok(attn("subprocess", ["info", "-m", str(small)], env={"COLUMNS": "120"})).stdout
    assert "memory.path" in table and "float32" in table and "memory.in_place_bytes" in table
    a = ok(attn("subprocess", ["predict", "-m", str(small), "hello", "--json"])).json()["predictions"]
    b = ok(attn("subprocess", ["predict", "-m", str(small), "hello", "--json", "--max-memory", "1K"])).json()["predictions"]
    assert a == b
    bad = attn("subprocess", ["predict", "-m", str(small), "hello", "--max-memory", "lots"])
    assert bad.code == 2 and "--max-memory" in bad.stderr


@pytest.mark.parametrize("how", HOWS)
def test_sizes_are_shown_in_the_units_they_are_given_in(small: Path, how: str) -> None:
    """--max-memory 500M is 500 MiB, and shows so (it was "524.3 MB"); every size attn info shows is binary."""
    table = ok(attn(how, ["info", "-m", str(small), "--max-memory", "500M"], env={"COLUMNS": "120"})).stdout
    (budget,) = [line.split()[1:] for line in table.splitlines() if line.startswith("memory.budget")]
    assert budget == ["500.0", "MiB"]
    size = small.stat().st_size
    (shown,) = [line.split()[1:] for line in table.splitlines() if line.startswith("memory.file_bytes")]
    assert shown == [f"{size / 2**20:.1f}", "MiB"] and 2**20 < size < 2**30
    assert " MB" not in table and " GB" not in table and " KB" not in table


@pytest.mark.parametrize("n, shown", [(0, "0 bytes"), (1023, "1,023 bytes"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
                                      (500 << 20, "500.0 MiB"), (98_362_432, "93.8 MiB"), (3 << 29, "1.5 GiB"),
                                      (1000 << 30, "1,000.0 GiB"), (5 << 40, "5.0 TiB")])
def test_binary_sizes(n: int, shown: str) -> None:
    assert binary_size(n) == shown


PEAK = """
import sys
from attncli.checkpoints import load
model = load(sys.argv[1], max_memory=int(sys.argv[2]))
for _ in range(3):  # the float32 path makes its copies at the third forward
    model.forward(list(range(1, 33)))["logits"]
print([int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])
"""


def peak(path: Path, budget: int) -> int:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PEAK, str(path), str(budget)], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc (Linux)")
def test_peak_memory_scales_with_the_file(tmp_path: Path) -> None:
    path = synthetic_gguf.write(tmp_path / "m.gguf", n_layer=4, d=1024, d_mlp=4096, n_head=8, n_kv_head=2, vocab_size=32768)
    plan = gguf.load(path).memory  # ~100M parameters: ~400 MB as float32, ~60 MB as a file
    assert plan.in_place_bytes < plan.float32_bytes / 4
    baseline = peak(synthetic_gguf.write(tmp_path / "tiny.gguf", **SMALL), 1 << 40)  # python, numpy, attncli, a tokenizer
    fast, in_place = peak(path, 1 << 40), peak(path, 1)
    assert fast - baseline > 0.9 * plan.fast_bytes  # the float32 copy is really made
    assert in_place - baseline < plan.file_bytes + 80e6  # the file's pages, one matrix and a vocabulary chunk
    assert in_place - baseline < plan.in_place_bytes * 1.3
