"""attn heads on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
the same numbers as one local process (to 1e-6), and an unreachable scheduler as one error line."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.census import TEXTS
from helpers.run_cli import attn
from helpers.schema import validate

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'attncli[dask]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_program() -> str:
    here = Path(sys.executable).parent / "dask"
    found = str(here) if here.is_file() else shutil.which("dask")
    if not found:
        pytest.skip("the dask command is not installed (pip install 'attncli[dask]')")
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    log = tmp_path_factory.mktemp("dask")
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([dask_program(), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               *common], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([dask_program(), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--local-directory", str(log), *common], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "texts.txt"
    path.write_text("\n".join(TEXTS * 4), encoding="utf-8")  # several batches
    return path


def test_the_cluster_gives_the_local_numbers(cluster, corpus):
    args = ["heads", str(corpus), "--json", "--induction-samples", "3"]
    local = attn("process", [*args, "--workers", "1"])
    remote = attn("process", [*args, "--scheduler", cluster])
    assert remote.code == 0 and remote.stderr == "", remote.stderr
    a, b = local.json(), remote.json()
    validate(b)
    assert a["corpus"] == b["corpus"]
    for x, y in zip(a["heads"], b["heads"]):
        for score in x["scores"]:
            assert abs(x["scores"][score] - y["scores"][score]) <= 1e-6
            assert max(abs(p - q) for p, q in zip(x["ci"][score], y["ci"][score])) <= 1e-6
        assert x["roles"] == y["roles"]


def test_the_environment_names_the_scheduler(cluster, corpus):
    r = attn("process", ["heads", str(corpus), "--json", "--induction-samples", "1"],
             env={"DASK_SCHEDULER_ADDRESS": cluster})
    assert r.code == 0 and r.json()["corpus"]["texts"] == len(TEXTS) * 4


def test_an_unreachable_scheduler_is_one_line(corpus):
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    r = attn("process", ["heads", str(corpus), "--scheduler", address])
    assert r.code == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"attn: error: cannot reach the Dask scheduler at '{address}'")
