"""Worker processes of the client-side export, kept between exports.

Starting a worker costs a new interpreter and its imports (pydicom, pyarrow,
pandas): about half a second of CPU, which a short export on two cores cannot
hide. The first export of a Python process starts its workers; they are then
kept for the next export with as many workers, and stop once idle for
:data:`IDLE_SECONDS`, at :func:`shutdown_workers`, or when Python exits. A
pool whose process died is not kept.

:func:`shared_map` spreads tasks over the pool and hands the results out in order.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import resource_tracker
from typing import Any, TypeVar

from loky.backend.context import LokyContext
from loky.backend.process import LokyProcess

__all__ = ["IDLE_SECONDS", "shared_map", "shutdown_workers", "worker_pool"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Seconds an idle pool is kept for the next export before its processes stop.
IDLE_SECONDS = 600.0


class _QuietProcess(LokyProcess):  # type: ignore[misc]
    """A loky worker process that starts with Ctrl-C blocked.

    A terminal or a Jupyter kernel sends SIGINT to the whole process group; a
    worker still importing would die with a traceback of its own. A signal
    mask survives fork and exec, a handler does not: :func:`_init_worker` then
    ignores SIGINT for good and unblocks it.
    """

    def start(self) -> None:
        # Python 3.11's resource tracker unblocks SIGINT as it starts (on a
        # worker's launch): start it first, so it does not clear this mask.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _QuietContext(LokyContext):  # type: ignore[misc]
    """loky's start method: a fresh interpreter per worker that never imports ``__main__``.

    multiprocessing's ``spawn`` and ``forkserver`` run the caller's main script
    again in every worker, so a plain script without an
    ``if __name__ == "__main__":`` guard started its own export in each one.
    The workers run dicomlab's functions only and need nothing from ``__main__``;
    loky (the engine behind joblib) starts them without it, and like
    ``forkserver`` it is safe beside threads (DuckDB, tqdm). Each worker imports
    what it needs (``warm_up``) as it starts, while this process lists the store.
    """

    Process = _QuietProcess


def _init_worker(warm_up: Callable[[], Any]) -> None:
    """Leave Ctrl-C to the parent for good, then warm up.

    The parent stops the export on Ctrl-C; the workers must neither die with
    a traceback each nor leave the pool broken. A SIGINT that came while the
    worker started is still pending, and is dropped with the new disposition.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    warm_up()


class _KeptPool:
    """One process pool kept between uses, stopped after :data:`IDLE_SECONDS` idle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0
        self._in_use = False
        self._timer: threading.Timer | None = None

    @contextlib.contextmanager
    def use(self, size: int, warm_up: Callable[[], Any]) -> Iterator[ProcessPoolExecutor]:
        """The kept pool of ``size`` processes (started, with ``warm_up``, if need be).

        While another caller uses the kept pool, this one gets a pool of its
        own, stopped after use. A pool that no longer works (a process died)
        is not kept: after a use, or before one, once the pool has seen the
        process die (a process killed a moment before fails that use, with
        ``BrokenProcessPool``). Tasks still running after a use that raised
        finish in the background.
        """
        with self._lock:
            kept = not self._in_use
            if kept:
                self._cancel_timer()
                if self._pool is None or self._size != size or not _alive(self._pool):
                    self._stop()
                    self._pool, self._size = _start(size, warm_up), size
                self._in_use = True
            pool = self._pool if kept else None
        if pool is None:  # another caller has the kept pool
            pool = _start(size, warm_up)
        try:
            yield pool
        finally:
            if kept:
                self._release()
            else:
                pool.shutdown(wait=True, cancel_futures=True)

    def _release(self) -> None:
        """The kept pool is free again: kept while idle if it still works, else stopped."""
        with self._lock:
            self._in_use = False
            if self._pool is not None and not _alive(self._pool):
                self._stop()
                return
            self._timer = threading.Timer(IDLE_SECONDS, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def shutdown(self) -> bool:
        """Stop the kept pool unless it is in use; whether there was one to stop."""
        with self._lock:
            if self._in_use or self._pool is None:
                return False
            self._cancel_timer()
            self._stop()
            return True

    def _expire(self) -> None:
        if self.shutdown():
            logger.info("stopped the export's idle worker processes")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool, self._size = None, 0

    @property
    def pool(self) -> ProcessPoolExecutor | None:
        """The kept pool, if any (for tests)."""
        return self._pool


def _start(size: int, warm_up: Callable[[], Any]) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(
        size, mp_context=_QuietContext(), initializer=_init_worker, initargs=(warm_up,)
    )
    for _ in range(size):  # one process starts per task: all start now, and warm up
        pool.submit(int)  # while this process goes on
    return pool


def _alive(pool: ProcessPoolExecutor) -> bool:
    """Whether ``pool`` takes work (none of its processes died while it was kept)."""
    try:
        pool.submit(int)
    except (BrokenProcessPool, RuntimeError):
        return False
    return True


_KEPT = _KeptPool()


def worker_pool(size: int, warm_up: Callable[[], Any]) -> contextlib.AbstractContextManager[Any]:
    """A pool of ``size`` worker processes, kept for the next call once this one ends.

    ``warm_up`` (a module-level function) runs in each new process as it
    starts: it imports what the tasks need while the caller goes on.
    """
    return _KEPT.use(size, warm_up)


def shutdown_workers() -> bool:
    """Stop the export's idle worker processes now, rather than after :data:`IDLE_SECONDS`.

    Returns whether there were any. Worker processes of an export still running
    are left alone.

    >>> shutdown_workers() in (True, False)
    True
    """
    return _KEPT.shutdown()


def shared_map(
    pool: Executor,
    fn: Callable[..., _T],
    tasks: Iterable[tuple[Any, ...]],
    feeders: int,
) -> Iterator[_T]:
    """``fn(*task)`` for each task in ``pool``, results in task order as soon as they are in.

    ``feeders`` threads each keep one task in the pool (one per pool process)
    and take the next from one queue when it is done: no task waits in a
    queue while a process is idle, so all finish together. This thread only
    hands out the results: a thread that computed here would hold the GIL
    the feeders need to hand the pool its next task (reading files, it
    would even starve them: each system call takes the GIL back at once).

    Errors are raised here; a dead pool process raises
    :class:`~concurrent.futures.process.BrokenProcessPool`.
    """
    cond = threading.Condition(threading.Lock())
    pending = enumerate(tasks)
    results: dict[int, _T] = {}
    errors: list[BaseException] = []
    running = [feeders]
    stop = threading.Event()

    def take() -> tuple[int, tuple[Any, ...]] | None:
        with cond:
            return None if stop.is_set() else next(pending, None)

    def feed() -> None:
        try:
            while (task := take()) is not None:
                index, args = task
                value = pool.submit(fn, *args).result()
                with cond:
                    results[index] = value
                    cond.notify()
        except BaseException as exc:  # handed to the caller's thread
            with cond:
                errors.append(exc)
                stop.set()
        finally:
            with cond:
                running[0] -= 1
                cond.notify()

    def in_order() -> list[_T]:
        """The results next in order, once there is one (none: all done); or a feeder's error."""
        with cond:
            while not errors and done not in results and running[0]:
                cond.wait()
            if errors:
                raise errors[0]
            batch: list[_T] = []
            while (index := done + len(batch)) in results:
                batch.append(results.pop(index))
            return batch

    threads = [threading.Thread(target=feed, daemon=True) for _ in range(feeders)]
    for thread in threads:
        thread.start()
    done = 0
    try:
        while batch := in_order():
            for value in batch:
                done += 1
                yield value
    finally:
        stop.set()
        for thread in threads:
            thread.join()
