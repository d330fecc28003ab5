"""Client-side metadata export against a bare ``pydicom.dcmread`` loop, on the same files.

Generates a synthetic cohort (``dicomlab.samples.synthetic``), then measures, each in a
fresh subprocess with its imports done before the clock starts:

(a)  a bare ``dcmread(stop_before_pixels=True)`` loop over the files;
(a') the same loop calling ``flatten_dataset`` on each dataset (pydicom's
     path, for comparison: the export reads most files without it);
(b)  ``export_store_metadata`` into a fresh DuckDB file with 1 worker;
(c)  the same with one worker per CPU, whose processes an earlier export of
     the same process started (they are kept between exports; the clock
     starts after that small export, as it starts after the imports of (b));
(c0) the same, the first export of the process: its workers start on the clock;
(d)  the bare loop of (a) split over one process per CPU, started and warmed
     up before the clock: the speed-up this machine gives the floor itself;

with the peak RSS of the measuring process (exact, ``getrusage``) and of its
whole process tree, workers included (sampled with psutil every 20 ms, by
this parent process). (a), (b), (c), (c0) and (d) run ``--repeat`` times,
interleaved, and the medians count: the timings of a shared 2-core machine
drift by 20 % or more.

Targets: b/a <= 1.3; b/c >= 1.7 on 2 cores; peak RSS < 1 GiB and flat in N.
Also printed: b/c0, and (b/c) / (a/d), the export's speed-up against the floor's own.

Usage::

    python bench/export.py              # N = 20,000
    python bench/export.py --n 100000
    python bench/export.py --rss        # peak RSS at N and 2N
    python bench/export.py --quick      # a tiny smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from itertools import islice
from pathlib import Path
from typing import Any

from _results import report

TARGET_B_OVER_A = 1.3
TARGET_B_OVER_C = 1.7
MIB = 1024 * 1024


def cohort_shape(n: int) -> dict[str, int]:
    """Patients × 2 studies × 2 series × up to 50 instances, about ``n`` in all."""
    per_series = max(1, min(50, n // 4))
    return {
        "patients": max(1, round(n / (4 * per_series))),
        "studies_per_patient": 2,
        "series_per_study": 2,
        "instances_per_series": per_series,
    }


def generate(folder: Path, n: int) -> tuple[int, float]:
    """Write the cohort; return the instance count and the seconds it took."""
    from dicomlab.samples.synthetic import generate_cohort

    started = time.perf_counter()
    count = generate_cohort(folder, seed=7, **cohort_shape(n))
    return count, time.perf_counter() - started


class TreeRss:
    """Peak RSS of process ``pid`` and all its descendants, sampled in a thread.

    The sampling runs here, in the parent, never in the measured process: a
    sampling thread there would take the GIL from the loop it measures.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, interval: float) -> None:
        try:
            import psutil
        except ImportError:
            return
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        tree = [root]
        while not self._stop.is_set():
            total = 0
            with contextlib.suppress(psutil.Error):
                tree = [root, *root.children(recursive=True)]
            for proc in tree:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(interval)


def child(step: str, folder: str, workers: int, db: str) -> dict[str, Any]:
    """One measurement, run in its own process; returns seconds and peak RSS."""
    # Imports happen before the clock starts, as they do for the read loop.
    import duckdb  # noqa: F401
    import pandas  # noqa: F401  (pyarrow imports it on the first date it converts)
    import pyarrow  # noqa: F401
    import pydicom
    import tqdm.auto  # noqa: F401

    import dicomlab.rows.arrow  # noqa: F401
    from dicomlab.export.pipeline import export_store_metadata
    from dicomlab.rows.flatten import flatten_dataset
    from dicomlab.stores.folder import FolderStore
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    store = FolderStore(folder)
    files = [path for _, path in store.iter_paths()]
    info: dict[str, Any] = {"files": len(files)}
    started = time.perf_counter()
    if step == "read":
        for path in files:
            pydicom.dcmread(path, stop_before_pixels=True)
    elif step == "read-parallel":
        info["seconds"] = _read_in_processes(files, workers)
    elif step == "flatten":
        for path in files:
            flatten_dataset(pydicom.dcmread(path, stop_before_pixels=True))
    else:
        if step == "export-kept":  # an earlier export starts the workers, off the clock
            warm = export_store_metadata(
                FolderStore(folder + "-warm"),
                DuckDBWarehouse(db + "-warm"),
                table="warm_up",
                workers=workers,
                progress=False,
            )
            Path(db + "-warm").unlink()
            assert warm.success and warm.workers == workers, warm
            started = time.perf_counter()
        result = export_store_metadata(
            store,
            DuckDBWarehouse(db),
            table="dicom_metadata",
            workers=workers,
            progress=False,
        )
        info.update(rows=result.success, failure=result.failure, columns=result.columns)
    info.setdefault("seconds", time.perf_counter() - started)
    info["rss_main"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return info


def _read_share(paths: list[str]) -> int:
    import pydicom

    for path in paths:
        pydicom.dcmread(path, stop_before_pixels=True)
    return len(paths)


def _read_in_processes(files: list[str], processes: int) -> float:
    """Seconds for the bare read loop over ``files`` split over warmed-up processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    shares = [files[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(_read_share, [files[:processes]] * processes))  # start and import
        started = time.perf_counter()
        assert sum(pool.map(_read_share, shares)) == len(files)
        return time.perf_counter() - started


def measure(step: str, folder: Path, workers: int, scratch: Path) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter and read its JSON answer."""
    db = scratch / f"bench-{step}-{workers}-{time.monotonic_ns()}.duckdb"
    args = [sys.executable, __file__, "--child", step, "--dir", str(folder)]
    args += ["--workers", str(workers), "--db", str(db)]
    with (
        subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as proc,
        TreeRss(proc.pid) as tree,
    ):
        out, _ = proc.communicate()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args, out)
    db.unlink(missing_ok=True)
    info: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    info["rss_tree"] = max(tree.peak, info["rss_main"])
    return info


