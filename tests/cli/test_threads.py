"""BLAS threads sized to the product (threads.py): one below the cut-over, the free cores above it,
ATTN_THREADS and a user's OPENBLAS_NUM_THREADS obeyed, threadpoolctl imported only when a big
product happens (not by the bundled model's `attn explain`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from attncli import threads

BIG = 4 * threads.CUTOVER_FLOPS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch) -> None:
    monkeypatch.delenv("ATTN_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)


def test_small_products_take_one_thread(monkeypatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert threads.wanted(threads.CUTOVER_FLOPS - 1) == 1
    assert threads.wanted(BIG) == 4


@pytest.mark.parametrize("load, free", [(0.0, 4), (1.0, 4), (2.0, 3), (2.4, 3), (3.6, 1), (9.0, 1)])
def test_big_products_take_the_cores_the_load_leaves(monkeypatch, load: float, free: int) -> None:
    """The load average counts this process's own thread too: 1.0 of it is ours."""
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert threads.wanted(BIG) == free


def test_attn_threads_overrides_the_load(monkeypatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    monkeypatch.setenv("ATTN_THREADS", "3")
    assert threads.wanted(BIG) == 3 and threads.wanted(1000) == 1
    monkeypatch.setenv("ATTN_THREADS", "nonsense")  # not a positive integer: as if unset
    assert threads.wanted(BIG) == 1


def test_a_users_openblas_setting_is_left_alone(monkeypatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.wanted(BIG) is None and threads.wanted(10) is None
    assert threads.cores() == 2  # and our own products use as many


SCRIPT = """
import sys
import numpy as np
from attncli import weights
weights.product(np.ones((6, 192), np.float32), np.ones((192, 768), np.float32))  # the bundled model's size
print("threadpoolctl" in sys.modules)
weights.product(np.ones((128, 896), np.float32), np.ones((896, 4864), np.float32))  # 1.1 GFLOP
print("threadpoolctl" in sys.modules)
if "threadpoolctl" in sys.modules:
    import threadpoolctl
    print([i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"][0])
"""


def run(env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("ATTN_THREADS", "OPENBLAS_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env={**base, **env},
                         check=True)
    return out.stdout.split()


@pytest.mark.parametrize("n", ["1", "2"])
def test_a_big_product_sets_blas_threads_and_a_small_one_imports_nothing(n: str) -> None:
    assert run({"ATTN_THREADS": n}) == ["False", "True", n]


def test_with_openblas_num_threads_set_nothing_is_touched() -> None:
    assert run({"OPENBLAS_NUM_THREADS": "1"}) == ["False", "False"]


def test_attn_explain_on_the_bundled_model_does_not_import_threadpoolctl() -> None:
    attn = os.path.join(os.path.dirname(sys.executable), "attn")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([attn, "explain", "I do not like spinach"], capture_output=True, text=True,
                         env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert out.returncode == 0 and "attn.weights" in out.stdout  # it ran: the tables are there
    assert "numpy" in out.stderr and "threadpoolctl" not in out.stderr  # the import log is on stderr
