"""``make bench``'s summary still runs and tabulates every script's RESULT lines (tiny sizes)."""

from __future__ import annotations


def test_summary_of_the_quick_benchmarks(run_bench):
    scripts = ["import_time", "filterfile", "queries", "thumbnails"]
    lines = run_bench("summary", "--quick", "--only", *scripts, timeout=600)
    start = next(i for i, line in enumerate(lines) if line.startswith("benchmark "))
    rows = lines[start + 2 : -1]
    names = " ".join(rows)
    for expected in ("import dicomlab", "FilterFile.from_dataframe", "latest_studies",
                     "patient_dicomweb_paths", "lab.images"):  # fmt: skip
        assert expected in names, expected
    assert all(row.rstrip().endswith(("pass", "MISS")) for row in rows)
    assert "(script failed)" not in names
    assert lines[-1].endswith("targets met")
