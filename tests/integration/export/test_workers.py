"""Worker processes of the export: shared tasks, and a pool kept between exports."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

import dicomlab.export.pipeline
import dicomlab.export.workers
from dicomlab.errors import DicomlabError
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.export.workers import _KeptPool, shared_map, shutdown_workers
from dicomlab.samples.synthetic import generate_cohort
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse


def test_shared_map_keeps_order_bounds_the_pool_and_hands_results_out_early():
    caller = threading.get_ident()
    ran_here: list[int] = []
    running, peak = [0], [0]
    lock = threading.Lock()
    finished: list[int] = []

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if threading.get_ident() == caller:
            ran_here.append(i)
        time.sleep(0.002 if i % 3 else 0.01)  # uneven tasks
        with lock:
            running[0] -= 1
            finished.append(i)
        return i * i

    results, finished_when_handed = [], []
    with ThreadPoolExecutor(4) as pool:
        for value in shared_map(pool, work, ((i,) for i in range(60)), feeders=2):
            results.append(value)
            finished_when_handed.append(len(finished))
    assert results == [i * i for i in range(60)]  # in order
    assert peak[0] == 2  # one task per feeder in the pool
    assert not ran_here  # this thread only hands out results
    assert finished_when_handed[0] < 60  # the first result came out before the last task ended


def test_shared_map_passes_errors_on():
    def work(i: int) -> int:
        if i == 7:
            raise OSError("disk full")
        return i

    with ThreadPoolExecutor(2) as pool, pytest.raises(OSError, match="disk full"):
        list(shared_map(pool, work, ((i,) for i in range(30)), feeders=1))


def _loaded(names: list[str]) -> dict[str, bool]:  # runs in a worker process
    import sys

    return {name: name in sys.modules for name in names}


def _pid(pool) -> int:
    return int(pool.submit(os.getpid).result(timeout=60))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("store")
    shape = {"studies_per_patient": 1, "series_per_study": 1, "instances_per_series": 4}
    assert generate_cohort(folder, seed=3, patients=2, **shape) == 8
    return folder


def _export(folder: Path, db: Path) -> int:
    result = export_store_metadata(
        FolderStore(folder), DuckDBWarehouse(db), table="t", workers=2, progress=False
    )
    assert result.workers == 2
    return result.success


def test_exports_keep_their_workers_until_shut_down(store, tmp_path):
    shutdown_workers()
    assert _export(store, tmp_path / "a.duckdb") == 8
    pool = dicomlab.export.workers._KEPT.pool
    assert pool is not None
    workers = set(pool._processes)  # pid -> process
    assert len(workers) == 2
    assert os.getpid() not in workers
    assert _export(store, tmp_path / "b.duckdb") == 8
    assert dicomlab.export.workers._KEPT.pool is pool  # the same processes did the second export
    assert set(pool._processes) == workers
    # each worker warmed up as it started: pydicom imported, pandas kept out of pyarrow's way
    loaded = [pool.submit(_loaded, ["pydicom", "pandas"]).result() for _ in range(4)]
    assert loaded == [{"pydicom": True, "pandas": False}] * 4
    assert shutdown_workers() is True
    assert dicomlab.export.workers._KEPT.pool is None
    assert shutdown_workers() is False


def test_idle_workers_stop_by_themselves(monkeypatch):
    monkeypatch.setattr(dicomlab.export.workers, "IDLE_SECONDS", 0.2)
    kept = _KeptPool()
    with kept.use(1, os.getpid) as pool:
        assert _pid(pool) != os.getpid()
    assert kept.pool is pool
    deadline = time.monotonic() + 30
    while kept.pool is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept.pool is None


def test_a_dead_kept_worker_is_replaced():
    kept = _KeptPool()
    with kept.use(1, os.getpid) as pool:
        worker = _pid(pool)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    while time.monotonic() < deadline:  # until the pool has noticed its dead process
        try:
            pool.submit(int)
        except BrokenProcessPool:
            break
        time.sleep(0.05)
    with kept.use(1, os.getpid) as again:
        assert again is not pool
        assert _pid(again) != worker
    assert kept.shutdown() is True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_second_user_gets_a_pool_of_its_own():
    kept = _KeptPool()
    with kept.use(1, os.getpid) as first:
        with kept.use(1, os.getpid) as second:
            assert second is not first
            assert _pid(second) != _pid(first)
        with pytest.raises(RuntimeError):  # the private pool was shut down after use
            second.submit(os.getpid)
        assert kept.pool is first
    assert kept.shutdown() is True
    with pytest.raises(RuntimeError):
        first.submit(os.getpid)


def test_a_failed_use_keeps_a_working_pool_and_drops_a_broken_one():
    kept = _KeptPool()
    with pytest.raises(ValueError, match="boom"), kept.use(1, os.getpid) as pool:
        raise ValueError("boom")
    assert kept.pool is pool
    worker = _pid(pool)
    with pytest.raises(BrokenProcessPool), kept.use(1, os.getpid) as again:
        assert again is pool and _pid(again) == worker
        again.submit(os._exit, 3).result(timeout=60)
    assert kept.pool is None
    with kept.use(1, os.getpid) as fresh:
        assert fresh is not pool and _pid(fresh) != worker
    assert kept.shutdown() is True


def test_a_pool_of_another_size_replaces_the_kept_one():
    kept = _KeptPool()
    with kept.use(1, os.getpid) as small:
        pass
    with kept.use(2, os.getpid) as large:
        assert large is not small
    with pytest.raises(RuntimeError):
        small.submit(os.getpid)
    assert kept.shutdown() is True


def _die(files, spill):  # runs in a worker process, by reference
    os._exit(3)


def test_a_worker_that_dies_fails_the_export_clearly_and_is_not_kept(store, tmp_path, monkeypatch):
    monkeypatch.setattr(dicomlab.export.pipeline, "flatten_files", _die)
    with pytest.raises(DicomlabError, match="worker process of the export died") as caught:
        _export(store, tmp_path / "a.duckdb")
    assert isinstance(caught.value.__cause__, BrokenProcessPool)
    assert dicomlab.export.workers._KEPT.pool is None
    assert not DuckDBWarehouse(tmp_path / "a.duckdb").tables()  # nothing was loaded
    monkeypatch.undo()
    assert _export(store, tmp_path / "b.duckdb") == 8
