"""The export benchmark still runs (a tiny cohort: it checks the script, not the speed)."""

from __future__ import annotations


def test_bench_export_quick_prints_the_ratios(run_bench):
    lines = run_bench("export", "--quick")
    assert lines[-2].startswith("b/a ") and "target <= 1.3" in lines[-2]
    assert lines[-1].startswith("b/c ") and "target >= 1.7" in lines[-1]
    steps = (
        "(a)  bare dcmread loop",
        "(b)  export, 1 worker",
        "(c)  export, ",
        "(c0) export, ",
        "(d)  bare loop",
    )
    for step in steps:
        assert any(line.startswith(step) for line in lines), step
    float(lines[-1].split()[1])  # the ratios are numbers
    float(lines[-2].split()[1])
