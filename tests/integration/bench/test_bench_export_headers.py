"""bench/export_headers.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations


def test_bench_export_headers_quick_prints_its_ratios(bench_records):
    records, stdout = bench_records("export_headers")
    names = [r["name"] for r in records]
    assert names[0] == "rich headers: export 1 worker / dcmread loop"
    assert names[1].startswith("rich headers: export ") and len(names) == 2
    assert "(a) bare dcmread loop" in stdout


def test_rich_headers_are_at_least_ct_small(tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file

    from dicomlab.samples.realistic import generate_rich_headers

    assert generate_rich_headers(tmp_path, n=5, per_series=3) == 5
    files = sorted(tmp_path.rglob("*.dcm"))
    datasets = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    reference = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    assert len(files) == 5 and all(len(ds) >= len(reference) - 1 for ds in datasets)
    assert len({ds.SOPInstanceUID for ds in datasets}) == 5
    assert len({ds.StudyInstanceUID for ds in datasets}) == 2
    assert all(
        any(e.tag.is_private for e in ds) and "ProcedureCodeSequence" in ds for ds in datasets
    )
