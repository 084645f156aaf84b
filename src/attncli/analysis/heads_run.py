"""Where a census runs: in this process, in local worker processes (--workers N), or on a Dask cluster
(--scheduler ADDRESS). Every way cuts the same work into the same batches (BATCH texts, or the
repeated sequences), each counted into a Partial by a process that loaded the model once; the
partials are merged in the batches' order, so the numbers do not depend on how many processes ran
them (heads.py: a text's bootstrap weights depend on its index only).

At most 2 x workers batches are out at a time (locally, a bounded few more, AHEAD_BYTES of partials):
the corpus is read as it is counted, and what is held is a few batches of texts and partials, however
long the corpus.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, cast

from ..errors import AttnError, Interrupted
from .heads import Census, Options, Partial

if TYPE_CHECKING:
    from ..model import Model

BATCH = 8  # texts a batch
AHEAD_BYTES = 32 << 20  # partials --workers N may hold beyond the oldest batch out, while this process counts
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


def _serve(conn: Any, spec: str | None, max_memory: int | None, options: Options) -> None:
    """A local worker process: one BLAS thread (the workers share the cores), the model loaded once
    ("ready"), then each batch received counted and its partial sent back, until it is ended. A failure
    is sent back as the exception, for the parent to report in one line."""
    os.environ["ATTN_THREADS"] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    try:
        counter = worker_counter(spec, max_memory, options)
    except Exception as e:  # the model cannot be loaded here: say why, and stop
        conn.send(("error", _portable(e)))
        return
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent has gone
            return
        try:
            reply: tuple[str, Any] = ("partial", count_job(counter, job))
        except Exception as e:
            reply = ("error", _portable(e))
        conn.send(reply)


def _portable(e: Exception) -> Exception:
    """`e` itself if it survives pickling (most do), else an AttnError or RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return AttnError(str(e)) if isinstance(e, AttnError) else RuntimeError(f"{type(e).__name__}: {e}")


class _Workers:
    """`n` spawned processes that each load the model once and then count the batches sent down their
    own pipe, at most DEPTH at a time, in order. A worker is sent batches only once it says it is
    ready: until then its start-up delays nothing. Nothing but the pipes is shared (no manager or
    feeder thread that Ctrl-C or a killed process could leave blocked), so stopping is killing."""

    DEPTH = 2  # batches a worker may have queued: the next is there when it finishes one

    def __init__(self, n: int, spec: str | None, max_memory: int | None, options: Options) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.processes: list[Any] = []
        self.pipes: list[Any] = []
        self.tickets: list[deque[int]] = []  # each worker's batches out, oldest first
        for _ in range(n):
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=_serve, args=(theirs, spec, max_memory, options), daemon=True,
                                  name="attn-heads-worker")
            process.start()
            theirs.close()
            self.processes.append(process)
            self.pipes.append(ours)
            self.tickets.append(deque())
        self.ready = [False] * n

    def send(self, ticket: int, job: Job) -> bool:
        """Give the batch to the least busy ready worker with room; False if there is none."""
        ready = [k for k in range(len(self.pipes)) if self.ready[k]]
        i = min(ready, key=lambda k: len(self.tickets[k]), default=None)
        if i is None or len(self.tickets[i]) >= self.DEPTH:
            return False
        self.pipes[i].send(job)
        self.tickets[i].append(ticket)
        return True

    def receive(self, timeout: float) -> list[tuple[int, Partial]]:
        """The batches finished within `timeout` seconds, as (ticket, partial)."""
        from multiprocessing.connection import wait

        waiting = [p for p, t, r in zip(self.pipes, self.tickets, self.ready, strict=True) if t or not r]
        done = []
        for ready in wait(waiting, timeout) if waiting else []:
            i = self.pipes.index(ready)
            try:
                kind, value = self.pipes[i].recv()
            except (EOFError, OSError):
                code = self.processes[i].exitcode
                raise AttnError(f"a worker process ended before its batch was counted (exit status {code}); "
                                "rerun with --workers 1 to see why") from None
            if kind == "error":
                raise value if isinstance(value, BaseException) else AttnError(str(value))
            if kind == "ready":
                self.ready[i] = True
                continue
            done.append((self.tickets[i].popleft(), cast(Partial, value)))
        return done

    def close(self) -> None:
        """End every worker and wait for it. They are killed: a worker writes nothing and holds nothing
        once its partials have come back (or are no longer wanted, on Ctrl-C or an error), and one still
        loading the model after a short corpus would otherwise be waited for."""
        for process in self.processes:
            process.kill()
        for process, pipe in zip(self.processes, self.pipes, strict=True):
            process.join()
            pipe.close()


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
    """`workers` processes count the batches: this one, which has the model loaded already, and
    workers - 1 spawned ones (_Workers), each loading it once. A spawned worker takes about as long to
    start as Python and the model take to load, so this process does not wait for them: whenever each
    has DEPTH batches queued, it counts the next batch itself, holding at most AHEAD_BYTES of partials
    beyond the oldest batch still out, and the partials are merged in the batches' order."""
    import signal

    from ..threads import one_blas_thread

    counter = Census(model, options)
    total = counter.new_partial()
    window = 2 * workers + max(1, AHEAD_BYTES // total.nbytes)
    # The workers start with Ctrl-C ignored (a SIGINT ignored at exec stays ignored, and Python then
    # leaves it so): a terminal's Ctrl-C reaches the whole process group, and this process alone stops,
    # killing them. Here it only raises a flag, read between batches and every 0.2 s while waiting.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    try:
        pool = _Workers(workers - 1, spec, max_memory, options)
        try:
            signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
            order: deque[tuple[int, int]] = deque()  # (ticket, texts in it) of every batch not yet merged
            done: dict[int, Partial] = {}  # partials that came back before the batches ahead of them

            def merge(timeout: float) -> None:
                """Take what the workers finished within `timeout` s, then merge the oldest batches that are here."""
                for ticket, part in pool.receive(timeout):
                    done[ticket] = part
                if stop.is_set():
                    raise KeyboardInterrupt
                while order and order[0][0] in done:
                    ticket, n = order.popleft()
                    total.merge(done.pop(ticket))
                    counted[0] += n
                    progress(counted[0])

            for ticket, job in enumerate(work):
                if stop.is_set():
                    raise KeyboardInterrupt
                order.append((ticket, texts_in(job)))
                if not pool.send(ticket, job):  # every worker has DEPTH batches: count this one here
                    with one_blas_thread():
                        done[ticket] = count_job(counter, job)
                merge(0)
                while len(order) >= window:  # as much held as is allowed: wait for the oldest batch
                    merge(0.2)
            while order:
                merge(0.2)
            return total
        finally:
            pool.close()
    finally:
        signal.signal(signal.SIGINT, before)


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
