"""Orthanc at realistic sizes: full-size thumbnails, and client-side export of 5,000 instances.

Starts a throwaway Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``).

Thumbnails: the realistic synthetic cohort, uncompressed (``dicomlab.samples.
realistic``: 512x512 CT slices, 256x256 MR, 2,500x2,048 radiographs,
16-frame 480x640 ultrasound), stored through our STOW; 256-px JPEG thumbnails:

(a) a sequential dicomweb-client loop of ``retrieve_instance_rendered`` with no
    parameters (Orthanc renders the full image), each shrunk here with Pillow;
(b) the raw parallel ceiling: the requests ours makes (``viewport=256,256``)
    from as many raw ``requests`` workers as ours uses, own sessions;
(c) ours: ``store.fetch_thumbnails(rows, size=256)``;

and the time to the first tile on a cold store. Then the CPU that Orthanc
and this process spend per image in (a) and (b): where the time goes.
Targets: c/b <= 1.25 (>= 0.8x the ceiling's throughput); a/c >= 1.5; first
tile < 1 s.

Export: ``--instances`` synthetic instances (50 per series) stored in the same
Orthanc; ours, ``export_store_metadata`` into DuckDB (one worker per CPU),
against the raw ceiling: the same series-level ``/metadata`` requests from
raw ``requests`` workers in parallel (bytes only; no parsing). Target:
ours >= 0.8x the ceiling's throughput (time ratio <= 1.25), measured twice:

- server apart: Orthanc on half of the CPUs, this process on the others, as a
  DICOMweb server runs on a machine of its own. Both the ceiling and ours
  then ask as much of the server as it can give: the ratio says how well the
  export keeps it busy;
- CPUs shared: both on every CPU. The ceiling then has them all for Orthanc,
  while every microsecond of CPU the client spends is taken from Orthanc: the
  ratio says what Orthanc's and this process's CPU per instance add up to.

Where a row misses, the CPU that Orthanc and this process spend per instance
says how close the CPUs allow ours to come, against the CPU that fetching and
parsing the JSON alone (no rows) takes, and a profile of one export says
where this process's time goes.

Usage::

    python bench/orthanc_full.py             # 28 full-size images, 5,000 instances
    python bench/orthanc_full.py --quick     # 1/8 size, 200 instances, one run
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _profile import where_time_goes  # noqa: E402
from _results import interleaved, median_time, report  # noqa: E402
from retrieve import cpu_use  # noqa: E402

SIZE = 256
TARGET_CEILING = 1.25
TARGET_LOOP = 1.5
TARGET_FIRST = 1.0
KINDS = {"CT": 16, "MR": 8, "CR": 2, "US": 2}


def _shrink(jpeg: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(jpeg))
    image.thumbnail((SIZE, SIZE))
    out = io.BytesIO()
    image.convert("L" if image.mode in ("L", "I", "I;16") else "RGB").save(out, format="JPEG")
    return out.getvalue()


class Parallel:
    """GETs from ``workers`` raw ``requests`` sessions, kept open between runs (as ours are)."""

    def __init__(self, workers: int) -> None:
        import requests

        self.workers = workers
        self.sessions = [requests.Session() for _ in range(workers)]

    def get_all(self, urls: list[str], accept: str, parse: bool = False) -> int:
        """GET every URL, in parallel; the bytes received (``parse``: each parsed as JSON)."""

        def one(job: tuple[int, str]) -> int:
            number, url = job
            response = self.sessions[number % self.workers].get(url, headers={"Accept": accept})
            response.raise_for_status()
            if parse:
                json.loads(response.content)
            return len(response.content)

        with ThreadPoolExecutor(self.workers) as pool:
            return sum(pool.map(one, enumerate(urls)))


def thumbnails(server: Any, scratch: Path, scale: float, counts: dict, repeat: int) -> None:
    import pandas as pd
    import pydicom

    from dicomlab.samples.realistic import generate_realistic
    from dicomlab.stores.base import InstanceRef
    from dicomlab.stores.dicomweb import DICOMwebStore
    from dicomlab.stores.paths import instance_path

    paths = generate_realistic(
        scratch / "images", syntaxes=["explicit"], instances=counts, scale=scale
    )
    store = DICOMwebStore(server.dicomweb_url)
    assert store.store_files(paths).counter["success"] == len(paths)
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    uids = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    rows = pd.DataFrame([{k: str(h.get(k)) for k in uids} for h in headers])
    refs = [InstanceRef(*r) for r in rows.itertuples(index=False)]
    workers = store.thumbnail_concurrency
    base = server.dicomweb_url
    urls = [f"{base}/{instance_path(r)}/rendered?viewport={SIZE},{SIZE}" for r in refs]
    print(f"thumbnails: {len(paths)} images {counts}, scale {scale}, {workers} workers")

    def sequential() -> None:
        for ref in refs:
            full = store.client.retrieve_instance_rendered(
                ref.study, ref.series, ref.instance, media_types=("image/jpeg",)
            )
            _shrink(full)

    raw = Parallel(workers)

    def ceiling() -> None:
        raw.get_all(urls, "image/jpeg")

    def ours() -> None:
        images = store.fetch_thumbnails(rows, size=SIZE, progress=False)
        assert all(i and i[:2] == b"\xff\xd8" for i in images), "a placeholder"

    ours()  # warm the server and the connections for everyone
    ceiling()
    a, b, c = interleaved({"loop": sequential, "ceiling": ceiling, "ours": ours}, repeat).values()
    cold = DICOMwebStore(server.dicomweb_url)
    first = median_time(lambda: cold.fetch_thumbnails(rows.head(1), size=SIZE, progress=False), 1)
    busy = cpu_use(server.process.pid, ceiling, 1 if repeat == 1 else 3)
    alone = cpu_use(server.process.pid, sequential, 1 if repeat == 1 else 3)
    n = len(rows) * (1 if repeat == 1 else 3)
    print(f"(a) sequential loop, full render + shrink {a:7.3f} s   (b) raw ceiling {b:7.3f} s   "
          f"(c) ours {c:7.3f} s   first tile {first:.3f} s")  # fmt: skip
    for name, m in (("(a) no parameters", alone), ("(b) viewport=256", busy)):
        print(f"{name}: per image {1000 * m['wall'] / n:7.1f} ms wall, CPU "
              f"{1000 * m['server'] / n:7.1f} ms in Orthanc + {1000 * m['client'] / n:6.1f} ms "
              f"here; {m['share']:.0%} of {m['cpus']} CPUs busy")  # fmt: skip
    report("Orthanc full-size thumbnails: ours / raw ceiling", c, b, "<=", TARGET_CEILING)
    report("Orthanc full-size thumbnails: loop / ours", c, a, ">=", TARGET_LOOP, ratio=a / c)
    report("Orthanc full-size thumbnails: first tile, seconds", first, 1.0, "<", TARGET_FIRST)


def export(server: Any, scratch: Path, instances: int, repeat: int) -> None:
    from dicomlab.export.pipeline import default_workers, export_store_metadata
    from dicomlab.samples.synthetic import generate_cohort
    from dicomlab.stores.dicomweb import DICOMwebStore
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    per_series = 50 if instances >= 200 else 10
    folder = scratch / "cohort"
    count = generate_cohort(folder, patients=max(1, instances // (4 * per_series)),
                            studies_per_patient=2, series_per_study=2,
                            instances_per_series=per_series, seed=5)  # fmt: skip
    store = DICOMwebStore(server.dicomweb_url)
    started = time.perf_counter()
    stored = store.store_files(sorted(folder.rglob("*.dcm"))).counter["success"]
    print(f"export: {stored} of {count} instances stored in {time.perf_counter() - started:.1f} s")
    series = list(store.iter_series())
    urls = [f"{server.dicomweb_url}/studies/{st}/series/{se}/metadata" for st, se in series]
    workers = store.thumbnail_concurrency
    cpus = default_workers()

    raw = Parallel(workers)

    def ceiling() -> None:
        raw.get_all(urls, "application/dicom+json")

    def ours() -> None:
        db = scratch / f"export-{time.monotonic_ns()}.duckdb"
        result = export_store_metadata(
            DICOMwebStore(server.dicomweb_url), DuckDBWarehouse(db), table="t",
            workers=cpus, progress=False,
        )  # fmt: skip
        assert result.success == stored and result.failure == 0, result
        db.unlink()

    def parsed() -> None:
        raw.get_all(urls, "application/dicom+json", parse=True)

    ours()  # warm: imports, workers, Orthanc's caches
    ceiling()
    halves = _halves()
    for apart in ([True] if halves else []) + [False]:
        label = "server apart" if apart else "CPUs shared"
        with _pinned(server.process.pid, halves) if apart else contextlib.nullcontext():
            a, b = interleaved({"ceiling": ceiling, "ours": ours}, repeat).values()
            print(f"{label}: raw ceiling, {len(urls)} series /metadata from {workers} workers "
                  f"{a:7.3f} s ({stored / a:.0f} instances/s)   ours, {cpus} workers {b:7.3f} s "
                  f"({stored / b:.0f} instances/s)")  # fmt: skip
            name = f"Orthanc export {stored}, {label}: ours / raw ceiling"
            report(name, b, a, "<=", TARGET_CEILING)
            if b / a <= TARGET_CEILING:
                continue
            if not apart:
                _cpu_bound(server, ceiling, ours, parsed, stored, a, 1 if repeat == 1 else 3)
            print("  where the time goes in one export (this process), by own time:")
            print("\n".join(where_time_goes(ours, top=10)))


def _halves() -> tuple[set[int], set[int]] | None:
    """The CPUs for the server and for this process: halves of ours; ``None`` with one."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])


