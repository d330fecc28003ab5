"""Rendered thumbnails from a real Orthanc: ours against a sequential loop and the server's ceiling.

Starts a throwaway Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``),
loads the sample cohort through our STOW, and fetches N rendered JPEG
thumbnails (128 px viewport) of the cohort's instances with pixels (repeated
in order to make N; no cache anywhere):

(a) a sequential loop of dicomweb-client ``retrieve_instance_rendered`` calls;
(b) the server's ceiling: the same requests from as many raw ``requests``
    workers as ours uses, each with its own keep-alive session;
(c) ours: ``store.fetch_thumbnails(df, size=128)`` (one session, bounded pool);

plus the time to the first thumbnail of a cold ``fetch_thumbnails`` call.
Each timing is the median of ``--repeat`` interleaved runs (the machine drifts).
Then the CPU time of Orthanc and of this process per image during (a) and (b),
over ten runs of each, and the most the ceiling's CPU per image allows on the
whole machine: the loop's wall time per image over (ceiling CPU per image / CPUs).

Targets: a/c >= 2 (ours at least twice as fast as the sequential loop);
c/b <= 1.25 (ours takes at most 1.25x the ceiling's time, i.e. reaches at
least 0.8x its throughput); first thumbnail < 1 s.

With ``--profile SECONDS``, the ceiling then runs in a loop for that long
under ``perf record`` (Orthanc, where Linux ``perf`` is installed) and
``py-spy record`` (this process, where ``py-spy`` is installed), and their
summaries are printed: where each side's time goes.

Usage::

    python bench/retrieve.py             # N = 48
    python bench/retrieve.py --profile 6
    python bench/retrieve.py --quick     # a tiny smoke run
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import interleaved, median_time, report  # noqa: E402

TARGET_A_OVER_C = 2.0
TARGET_C_OVER_B = 1.25  # ours takes at most 1.25x the ceiling's time: >= 0.8x its throughput
TARGET_FIRST = 1.0
SIZE = 128


def cpu_use(server_pid: int, run: Callable[[], object], times: int) -> dict[str, float]:
    """CPU seconds of the server and of this process during ``times`` runs, and their share."""
    import os
    import resource
    import time

    def server_cpu() -> float:
        fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def client_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cpus = len(os.sched_getaffinity(0))
    server, client, started = server_cpu(), client_cpu(), time.perf_counter()
    for _ in range(times):
        run()
    wall = time.perf_counter() - started
    used = {"server": server_cpu() - server, "client": client_cpu() - client}
    share = (used["server"] + used["client"]) / (wall * cpus)
    return {**used, "wall": wall, "cpus": cpus, "share": share}


def profile(server_pid: int, ceiling: Callable[[], object], seconds: float) -> list[str]:
    """Summaries of ``perf`` (the server) and ``py-spy`` (this process) while ``ceiling`` loops."""
    import shutil
    import threading

    scratch = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    perf = shutil.which("perf")
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            ceiling()

    looping = threading.Thread(target=loop)
    looping.start()
    try:
        _record(perf, spy, server_pid, seconds, scratch)
    finally:
        stop.set()
        looping.join()
    lines = [_server_profile(perf, scratch / "server.perf"), _client_profile(spy, scratch)]
    shutil.rmtree(scratch, ignore_errors=True)
    return lines


def _record(perf: str | None, spy: str | None, pid: int, seconds: float, scratch: Path) -> None:
    import math
    import os
    import subprocess

    commands = []
    if perf:
        commands.append([perf, "record", "-F", "499", "-g", "-p", str(pid)])
        commands[-1] += ["-o", str(scratch / "server.perf"), "--", "sleep", str(seconds)]
    if spy:
        commands.append([spy, "record", "--idle", "--threads", "-r", "200", "-f", "raw"])
        commands[-1] += ["-d", str(math.ceil(seconds)), "-o", str(scratch / "client.txt")]
        commands[-1] += ["-p", str(os.getpid())]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    for process in [subprocess.Popen(command, **quiet) for command in commands]:
        process.wait()


def _server_profile(perf: str | None, data: Path) -> str:
    """Orthanc's samples by library, from ``perf report``."""
    import subprocess

    if not perf:
        return "perf not found (Debian: apt-get install linux-perf): no server profile"
    if not data.exists():
        return "perf record failed: no server profile"
    command = [perf, "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso"]
    report = subprocess.run([*command, "-g", "none"], capture_output=True, text=True).stdout
    shares = [line.split(maxsplit=1) for line in report.splitlines() if "%" in line[:12]]
    top = ", ".join(f"{name.strip()} {share}" for share, name in shares[:10])
    return f"server (perf, Orthanc's samples by library): {top}"


