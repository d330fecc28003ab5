"""bench/orthanc_full.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations

import pytest

from tests.support.orthanc import missing_reason


@pytest.mark.skipif(missing_reason() is not None, reason=f"Orthanc: {missing_reason()}")
def test_bench_orthanc_full_quick_prints_its_ratios(bench_records):
    records, stdout = bench_records("orthanc_full", ratios=False)  # one is in seconds
    names = [r["name"] for r in records]
    assert names[0] == "Orthanc export 200 instances: ours / raw ceiling"
    assert "Orthanc full-size thumbnails: ours / raw ceiling" in names
    assert "Orthanc full-size thumbnails: first tile, seconds" in names
    assert "(b) viewport=256: per image" in stdout  # where the time goes
    export = records[0]
    if export["ratio"] > export["target"]:  # a missed export says what the CPUs allow
        assert "the CPUs' bound for ours" in stdout and "us in Orthanc" in stdout
