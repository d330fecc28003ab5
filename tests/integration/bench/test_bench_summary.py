"""``make bench``'s summary still runs and tabulates every script's RESULT lines (tiny sizes)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import BENCH


def test_summary_of_the_quick_benchmarks():
    scripts = ["import_time", "filterfile", "queries", "thumbnails"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "summary.py"), "--quick", "--only", *scripts],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("benchmark "))
    rows = lines[start + 2 : -1]
    names = " ".join(rows)
    for expected in ("import dicomlab", "FilterFile.from_dataframe", "latest_studies",
                     "patient_dicomweb_paths", "lab.images"):  # fmt: skip
        assert expected in names, expected
    assert all(row.rstrip().endswith(("pass", "MISS")) for row in rows)
    assert "(script failed)" not in names
    assert lines[-1].endswith("targets met")
