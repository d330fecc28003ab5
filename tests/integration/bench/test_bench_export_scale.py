"""bench/export_scale.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations


def test_bench_export_scale_quick_prints_its_ratios(bench_records):
    _, stdout = bench_records("export_scale")
    assert "growth exponent k = " in stdout
    assert "peak RSS of the process tree" in stdout
