"""Client-side export from the folder store at 10,000 and 100,000 instances: memory and growth.

Generates the synthetic cohort of ``bench/export.py`` at N and 10N instances
(in a temporary folder, deleted after), and exports each with one worker per
CPU into a fresh DuckDB file, each in a fresh subprocess (``bench/export.py``'s
``measure``: workers started by an earlier small export, off the clock, so a
fixed start-up cost does not pass for sub-linear growth), sampling the peak
RSS of the whole process tree (workers too).

Targets: peak RSS of the tree < 1 GiB at 10N; time growth from N to 10N within
10 % of linear (t(10N) / t(N) / 10 <= 1.1). Also printed: the growth exponent
k in t ~ N^k (1.0 is linear).

It takes minutes at full size (the 100,000 files are written first): run it
once, not in a loop.

Usage::

    python bench/export_scale.py            # N = 10,000 and 100,000
    python bench/export_scale.py --quick    # N = 100 and 1,000
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import report  # noqa: E402
from export import HEADER, MIB, generate, measure, row  # noqa: E402

GIB = 1024 * MIB
TARGET_GROWTH = 1.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="the smaller size (10x follows)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from dicomlab.export.pipeline import default_workers

    small = 100 if args.quick else args.n
    cpus = default_workers()
    scratch = Path(tempfile.mkdtemp(prefix="bench-export-scale-"))
    measured = {}
    try:
        print(f"{cpus} CPUs, load {os.getloadavg()[0]:.1f}")
        print(HEADER)
        for size in (small, 10 * small):
            folder = scratch / f"cohort-{size}"
            count, _ = generate(folder, size)
            warm = scratch / f"cohort-{size}-warm"  # the export that starts the workers
            warm.mkdir()
            for path in sorted(folder.rglob("*.dcm"))[:16]:
                shutil.copy(path, warm / path.name)
            measured[size] = measure("export-kept", folder, cpus, scratch)
            assert measured[size]["rows"] == count - measured[size]["failure"], measured[size]
            print(row(f"export N={count}, {cpus} workers", measured[size]))
            shutil.rmtree(folder)  # 100,000 files: gone before the next step
            shutil.rmtree(warm)
        a, b = measured[small], measured[10 * small]
        growth = b["seconds"] / a["seconds"]
        exponent = math.log(growth) / math.log(b["files"] / a["files"])
        print(f"time {10 * small} / {small}: {growth:.2f} (linear: 10); "
              f"growth exponent k = {exponent:.3f} in t ~ N^k")  # fmt: skip
        peak = max(b["rss_tree"], a["rss_tree"])
        print(f"peak RSS of the process tree: {peak / MIB:.0f} MiB (target < 1024 MiB)")
        report(f"export {b['files']}: time growth from {a['files']} / linear", growth / 10, 1.0,
               "<=", TARGET_GROWTH)  # fmt: skip
        report(f"export {b['files']}: peak RSS of the process tree / 1 GiB", peak / GIB, 1.0,
               "<", 1.0)  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
