"""bench/orthanc_full.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations

import os

import pytest

from tests.support.orthanc import missing_reason


@pytest.mark.skipif(missing_reason() is not None, reason=f"Orthanc: {missing_reason()}")
def test_bench_orthanc_full_quick_prints_its_ratios(bench_records):
    records, stdout = bench_records("orthanc_full", ratios=False)  # one is in seconds
    names = [r["name"] for r in records]
    apart, shared = (f"Orthanc export 200, {s}: ours / raw ceiling" for s in SETTINGS)
    exports = [apart, shared] if len(os.sched_getaffinity(0)) > 1 else [shared]
    assert names[: len(exports)] == exports
    assert "Orthanc full-size thumbnails: ours / raw ceiling" in names
    assert "Orthanc full-size thumbnails: first tile, seconds" in names
    assert "(b) viewport=256: per image" in stdout  # where the time goes
    for export in records[: len(exports)]:
        if export["ratio"] > export["target"]:  # a missed export says where its time goes
            assert "where the time goes in one export" in stdout
    last = records[len(exports) - 1]
    if last["ratio"] > last["target"]:  # and, sharing the CPUs, what they allow
        assert "the CPUs' bound for ours" in stdout and "us in Orthanc" in stdout
        assert "fetching and parsing alone took" in stdout
        assert "fetch and parse, no rows: per instance" in stdout


SETTINGS = ("server apart", "CPUs shared")
