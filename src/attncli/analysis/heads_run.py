"""Where a census runs: in this process, in local worker processes (--workers N), or on a Dask cluster
(--scheduler ADDRESS). Every way cuts the same work into the same batches (BATCH texts, or the
repeated sequences), each counted into a Partial by a process that loaded the model once; the
partials are merged in the batches' order, so the numbers do not depend on how many processes ran
them (heads.py: a text's bootstrap weights depend on its index only).

At most 2 x workers batches are out at a time: the corpus is read as it is counted, and what is held
is a few batches of texts and partials, however long the corpus.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..errors import AttnError, Interrupted
from .heads import Census, Options, Partial

if TYPE_CHECKING:
    from ..model import Model

BATCH = 8  # texts a batch
REPEATS = 4  # repeated sequences a batch: each is two contexts' worth on a small model, so fewer
Job = tuple[str, list[Any]]  # ("texts", [(index, text), ...]) or ("repeats", [sample, ...])
Progress = Callable[[int], None]  # called with the texts counted so far


def jobs(items: Iterable[tuple[int, str]], options: Options, encoder: bool) -> Iterator[Job]:
    """The repeated sequences, REPEATS at a time, then the texts, BATCH at a time."""
    samples = list(range(options.induction_samples)) if not encoder else []
    for first in range(0, len(samples), REPEATS):
        yield "repeats", samples[first:first + REPEATS]
    it = iter(items)
    while batch := list(islice(it, BATCH)):
        yield "texts", batch


def count_job(counter: Census, job: Job) -> Partial:
    kind, payload = job
    if kind == "repeats":
        return counter.count_repeats(payload)
    return counter.count_texts(payload)


def texts_in(job: Job) -> int:
    return len(job[1]) if job[0] == "texts" else 0


# ---- in the worker processes ----------------------------------------------------------------------

_counters: dict[tuple[Any, ...], Census] = {}
_lock = threading.Lock()


def worker_counter(spec: str | None, max_memory: int | None, options: Options, pull: bool = False) -> Census:
    """This process's Census of the model `spec`: loaded the first time, then kept (a Dask worker runs
    many batches, on several threads); with `pull`, a registry model that is missing is pulled first."""
    key = (spec, max_memory, options)
    with _lock:
        if key not in _counters:
            from ..checkpoints import load

            if pull:
                _pull_if_missing(spec)
            _counters[key] = Census(load(spec, max_memory=max_memory), options)
        return _counters[key]


def _pull_if_missing(spec: str | None) -> None:
    from .. import registry

    entry = registry.named(spec)
    if entry is not None and not registry.is_present(entry):
        registry.pull(entry)


def count_remote(spec: str | None, max_memory: int | None, options: Options, job: Job,
                 pull: bool = False) -> Partial:
    """A batch counted in a worker process (local or Dask's)."""
    return count_job(worker_counter(spec, max_memory, options, pull), job)


def _init_local_worker(spec: str | None, max_memory: int | None, options: Options) -> None:
    """A local worker: one BLAS thread (the workers share the cores), the model loaded before the first batch."""
    os.environ["ATTN_THREADS"] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    worker_counter(spec, max_memory, options)


# ---- the ways to run ---------------------------------------------------------------------------

def _merged(results: Iterator[Partial], model: Model, options: Options) -> Partial:
    total = Census(model, options).new_partial()
    for part in results:
        total.merge(part)
    return total


def _in_order(submit: Callable[[Job], Any], result: Callable[[Any], Partial], work: Iterator[Job], window: int,
              progress: Progress, counted: list[int]) -> Iterator[Partial]:
    """The partials of `work` in its order, at most `window` jobs out at a time."""
    out: deque[tuple[Any, int]] = deque()
    for job in work:
        out.append((submit(job), texts_in(job)))
        while len(out) >= window:
            yield _take(out, result, progress, counted)
    while out:
        yield _take(out, result, progress, counted)


def _take(out: deque, result: Callable[[Any], Partial], progress: Progress, counted: list[int]) -> Partial:
    future, n = out[0]
    part = result(future)
    out.popleft()
    counted[0] += n
    progress(counted[0])
    return part


def run(model: Model, spec: str | None, max_memory: int | None, options: Options,
        items: Iterable[tuple[int, str]], workers: int = 1, scheduler: str | None = None,
        progress: Progress = lambda n: None) -> Partial:
    """Every text of `items` and the repeated sequences counted, in this process (workers=1), in
    `workers` local processes, or on the Dask cluster at `scheduler`. Ctrl-C stops it: Interrupted,
    saying how many texts had been counted."""
    work = jobs(items, options, model.task.sees_both_sides)
    counted = [0]
    if spec is not None and os.path.exists(os.path.expanduser(spec)):  # a path: the same file from any folder
        spec = os.path.abspath(os.path.expanduser(spec))
    try:
        if scheduler:
            return _run_dask(model, scheduler, spec, max_memory, options, work, progress, counted)
        if workers <= 1:
            from ..threads import one_blas_thread

            counter = Census(model, options)

            def one(job: Job) -> Partial:
                return count_job(counter, job)

            # BLAS's threads managed from the first product on: a short text's small products on one thread
            # (OpenBLAS's second thread waits on a busy core: threads.py), a long text's big ones on more
            with one_blas_thread():
                return _merged(_in_order(one, lambda p: p, work, 1, progress, counted), model, options)
        return _run_local(model, spec, max_memory, options, work, workers, progress, counted)
    except KeyboardInterrupt:
        n = counted[0]
        raise Interrupted(f"interrupted after {n:,} text{'' if n == 1 else 's'} had been counted; "
                          "nothing was written") from None


def _run_local(model: Model, spec: str | None, max_memory: int | None, options: Options,
               work: Iterator[Job], workers: int, progress: Progress, counted: list[int]) -> Partial:
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor, wait

    # The workers ignore Ctrl-C (a SIGINT ignored at exec stays ignored, and Python then leaves it so):
    # this process alone stops, and ends them. Each submit starts a worker until there are `workers`.
    # Here Ctrl-C only raises a flag, read between the pool's calls and every 0.2 s while waiting for a
    # batch: a KeyboardInterrupt inside the pool's own bookkeeping could leave it unable to shut down.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_local_worker, initargs=(spec, max_memory, options))
    stop = threading.Event()
    submitted = [0]

    def submit(job: Job) -> Any:
        if stop.is_set():
            raise KeyboardInterrupt
        future = pool.submit(count_remote, spec, max_memory, options, job)
        submitted[0] += 1
        if submitted[0] == workers:
            signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
        return future

    def result(future: Any) -> Partial:
        while not wait([future], timeout=0.2).done:
            if stop.is_set():
                raise KeyboardInterrupt
        if stop.is_set():
            raise KeyboardInterrupt
        return future.result()

    try:
        return _merged(_in_order(submit, result, work, 2 * workers, progress, counted), model, options)
    except BaseException:
        for p in list((getattr(pool, "_processes", None) or {}).values()):
            p.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        signal.signal(signal.SIGINT, before)
        pool.shutdown(wait=True)


def scheduler_address(given: str | None) -> str | None:
    """--scheduler, else DASK_SCHEDULER_ADDRESS, else None (run locally)."""
    return given or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


def _run_dask(model: Model, address: str, spec: str | None, max_memory: int | None, options: Options,
              work: Iterator[Job], progress: Progress, counted: list[int]) -> Partial:
    from ..errors import MissingExtraError

    try:
        from distributed import Client
    except ImportError:
        raise MissingExtraError("--scheduler runs on a Dask cluster, which needs the dask extra: "
                                "pip install 'attncli[dask]'") from None
    try:
        client = Client(address, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise AttnError(f"cannot reach the Dask scheduler at {address!r} ({why}); "
                         "check the address and that the scheduler is running") from None
    try:
        n = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values()))

        def submit(job: Job) -> Any:
            return client.submit(count_remote, spec, max_memory, options, job, True, pure=False)

        return _merged(_in_order(submit, lambda f: f.result(), work, 2 * n, progress, counted), model, options)
    finally:
        client.close()
