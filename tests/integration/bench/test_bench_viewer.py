"""bench/viewer.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations


def test_bench_viewer_quick_prints_its_ratios(bench_records):
    _, stdout = bench_records("viewer")
    assert any("per image shown: prefetch=4 median" in line for line in stdout.splitlines())
