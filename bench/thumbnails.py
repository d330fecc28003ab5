"""lab.images on the sample cohort: time to the first tile and to all 48, locally and from Orthanc.

Rows: the sample cohort's first 48 instances (by SOPInstanceUID); those
without pixel data get a labelled tile. Every run starts with a cold render
cache (a fresh data folder), so the cache does not flatter ours. A page's new
cache entries are written once the page is built (``RenderCache.hold``): the
clock stops when the tiles are there, and the writes are waited for before the
next run starts (their time is printed too). Floor and ours run interleaved,
``--repeat`` times each, and the medians count: this machine's timings drift.

Local folder store:
  floor: a sequential loop of ``dcmread`` + ``render_dataset`` over the same files;
  ours:  ``lab.images(hits, limit=48)`` (search, resolve, render, tiles).
Orthanc (when installed):
  floor: the server's ceiling, the same rendered requests from 8 raw
         ``requests`` workers with their own keep-alive sessions;
  ours:  ``lab.images`` on a DICOMweb store of the same Orthanc.
Time to the first tile: ``lab.images(hits.head(1))`` on a cold store.

Targets: all 48 at >= 0.8x the floor's throughput (ours/floor <= 1.25 in
time); first tile < 1 s.

Usage::

    python bench/thumbnails.py            # 48 thumbnails, median of 9
    python bench/thumbnails.py --quick    # 8 thumbnails, one run
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import interleaved, median_time, report  # noqa: E402

TARGET_ALL = 1.25  # ours takes at most 1.25x the floor's time: >= 0.8x its throughput
TARGET_FIRST = 1.0
SIZE = 128


def _rows(instances: Any, n: int) -> Any:
    """The first ``n`` instances, those with pixel data first (by SOPInstanceUID)."""
    has_pixels = instances["Rows"].notna()
    ordered = [instances[has_pixels], instances[~has_pixels]]
    return pd.concat([part.sort_values("SOPInstanceUID") for part in ordered]).head(n)


def local(n: int, repeat: int) -> None:
    import pydicom

    import dicomlab
    from dicomlab.core.render import render_dataset
    from dicomlab.errors import RenderError
    from dicomlab.stores.cache import RenderCache

    home = Path(tempfile.mkdtemp(prefix="bench-thumbs-"))
    lab = dicomlab.connect(home=home)
    files = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
        for p in (home / "store").rglob("*")
        if p.is_file()
    }
    hits = _rows(lab.store.search_instances(), n)

    def floor() -> None:
        for uid in hits.SOPInstanceUID:
            with contextlib.suppress(RenderError):  # no pixels: a placeholder for us
                render_dataset(pydicom.dcmread(files[uid]), size=SIZE)

    writes: list[float] = []

    def ours() -> None:
        lab.store.cache = RenderCache(tempfile.mkdtemp(prefix="bench-cache-"))  # cold
        grid = lab.images(hits, limit=n, size=SIZE, progress=False)
        assert len(grid.tiles) == len(hits)

    def flush() -> None:  # off the clock: the page is already shown
        started = time.perf_counter()
        lab.store.cache.flush()
        writes.append(time.perf_counter() - started)

    ours()  # warm imports and the file cache for both
    flush()
    a, b = interleaved({"floor": floor, "ours": ours}, repeat, after=flush).values()
    print(f"local: sequential render loop {a:6.3f} s   lab.images {b:6.3f} s  ({n} tiles; "
          f"then {statistics.median(writes):.3f} s of cache writes in the background)")  # fmt: skip
    report(f"lab.images, {n} tiles, local store / render loop", b, a, "<=", TARGET_ALL)
    first = median_time(
        lambda: dicomlab.connect(home=Path(tempfile.mkdtemp(prefix="bench-first-"))).images(
            hits.head(1), size=SIZE, progress=False
        ),
        repeat,
    )
    print(f"local: first tile (cold data folder, index built) {first:6.3f} s")
    report("time to the first tile, local store, seconds", first, 1.0, "<", TARGET_FIRST)


def orthanc(n: int, repeat: int) -> None:
    import requests

    import dicomlab
    from dicomlab.samples.sample import sample_files
    from dicomlab.stores.base import InstanceRef
    from dicomlab.stores.cache import RenderCache
    from dicomlab.stores.dicomweb import DICOMwebStore
    from dicomlab.stores.paths import instance_path
    from tests.support.orthanc import OrthancServer, missing_reason

    reason = missing_reason()
    if reason is not None:
        print(f"Orthanc: skipped ({reason})")
        return
    server = OrthancServer.start(Path(tempfile.mkdtemp(prefix="bench-orthanc-")))
    try:
        DICOMwebStore(server.dicomweb_url).store_files(sample_files())
        probe = DICOMwebStore(server.dicomweb_url)
        hits = _rows(probe.search_instances(fields=["Rows"]), n)
        refs = [InstanceRef(r.StudyInstanceUID, r.SeriesInstanceUID, r.SOPInstanceUID)
                for r in hits.itertuples()]  # fmt: skip
        workers = probe.thumbnail_concurrency
        sessions = [requests.Session() for _ in range(workers)]

        def floor() -> None:
            def one(job: tuple[int, InstanceRef]) -> None:
                number, ref = job
                url = f"{server.dicomweb_url}/{instance_path(ref)}/rendered?viewport={SIZE},{SIZE}"
                sessions[number % workers].get(url, headers={"Accept": "image/png"})

            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(one, enumerate(refs)))

        lab = dicomlab.connect(store=server.dicomweb_url, home=Path(tempfile.mkdtemp()))

        def ours() -> None:
            lab.store.cache = RenderCache(tempfile.mkdtemp(prefix="bench-cache-"))  # cold
            assert len(lab.images(hits, limit=n, size=SIZE, progress=False).tiles) == len(hits)

        ours()
        medians = interleaved({"floor": floor, "ours": ours}, repeat, lab.store.cache.flush)
        a, b = medians.values()
        print(f"Orthanc: raw parallel ceiling {a:6.3f} s   lab.images {b:6.3f} s  ({n} tiles)")
        report(f"lab.images, {n} tiles, Orthanc / raw ceiling", b, a, "<=", TARGET_ALL)
        first = median_time(
            lambda: dicomlab.connect(
                store=server.dicomweb_url, home=Path(tempfile.mkdtemp(prefix="bench-first-"))
            ).images(hits.head(1), size=SIZE, progress=False),
            repeat,
        )
        print(f"Orthanc: first tile (cold) {first:6.3f} s")
        report("time to the first tile, Orthanc, seconds", first, 1.0, "<", TARGET_FIRST)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 8, 1
    scratch = tempfile.mkdtemp(prefix="bench-thumbnails-")
    atexit.register(shutil.rmtree, scratch, True)
    tempfile.tempdir = scratch  # every folder this run makes goes under it, removed at exit
    local(args.n, args.repeat)
    orthanc(args.n, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
