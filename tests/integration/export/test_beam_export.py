"""The Beam export on the DirectRunner gives the local export's table, column for column."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("apache_beam", reason="Apache Beam is not installed: pip install -e '.[beam]'")

import dicomlab
from dicomlab.errors import IncompleteReadError
from dicomlab.export.beamrun import export_with_beam
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.folder import FolderStore
from dicomlab.stores.gcsfiles import GcsFileStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse

# Several transfer syntaxes (big endian too), sequences, a file without a Part 10 header
# (rtstruct.dcm).
PYDICOM_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "JPEG2000.dcm",
    "ExplVR_BigEnd.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "SC_rgb_rle.dcm",
    "waveform_ecg.dcm",
]


def _tables(warehouse: DuckDBWarehouse, *names: str) -> list[Any]:
    with warehouse.connection() as con:
        return [
            con.sql(f"SELECT * FROM {name} ORDER BY SOPInstanceUID").to_arrow_table()
            for name in names
        ]


def _same(store: Any, tmp_path: Path, **options: Any) -> tuple[Any, Any]:
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    beam = export_with_beam(store, warehouse, table="beam", **options)
    local = export_store_metadata(store, warehouse, table="local", progress=False, workers=1)
    got, expected = _tables(warehouse, "beam", "local")
    assert got.schema == expected.schema  # column for column, type for type
    assert got.to_pylist() == expected.to_pylist()
    assert (beam.success, sorted(beam.failures)) == (local.success, sorted(local.failures))
    return beam, local


def test_sample_cohort_through_beam_is_the_local_export(tmp_path: Path) -> None:
    lab = dicomlab.connect(home=tmp_path / "home")
    beam = lab.export_metadata("beam_table", engine="beam", runner="DirectRunner")
    assert beam.success == 81 and lab.table == "beam_table"
    beam, _ = _same(lab.store, tmp_path)
    assert beam.columns == 0 or beam.columns > 100


def test_pydicom_files_through_beam_are_the_local_export(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    folder = tmp_path / "files"
    folder.mkdir()
    for name in PYDICOM_FILES:
        shutil.copy(get_testdata_file(name, download=False), folder / name)
    (folder / "notes.txt").write_text("not DICOM")
    (folder / "copy-of-ct.dcm").write_bytes((folder / "CT_small.dcm").read_bytes())
    beam, _ = _same(FolderStore(folder), tmp_path)
    assert beam.success == len(PYDICOM_FILES)  # the copy of CT_small is loaded once
    assert any(source == "notes.txt" for source, _ in beam.failures)


def test_a_file_that_cannot_be_read_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    dicomlab.samples.sample.seed_sample_store(folder)
    (folder / "gone.dcm").symlink_to(tmp_path / "no-such-file")  # cannot be opened
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    with pytest.raises(IncompleteReadError, match=r"gone\.dcm"):
        export_with_beam(FolderStore(folder), warehouse, table="t")
    assert warehouse.count_rows("t") is None  # no table: nothing was loaded
    result = export_with_beam(FolderStore(folder), warehouse, table="t", allow_partial=True)
    assert result.success == 81 and [s for s, _ in result.unread] == ["gone.dcm"]
    assert result.partial


def test_a_gs_store_through_beam_is_the_local_export(
    storage_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dicomlab.samples.sample import seed_sample_store

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator.url)
    folder = tmp_path / "store"
    seed_sample_store(folder)
    bucket = storage_emulator.client().bucket(storage_emulator.bucket)
    prefix = f"beam-{uuid.uuid4().hex[:8]}"
    for path in sorted(p for p in folder.rglob("*") if p.is_file())[:20]:
        bucket.blob(f"{prefix}/{path.relative_to(folder).as_posix()}").upload_from_string(
            path.read_bytes()
        )
    bucket.blob(f"{prefix}/readme.txt").upload_from_string(b"not DICOM")
    store = GcsFileStore(
        f"gs://{storage_emulator.bucket}/{prefix}", client=storage_emulator.client()
    )
    beam, _ = _same(store, tmp_path)
    assert beam.success == 20 and [s.rsplit("/", 1)[-1] for s, _ in beam.failures] == ["readme.txt"]


def test_the_command_line_runs_beam_with_its_options(tmp_path: Path, capsys: Any) -> None:
    from dicomlab.cli import main

    home = str(tmp_path / "home")
    argv = ["--home", home, "export-metadata", "--table", "by_beam", "--engine", "beam"]
    argv += ["--runner", "DirectRunner", "--", "--direct_num_workers=1"]
    assert main(argv) == 0
    assert "81" in capsys.readouterr().out
    lab = dicomlab.connect(home=home)
    assert lab.warehouse.count_rows("by_beam") == 81
