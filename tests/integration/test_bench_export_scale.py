"""bench/export_scale.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "export_scale.py"


def test_bench_export_scale_quick_prints_its_ratios():
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
        assert record["ratio"] == record["ours"] / record["floor"], record
    assert "growth exponent k = " in done.stdout
    assert "peak RSS of the process tree" in done.stdout