def row(label: str, m: dict[str, Any]) -> str:
    rate = m["files"] / m["seconds"] if m["seconds"] else float("inf")
    return (
        f"{label:<34} {m['seconds']:>8.2f} {rate:>9.0f} "
        f"{m['rss_main'] / MIB:>10.0f} {m['rss_tree'] / MIB:>10.0f}"
    )


HEADER = f"{'step':<34} {'seconds':>8} {'files/s':>9} {'RSS MiB':>10} {'all MiB':>10}"


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median time (RSS and counts of that run)."""
    return sorted(runs, key=lambda m: m["seconds"])[len(runs) // 2]


def run_ratios(folder: Path, scratch: Path, cpus: int, repeat: int) -> None:
    """Steps (a), (a'), (b), (c), (c0), (d) on one cohort, then the ratios as the last lines."""
    from dicomlab.stores.folder import FolderStore

    warm = folder.with_name(folder.name + "-warm")  # for the export that starts the workers
    warm.mkdir()
    for _, path in islice(FolderStore(folder).iter_paths(), 16):
        shutil.copy(path, warm / Path(path).name)
    a2 = measure("flatten", folder, 1, scratch)
    steps = {
        "a": ("read", 1),
        "b": ("export", 1),
        "c": ("export-kept", cpus),
        "c0": ("export", cpus),
        "d": ("read-parallel", cpus),
    }
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in steps}
    for _ in range(repeat):  # interleaved: a drift of the machine touches every step alike
        for key, (step, workers) in steps.items():
            runs[key].append(measure(step, folder, workers, scratch))
    a, b, c, c0, d = (_median(runs[k]) for k in steps)
    exports = runs["b"] + runs["c"] + runs["c0"]
    assert all(m["rows"] == a["files"] - m["failure"] for m in exports), runs
    print(HEADER)
    print(row("(a)  bare dcmread loop", a))
    print(row("(a') dcmread + flatten_dataset", a2))
    print(row("(b)  export, 1 worker", b))
    print(row(f"(c)  export, {cpus} workers (kept)", c))
    print(row(f"(c0) export, {cpus} workers (first)", c0))
    print(row(f"(d)  bare loop on {cpus} processes", d))
    spread = {k: [round(m["seconds"], 2) for m in v] for k, v in runs.items()}
    print(f"medians of {repeat} interleaved runs; all runs (s): {spread}")
    ceiling = a["seconds"] / d["seconds"]
    speedup = b["seconds"] / c["seconds"]
    print(
        f"b/a' {b['seconds'] / a2['seconds']:.2f} (the export against pydicom's read+flatten); "
        f"the floor's own speed-up on {cpus} processes a/d {ceiling:.2f}; "
        f"(b/c)/(a/d) {speedup / ceiling:.2f}"
    )
    report(
        "export 1 worker vs dcmread loop (b/a)", b["seconds"], a["seconds"], "<=", TARGET_B_OVER_A
    )
    report(f"export speed-up on {cpus} workers (b/c)", c["seconds"], b["seconds"], ">=",
           TARGET_B_OVER_C, ratio=speedup)  # fmt: skip
    first = b["seconds"] / c0["seconds"]
    print(f"b/c0 {first:.2f} (the first export of a process, whose workers start on the clock)")
    print(f"b/a {b['seconds'] / a['seconds']:.2f} (target <= {TARGET_B_OVER_A})")
    print(f"b/c {speedup:.2f} (target >= {TARGET_B_OVER_C} on 2 cores; a/d {ceiling:.2f})")


def run_rss(n: int, scratch: Path, cpus: int) -> None:
    """Peak RSS of both exports at N and 2N instances."""
    print(HEADER)
    peaks: dict[int, dict[int, dict[str, Any]]] = {}
    for size in (n, 2 * n):
        folder = scratch / f"cohort-{size}"
        count, _ = generate(folder, size)
        peaks[size] = {w: measure("export", folder, w, scratch) for w in sorted({1, cpus})}
        for w, m in peaks[size].items():
            print(row(f"export N={count}, {w} worker(s)", m))
        shutil.rmtree(folder)
    for w in sorted({1, cpus}):
        small, large = peaks[n][w], peaks[2 * n][w]
        print(
            f"RSS 2N/N, {w} worker(s): main {large['rss_main'] / small['rss_main']:.2f}, "
            f"all {large['rss_tree'] / small['rss_tree']:.2f} (flat: about 1.0)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="instances (default 20,000)")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs (default 3)")
    parser.add_argument("--rss", action="store_true", help="peak RSS at N and 2N")
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.dir, args.workers, args.db)))
        return
    from dicomlab.export.pipeline import default_workers

    n = 40 if args.quick else args.n
    cpus = default_workers()
    scratch = Path(tempfile.mkdtemp(prefix="dicomlab-bench-"))
    try:
        import duckdb
        import pydicom

        print(
            f"machine: {platform.platform()}, {cpus} CPUs, Python {platform.python_version()}, "
            f"pydicom {pydicom.__version__}, duckdb {duckdb.__version__}"
        )
        if args.rss:
            run_rss(n, scratch, cpus)
            return
        count, seconds = generate(scratch / "cohort", n)
        print(f"cohort: {count} synthetic instances {cohort_shape(n)}, written in {seconds:.1f} s")
        run_ratios(scratch / "cohort", scratch, cpus, 1 if args.quick else args.repeat)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
