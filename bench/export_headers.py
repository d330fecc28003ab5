"""Client-side export of files with real CT headers, against a bare ``pydicom.dcmread`` loop.

The cohort (``dicomlab.samples.realistic.generate_rich_headers``): files
shaped like pydicom's ``CT_small.dcm``, its full header (258 elements: GE
private blocks, a sequence) plus sequences of its own, new UIDs per file, a
128x128 slice each; the synthetic cohort of ``bench/export.py`` has about 40
elements a file. Each step runs in a fresh subprocess (``bench/export.py``'s
``measure``: imports before the clock, peak RSS of the process tree):

(a) a bare ``dcmread(stop_before_pixels=True)`` loop over the files;
(b) ``export_store_metadata`` into a fresh DuckDB file with 1 worker;
(c) the same with one worker per CPU (workers started by an earlier export).

``--repeat`` interleaved runs, medians. Targets: b/a <= 1.3; c/a <= 0.75 on
2 cores. Where one is missed, (a') ``dcmread`` + ``flatten_dataset``
(pydicom's path) and (d) the bare loop on one process per CPU are measured
too: how far the floor itself goes.

Usage::

    python bench/export_headers.py            # N = 10,000
    python bench/export_headers.py --quick    # 100 files, one run
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _profile import where_time_goes  # noqa: E402
from _results import report  # noqa: E402
from export import HEADER, _median, measure, row  # noqa: E402

TARGET_ONE = 1.3
TARGET_TWO = 0.75


def export_once(folder: Path, scratch: Path) -> None:
    """One in-process export with 1 worker, to profile."""
    from dicomlab.export.pipeline import export_store_metadata
    from dicomlab.stores.folder import FolderStore
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    db = scratch / f"profile-{time.monotonic_ns()}.duckdb"
    result = export_store_metadata(
        FolderStore(folder), DuckDBWarehouse(db), table="t", workers=1, progress=False
    )
    assert result.failure == 0, result
    db.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from dicomlab.export.pipeline import default_workers
    from dicomlab.samples.realistic import generate_rich_headers
    from dicomlab.stores.folder import FolderStore

    n, repeat = (100, 1) if args.quick else (args.n, args.repeat)
    cpus = default_workers()
    scratch = Path(tempfile.mkdtemp(prefix="bench-export-headers-"))
    try:
        folder = scratch / "cohort"
        started = time.perf_counter()
        generate_rich_headers(folder, n=n, seed=11)
        print(f"cohort: {n} files with CT_small's header, written in "
              f"{time.perf_counter() - started:.1f} s; {cpus} CPUs, "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        warm = scratch / "cohort-warm"  # for the export that starts the workers
        warm.mkdir()
        for _, path in islice(FolderStore(folder).iter_paths(), 16):
            shutil.copy(path, warm / Path(path).name)
        steps = {"a": ("read", 1), "b": ("export", 1), "c": ("export-kept", cpus)}
        runs: dict[str, list] = {k: [] for k in steps}
        for _ in range(repeat):
            for key, (step, workers) in steps.items():
                runs[key].append(measure(step, folder, workers, scratch))
        a, b, c = (_median(runs[k]) for k in steps)
        assert all(m["rows"] == n - m["failure"] for m in runs["b"] + runs["c"]), runs
        print(HEADER)
        print(row("(a) bare dcmread loop", a))
        print(row("(b) export, 1 worker", b))
        print(row(f"(c) export, {cpus} workers (kept)", c))
        report("rich headers: export 1 worker / dcmread loop", b["seconds"], a["seconds"], "<=",
               TARGET_ONE)  # fmt: skip
        report(f"rich headers: export {cpus} workers / dcmread loop", c["seconds"], a["seconds"],
               "<=", TARGET_TWO)  # fmt: skip
        missed = (
            b["seconds"] / a["seconds"] > TARGET_ONE or c["seconds"] / a["seconds"] > TARGET_TWO
        )
        if missed and not args.quick:
            print(row("(a') dcmread + flatten_dataset", measure("flatten", folder, 1, scratch)))
            d = measure("read-parallel", folder, cpus, scratch)
            print(row(f"(d) bare loop on {cpus} processes", d))
            ceiling, ours = a["seconds"] / d["seconds"], c["seconds"] / d["seconds"]
            print(f"the floor's own speed-up on {cpus} processes a/d {ceiling:.2f}; c/d {ours:.2f}")
        if missed:
            export_once(folder, scratch)  # imports and first-use set-up, off the profile
            print("  where the time goes in export_store_metadata, 1 worker, by own time:")
            print("\n".join(where_time_goes(lambda: export_once(folder, scratch), top=12)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
