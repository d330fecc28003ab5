"""bench/orthanc_full.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.orthanc import missing_reason

BENCH = Path(__file__).resolve().parents[2] / "bench" / "orthanc_full.py"


@pytest.mark.skipif(missing_reason() is not None, reason=f"Orthanc: {missing_reason()}")
def test_bench_orthanc_full_quick_prints_its_ratios():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    records = [
        json.loads(line.removeprefix("RESULT "))
        for line in done.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert records, done.stdout
    for record in records:
        assert record["ours"] > 0 and record["floor"] > 0, record
    names = [r["name"] for r in records]
    assert names[0] == "Orthanc export 200 instances: ours / raw ceiling"
    assert "Orthanc full-size thumbnails: ours / raw ceiling" in names
    assert "Orthanc full-size thumbnails: first tile, seconds" in names
    assert "(b) viewport=256: per image" in done.stdout  # where the time goes