def _client_profile(spy: str | None, scratch: Path) -> str:
    """The leaf frames of this process's threads but the main one, from ``py-spy``."""
    from collections import Counter

    if not spy:
        return "py-spy not found (pip install py-spy): no client profile"
    if not (scratch / "client.txt").exists():
        return "py-spy record failed: no client profile"
    leaves: Counter[str] = Counter()
    for line in (scratch / "client.txt").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) > 1 and "MainThread" not in frames[0]:  # not the thread waiting here
            leaves[frames[-1].split(" (")[0]] += int(count)
    total = sum(leaves.values()) or 1
    top = ", ".join(f"{name} {n / total:.0%}" for name, n in leaves.most_common(6))
    return f"client (py-spy, leaf frames of the ceiling's threads, idle included): {top}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=48, help="thumbnails per run")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="8 thumbnails, one run")
    parser.add_argument(
        "--profile", type=float, metavar="SECONDS", help="then profile the ceiling for SECONDS"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 8, 1
    scratch = tempfile.mkdtemp(prefix="bench-retrieve-")
    atexit.register(shutil.rmtree, scratch, True)
    tempfile.tempdir = scratch  # every folder this run makes goes under it, removed at exit

    import pandas as pd
    import requests

    from dicomlab.samples.sample import sample_files
    from dicomlab.stores.base import InstanceRef
    from dicomlab.stores.dicomweb import DICOMwebStore
    from dicomlab.stores.paths import instance_path
    from tests.support.orthanc import OrthancServer, missing_reason

    reason = missing_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    server = OrthancServer.start(Path(tempfile.mkdtemp(prefix="bench-orthanc-")))
    try:
        store = DICOMwebStore(server.dicomweb_url)
        loaded = store.store_files(sample_files())
        hits = store.search_instances(fields=["Rows"])
        hits = hits[hits["Rows"].notna()].sort_values("SOPInstanceUID")
        rows = pd.concat([hits] * (args.n // len(hits) + 1)).head(args.n)
        workers = store.thumbnail_concurrency
        refs = [
            (r.StudyInstanceUID, r.SeriesInstanceUID, r.SOPInstanceUID) for r in rows.itertuples()
        ]
        print(f"Orthanc at {server.dicomweb_url}: {loaded.counter['success']} instances stored")
        print(f"{len(rows)} thumbnails ({len(hits)} distinct instances), {workers} workers")

        def sequential() -> None:
            for ref in refs:
                store.client.retrieve_instance_rendered(
                    *ref, media_types=("image/jpeg",), params={"viewport": f"{SIZE},{SIZE}"}
                )

        sessions = [requests.Session() for _ in range(workers)]

        def ceiling() -> None:
            def one(job: tuple[int, tuple[str, str, str]]) -> int:
                number, ref = job
                path = instance_path(InstanceRef(*ref))
                url = f"{server.dicomweb_url}/{path}/rendered?viewport={SIZE},{SIZE}"
                response = sessions[number % workers].get(url, headers={"Accept": "image/jpeg"})
                response.raise_for_status()
                return len(response.content)

            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(one, enumerate(refs)))

        def ours() -> None:
            images = store.fetch_thumbnails(rows, size=SIZE, progress=False)
            assert len(images) == len(rows) and all(images)

        ours()  # warm the server's caches and the connections alike for everyone
        steps = {"sequential": sequential, "ceiling": ceiling, "ours": ours}
        a, b, c = interleaved(steps, args.repeat).values()
        # CPU over several runs: the server's CPU time is counted in 10 ms ticks
        runs = 1 if args.quick else 10
        busy = cpu_use(server.process.pid, ceiling, runs)
        alone = cpu_use(server.process.pid, sequential, runs)
        profiles = (
            [] if args.profile is None else profile(server.process.pid, ceiling, args.profile)
        )
        cold = DICOMwebStore(server.dicomweb_url)
        first = median_time(
            lambda: cold.fetch_thumbnails(rows.head(1), size=SIZE, progress=False), 1
        )
    finally:
        server.stop()

    print(f"(a) sequential dicomweb-client loop  {a:7.3f} s  {len(rows) / a:7.1f} images/s")
    print(f"(b) raw parallel requests ceiling    {b:7.3f} s  {len(rows) / b:7.1f} images/s")
    print(f"(c) ours, fetch_thumbnails           {c:7.3f} s  {len(rows) / c:7.1f} images/s")
    print(f"first thumbnail (cold store)         {first:7.3f} s  target < {TARGET_FIRST:.0f} s")
    images = len(rows) * runs
    per_image = {
        name: {k: 1000 * m[k] / images for k in ("server", "client", "wall")}
        for name, m in (("(a)", alone), ("(b)", busy))
    }
    for name, m in per_image.items():
        print(
            f"{name} per image: {m['wall']:.3f} ms of wall time; CPU {m['server']:.3f} ms in "
            f"Orthanc + {m['client']:.3f} ms here = {m['server'] + m['client']:.3f} ms"
        )
    best = per_image["(a)"]["wall"] / (
        (per_image["(b)"]["server"] + per_image["(b)"]["client"]) / busy["cpus"]
    )
    print(
        f"the ceiling's own speed-up over the loop a/b {a / b:.2f}; during (b) Orthanc and this "
        f"process used {busy['share']:.0%} of the {busy['cpus']} CPUs (during (a): "
        f"{alone['share']:.0%}); at the ceiling's CPU per image, even the whole machine "
        f"would give at most {best:.2f}x the loop"
    )
    for line in profiles:
        print(line)
    report("rendered thumbnails: speed-up over a sequential loop (a/c)", c, a, ">=",
           TARGET_A_OVER_C, ratio=a / c)  # fmt: skip
    report("rendered thumbnails: ours / raw ceiling (c/b)", c, b, "<=", TARGET_C_OVER_B)
    report("time to the first thumbnail, seconds", first, 1.0, "<", TARGET_FIRST)
    print(f"a/c {a / c:.2f}  target >= {TARGET_A_OVER_C:.1f}")
    print(f"c/b {c / b:.2f}  target <= {TARGET_C_OVER_B:.2f} (ours >= 0.8x the ceiling)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