@contextlib.contextmanager
def _pinned(server_pid: int, halves: Any) -> Any:
    """Within the block, the server runs on the first half of the CPUs and this process on
    the second (every thread of each; threads started later inherit their starter's)."""
    everything = os.sched_getaffinity(0)
    _set_affinity(server_pid, halves[0])
    _set_affinity(os.getpid(), halves[1])
    try:
        yield
    finally:
        _set_affinity(server_pid, everything)
        _set_affinity(os.getpid(), everything)


def _set_affinity(pid: int, cpus: set[int]) -> None:
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that has ended
            os.sched_setaffinity(int(task), cpus)


def _cpu_bound(
    server: Any, ceiling: Any, ours: Any, parsed: Any, stored: int, ceiling_s: float, runs: int
) -> None:
    """Where the export's limit lies: the CPU that Orthanc and this process need, per instance.

    Orthanc runs on the same cores. Both runs are CPU-bound: no export can take
    less than all the CPU it needs (Orthanc's and ours) spread over every core;
    and no export can spend less than fetching and parsing the JSON take.
    """
    pid = server.process.pid
    raw, mine = cpu_use(pid, ceiling, runs), cpu_use(pid, ours, runs)
    floor = cpu_use(pid, parsed, runs)
    cpus = mine["cpus"]
    for name, m in (("raw ceiling", raw), ("fetch and parse, no rows", floor), ("ours", mine)):
        print(f"  {name}: per instance {1e6 * m['wall'] / (runs * stored):6.1f} us wall, CPU "
              f"{1e6 * m['server'] / (runs * stored):6.1f} us in Orthanc + "
              f"{1e6 * m['client'] / (runs * stored):6.1f} us here; "
              f"{m['share']:.0%} of {cpus} CPUs busy")  # fmt: skip
    bound = (mine["server"] + mine["client"]) / runs / cpus
    budget = (TARGET_CEILING * ceiling_s * cpus - mine["server"] / runs) / stored
    parsing = floor["client"] / (runs * stored)
    print(f"  the CPUs' bound for ours: {bound:.3f} s, {bound / ceiling_s:.2f} of the ceiling; "
          f"within {TARGET_CEILING} of it, this process could spend {1e6 * budget:.0f} us "
          f"an instance (it spends {1e6 * mine['client'] / (runs * stored):.0f}: fetching, "
          f"parsing the JSON, flattening, loading); fetching and parsing alone take "
          f"{1e6 * parsing:.0f} us, {'more' if parsing > budget else 'less'}")  # fmt: skip
    # No client that parses the JSON can beat this: the requests and json.loads, no rows.
    print(f"  fetching and parsing alone took {floor['wall'] / raw['wall']:.2f} of the raw "
          f"ceiling's time in these runs; ours {mine['wall'] / raw['wall']:.2f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from tests.support.orthanc import OrthancServer, missing_reason

    reason = missing_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    scale, counts = (0.125, dict.fromkeys(KINDS, 1)) if args.quick else (1.0, KINDS)
    instances, repeat = (200, 1) if args.quick else (args.instances, args.repeat)
    scratch = Path(tempfile.mkdtemp(prefix="bench-orthanc-full-"))
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    server = OrthancServer.start(scratch / "orthanc")
    try:
        export(server, scratch, instances, repeat)  # first: it counts the instances stored
        thumbnails(server, scratch, scale, counts, repeat)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
