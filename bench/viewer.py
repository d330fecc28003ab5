"""The series viewer's slider over a 200-slice 512x512 CT series: time per image shown.

A CT series of the realistic synthetic cohort (``dicomlab.samples.realistic``,
uncompressed, in a temporary folder store) is opened in a ``SeriesViewer``
(512 px) at its first slice; then the slider moves one slice at a time to the
last, one move every ``--pace`` seconds (a key held down moves it about 20
times a second). The time per image shown is the time the slider's callback
takes: fetch, decode, window, PNG, widgets updated.

  ours:  ``SeriesViewer(prefetch=4)`` (the default: neighbours rendered ahead);
  floor: the same viewer with ``prefetch=0`` (each image made when asked for),
         and a bare ``dcmread`` + ``render_dataset`` PNG per slice, for scale.

Sweeps alternate (interleaved) ``--repeat`` times; the median over every
move after the first counts. Target: median under 50 ms with prefetching
(reported as ours / 50 ms <= 1).

Usage::

    python bench/viewer.py            # 200 slices of 512x512, 3 sweeps each
    python bench/viewer.py --quick    # 20 slices of 128x128, one sweep
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _profile import where_time_goes  # noqa: E402
from _results import report  # noqa: E402

BUDGET = 0.050  # seconds per image shown


def sweep(store: object, prefetch: int, pace: float) -> list[float]:
    """Seconds per slider move over the whole series, first image excluded."""
    from dicomlab.notebook.viewer import SeriesViewer

    row = store.search_instances().iloc[0]  # type: ignore[attr-defined]
    viewer = SeriesViewer(
        store,  # type: ignore[arg-type]
        row["StudyInstanceUID"],
        row["SeriesInstanceUID"],
        size=512,
        start=0,
        prefetch=prefetch,
    )
    times = []
    try:
        for index in range(1, len(viewer)):
            time.sleep(pace)  # the user's pace, off the clock
            started = time.perf_counter()
            viewer.instance_slider.value = index
            times.append(time.perf_counter() - started)
            assert viewer.message is None, viewer.message
    finally:
        viewer.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between moves")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import pydicom

    from dicomlab.core.render import render_dataset
    from dicomlab.samples.realistic import generate_realistic
    from dicomlab.stores.folder import FolderStore

    slices, scale = (20, 0.25) if args.quick else (args.slices, 1.0)
    repeat = 1 if args.quick else args.repeat
    scratch = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    try:
        paths = generate_realistic(
            scratch, kinds=["CT"], syntaxes=["explicit"], instances=slices, scale=scale
        )
        store = FolderStore(scratch)
        print(f"series: {len(paths)} CT slices, scale {scale}, one move every {args.pace} s; "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        sweep(store, 0, 0)  # warm: index, imports, file cache
        runs: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(repeat):
            runs["without"] += sweep(store, 0, args.pace)
            runs["with"] += sweep(store, 4, args.pace)
        bare = []
        for path in paths[: min(40, len(paths))]:
            started = time.perf_counter()
            render_dataset(pydicom.dcmread(path), size=512)
            bare.append(time.perf_counter() - started)
        without, ours = statistics.median(runs["without"]), statistics.median(runs["with"])
        slow = sorted(runs["with"])[int(0.9 * len(runs["with"]))]
        print(f"per image shown: prefetch=4 median {1000 * ours:6.1f} ms (90th percentile "
              f"{1000 * slow:.1f} ms)   prefetch=0 {1000 * without:6.1f} ms   "
              f"bare dcmread+render {1000 * statistics.median(bare):6.1f} ms")  # fmt: skip
        report("series viewer 512px, median per image / 50 ms", ours, BUDGET, "<=", 1.0)
        report("series viewer: prefetch=4 / prefetch=0, per image", ours, without, "<=", 1.0)
        if ours > BUDGET:
            print("  where the time goes in a sweep with prefetch=4, by own time:")
            print("\n".join(where_time_goes(lambda: sweep(store, 4, args.pace))))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
