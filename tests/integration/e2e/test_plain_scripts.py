"""Exports from plain scripts, as researchers, cron jobs and CI run them, and Ctrl-C.

Each script runs in its own Python process from a temporary working
directory, with its own data folder: what `python plain.py` does on a fresh
clone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dicomlab.samples.sample import sample_cohort_dir
from dicomlab.samples.synthetic import generate_cohort
from tests.support.paths import REPO

PLAIN = """\
import dicomlab
lab = dicomlab.connect()
r = lab.export_metadata()
print(r.success)
"""


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "DICOMLAB_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run(tmp_path: Path, code: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *kwargs.pop("args", ["plain.py"])],
        cwd=tmp_path,
        env=_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_the_four_line_script_exports_with_the_default_workers(tmp_path):
    (tmp_path / "plain.py").write_text(PLAIN + "print(r.workers)\n")
    done = _run(tmp_path, PLAIN)
    assert done.returncode == 0, done.stderr[-2000:]
    success, workers = done.stdout.split()
    assert success == "81"
    assert int(workers) == min(os.cpu_count() or 1, 81) and int(workers) > 1
    assert "Traceback" not in done.stderr


def test_a_script_read_from_standard_input_exports_too(tmp_path):
    done = _run(tmp_path, PLAIN, args=["-"], input=PLAIN)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["81"]


def _group(pgid: int) -> list[int]:
    """The processes of a process group, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big-store")
    generate_cohort(
        folder, patients=40, studies_per_patient=3, series_per_study=4, instances_per_series=25
    )
    return folder


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process groups from /proc")
def test_ctrl_c_to_the_process_group_stops_the_export_quietly(tmp_path, big_store):
    warehouse = tmp_path / "lab.duckdb"
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import sys, dicomlab\n"
        f"sample = {str(sample_cohort_dir())!r}\n"
        f"lab = dicomlab.connect(store=sample, warehouse={str(warehouse)!r})\n"
        "lab.export_metadata(progress=False, workers=1)\n"
        f"lab = dicomlab.connect(store={str(big_store)!r}, warehouse={str(warehouse)!r})\n"
        "print('exporting', flush=True)\n"
        "lab.export_metadata(write_disposition='WRITE_TRUNCATE', progress=False, workers=2)\n"
        "print('finished', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "exporting\n"
        deadline = time.monotonic() + 30
        while len(_group(process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)  # the parent and its two workers
        assert len(_group(process.pid)) >= 3, "the workers never started"
        time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "finished" not in out
    last = err.rstrip().splitlines()[-1]
    assert process.returncode != 0 and last.startswith("KeyboardInterrupt"), err[-2000:]
    # The script's own traceback only: none from a worker starting (runpy) or running.
    # A traceback may be chained (Ctrl-C inside DuckDB) and may pass through the pool's
    # start (popen_loky) on a loaded machine, so look at where each one begins.
    blocks = err.split("Traceback (most recent call last):\n")[1:]
    assert blocks, err
    assert blocks[-1].lstrip().startswith(f'File "{script}"'), err
    starts = [block.lstrip().split("\n", 1)[0] for block in blocks]
    worker = re.compile(r"_bootstrap|runpy|popen_loky|_process_worker|in initializer")
    assert not [start for start in starts if worker.search(start)], err
    assert not re.search(r"^Process \S+:$", err, re.M), err
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM dicom_metadata").fetchone() == (81,)
    deadline = time.monotonic() + 20
    while _group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group(process.pid) == [], "worker processes outlived the interrupted script"
