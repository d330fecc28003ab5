"""Export and folder-store integrity: what cannot be read, duplicate UIDs, files that are
not files, and files too large to read whole.

Files that cannot be opened are real: a broken link (open() fails, root or not), and
mode-000 files and folders read in a subprocess without the capabilities that let root
read them anyway (``setpriv``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian

from dicomlab.errors import (
    DuplicateInstanceError,
    IncompleteReadError,
    InvalidRequestError,
    RemoteError,
    SkippedFilesWarning,
)
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.samples.synthetic import CohortPosition, build_instance
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse

DISPOSITIONS = ["WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND"]


def _write(folder: Path, count: int, *, seed: int = 3) -> list[pydicom.Dataset]:
    folder.mkdir(parents=True, exist_ok=True)
    datasets = [build_instance(CohortPosition(seed, 0, 0, 0, i)) for i in range(count)]
    for i, ds in enumerate(datasets):
        ds.save_as(folder / f"{i:03d}.dcm", enforce_file_format=True)
    return datasets


def _export(store: FolderStore, warehouse: DuckDBWarehouse, **options):
    options.setdefault("workers", 1)
    return export_store_metadata(store, warehouse, table="t", progress=False, **options)


def _rows(warehouse: DuckDBWarehouse) -> list[tuple]:
    if warehouse.count_rows("t") is None:
        return []
    with warehouse.connection() as con:
        return con.execute("SELECT SOPInstanceUID, PatientID FROM t ORDER BY ALL").fetchall()


def _ref(ds: pydicom.Dataset) -> InstanceRef:
    return InstanceRef(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)


# ---- transport failures: a file that cannot be opened -------------------------------------


@pytest.mark.parametrize("disposition", DISPOSITIONS)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_cannot_be_opened_fails_the_export_and_keeps_the_table(
    tmp_path, disposition, workers
):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    if disposition != "WRITE_EMPTY":
        _write(tmp_path / "before", 1, seed=9)
        _export(FolderStore(tmp_path / "before"), warehouse)
    before = _rows(warehouse)
    store = tmp_path / "store"
    _write(store, 6)
    os.symlink(tmp_path / "gone.dcm", store / "002b.dcm")  # listed, but open() fails
    with pytest.raises(IncompleteReadError, match=r"002b\.dcm") as caught:
        _export(
            FolderStore(store),
            warehouse,
            write_disposition=disposition,
            workers=workers,
            chunk_size=2,
        )
    assert isinstance(caught.value, RemoteError)
    assert [source for source, _ in caught.value.unread] == ["002b.dcm"]
    assert "allow_partial=True" in str(caught.value) and "unchanged" in str(caught.value)
    assert _rows(warehouse) == before


def test_allow_partial_exports_the_rest_and_says_so(tmp_path):
    store = tmp_path / "store"
    datasets = _write(store, 4)
    os.symlink(tmp_path / "gone.dcm", store / "001b.dcm")
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    result = _export(FolderStore(store), warehouse, allow_partial=True)
    assert result.partial and [s for s, _ in result.unread] == ["001b.dcm"]
    assert result.counter == {"success": 4, "failure": 1}
    assert "PARTIAL: unread=1" in repr(result) and "Partial export" in result._repr_html_()
    assert {uid for uid, _ in _rows(warehouse)} == {ds.SOPInstanceUID for ds in datasets}
    (store / "001b.dcm").unlink()
    complete = _export(FolderStore(store), DuckDBWarehouse(":memory:"))
    assert not complete.partial and "PARTIAL" not in repr(complete)


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_allow_partial_is_a_strict_bool(tmp_path, bad):
    _write(tmp_path / "s", 1)
    with pytest.raises(InvalidRequestError, match=f"allow_partial={bad!r}"):
        _export(FolderStore(tmp_path / "s"), DuckDBWarehouse(":memory:"), allow_partial=bad)


# ---- entries that are not regular files ------------------------------------------------------


def test_fifos_devices_and_folders_named_dcm_are_skipped_and_reported(tmp_path):
    store = tmp_path / "store"
    _write(store, 3)
    os.mkfifo(store / "fifo.dcm")
    os.symlink("/dev/zero", store / "zero.dcm")
    (store / "folder.dcm").mkdir()
    (store / "folder.dcm" / ".keep").write_text("")
    started = time.monotonic()
    result = _export(FolderStore(store), DuckDBWarehouse(":memory:"), workers=2)
    reasons = dict(result.failures)
    assert result.success == 3 and not result.partial
    assert "FIFO" in reasons["fifo.dcm"] and "fifo.dcm" in reasons["fifo.dcm"]
    assert "character device" in reasons["zero.dcm"]
    assert time.monotonic() - started < 30
    # The store's index skips them too, and says so.
    folder = FolderStore(store)
    with pytest.warns(SkippedFilesWarning, match="fifo.dcm"):
        assert len(folder.search_instances()) == 3
    assert {Path(p).name for p, _ in folder.skipped} == {"fifo.dcm", "zero.dcm"}


# ---- duplicate SOPInstanceUIDs -----------------------------------------------------------------


def _duplicates(tmp_path: Path) -> tuple[Path, pydicom.Dataset, pydicom.Dataset]:
    store = tmp_path / "store"
    datasets = _write(store, 3)
    other = build_instance(CohortPosition(3, 0, 0, 0, 0))
    other.PatientID = "ANOTHER"
    other.save_as(store / "900-other-patient.dcm", enforce_file_format=True)
    shutil.copyfile(store / "001.dcm", store / "901-copy.dcm")
    return store, datasets[0], other


@pytest.mark.parametrize("workers", [1, 2])
def test_a_duplicate_uid_is_loaded_once_and_reported_with_both_paths(tmp_path, workers):
    store, first, _ = _duplicates(tmp_path)
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    result = _export(FolderStore(store), warehouse, workers=workers, chunk_size=2)
    rows = _rows(warehouse)
    assert len(rows) == len({uid for uid, _ in rows}) == 3 == result.success
    assert (first.SOPInstanceUID, first.PatientID) in rows and "ANOTHER" not in {p for _, p in rows}
    found = {d.other: d for d in result.duplicates}
    assert found["900-other-patient.dcm"].kept == "000.dcm"
    assert not found["900-other-patient.dcm"].identical
    assert found["901-copy.dcm"].kept == "001.dcm" and found["901-copy.dcm"].identical
    reasons = dict(result.failures)
    assert "000.dcm" in reasons["900-other-patient.dcm"] and "901-copy.dcm" not in reasons
    assert "duplicates=2" in repr(result) and "900-other-patient.dcm" in result._repr_html_()


def test_the_folder_store_will_not_guess_which_file_a_uid_means(tmp_path):
    store, first, _ = _duplicates(tmp_path)
    folder = FolderStore(store)
    ref = _ref(first)
    for call in (folder.fetch_instance, folder.fetch_frames, folder.fetch_rendered):
        with pytest.raises(DuplicateInstanceError, match=r"900-other-patient\.dcm") as caught:
            call(ref)
        assert {Path(p).name for p in caught.value.paths} == {"000.dcm", "900-other-patient.dcm"}
    hits = folder.search_instances(SOPInstanceUID=ref.instance)
    done = folder.download(hits, tmp_path / "out", progress=False)
    assert done.counter["failure"] == 1 and done.counter["written"] == 0
    assert "900-other-patient.dcm" in str(done.failures) and "000.dcm" in str(done.failures)
    assert not list((tmp_path / "out").rglob("*.dcm"))
    # Identical copies (same bytes) are one instance.
    copied = pydicom.dcmread(store / "001.dcm")
    assert folder.fetch_instance(_ref(copied)).SOPInstanceUID == copied.SOPInstanceUID
    assert set(folder.conflicts) == {ref.instance}


def test_a_kept_index_still_refuses_a_duplicate_found_later(tmp_path):
    store = tmp_path / "store"
    first = _write(store, 2)[0]
    index = tmp_path / "index"
    assert len(FolderStore(store, index_dir=index).search_instances()) == 2
    other = build_instance(CohortPosition(3, 0, 0, 0, 0))
    other.PatientID = "ANOTHER"
    other.save_as(store / "900-other-patient.dcm", enforce_file_format=True)
    again = FolderStore(store, index_dir=index)
    found = again.search_instances(SOPInstanceUID=first.SOPInstanceUID)
    assert list(found.PatientID) == [first.PatientID]  # the file indexed first is not replaced
    with pytest.raises(DuplicateInstanceError, match=r"900-other-patient\.dcm"):
        again.fetch_instance(_ref(first))
    # A file gone since is gone from the kept index too.
    (store / "001.dcm").unlink()
    assert len(FolderStore(store, index_dir=index).search_instances()) == 1


# ---- large files: only the header is read ------------------------------------------------------


def _large_file(path: Path, *, pixel_bytes: int, blob_bytes: int = 0) -> pydicom.Dataset:
    """A real header (CT_small's) and a sparse Pixel Data of ``pixel_bytes`` (no disk used)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del ds.PixelData
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    with open(path, "r+b") as handle:
        handle.seek(0, os.SEEK_END)
        if blob_bytes:  # a private OB value before the pixels, over 1 MB
            handle.write(b"\x09\x00\x10\x00LO\x04\x00ACME")
            handle.write(b"\x09\x00\x00\x10OB\x00\x00" + blob_bytes.to_bytes(4, "little"))
            handle.seek(blob_bytes, os.SEEK_CUR)
        handle.write(b"\xe0\x7f\x10\x00OW\x00\x00" + pixel_bytes.to_bytes(4, "little"))
        handle.truncate(handle.tell() + pixel_bytes)
    return ds


@pytest.mark.parametrize("blob_bytes", [0, 200_000_000])
def test_a_large_file_is_read_only_up_to_its_pixels(tmp_path, blob_bytes):
    store = tmp_path / "store"
    store.mkdir()
    ds = _large_file(store / "big.dcm", pixel_bytes=1_500_000_000, blob_bytes=blob_bytes)
    warehouse = DuckDBWarehouse(":memory:")
    tracemalloc.start()
    try:
        result = _export(FolderStore(store), warehouse)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.counter == {"success": 1, "failure": 0}
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB of Python memory for one header"
    with warehouse.connection() as con:
        row = con.execute("SELECT SOPInstanceUID, DroppedTags FROM t").fetchone()
    assert row[0] == ds.SOPInstanceUID
    assert ({"TagName": "Tag_00091000"} in row[1]) == bool(blob_bytes)


def test_a_gib_of_zeros_after_dicm_is_refused_quickly(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    with open(store / "zeros.dcm", "wb") as handle:
        handle.write(b"\0" * 128 + b"DICM")
        handle.truncate(132 + (1 << 30))
    started = time.process_time()
    result = _export(FolderStore(store), DuckDBWarehouse(":memory:"))
    assert time.process_time() - started < 10
    assert result.success == 0 and "100000 elements" in dict(result.failures)["zeros.dcm"]


# ---- files and folders root cannot read either (capabilities dropped) ---------------------------

_UNPRIVILEGED = """
import json, os, sys, warnings
from dicomlab.errors import DicomReadError, IncompleteReadError, SkippedFilesWarning
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse

folder, ref = sys.argv[1], InstanceRef(*sys.argv[2:5])
out = {}
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    store = FolderStore(folder)
    out["found"] = len(store.search_instances())
out["warned"] = [str(w.message) for w in seen if w.category is SkippedFilesWarning]
out["skipped"] = store.skipped
try:
    export_store_metadata(store, DuckDBWarehouse(":memory:"), table="t", workers=1, progress=False)
except IncompleteReadError as exc:
    out["export"] = [s for s, _ in exc.unread]
shown = FolderStore(sys.argv[5])
shown.search_instances()
os.chmod(sys.argv[5] + "/000.dcm", 0)  # indexed, then unreadable
try:
    shown.fetch_instance(ref)
except DicomReadError as exc:
    out["fetch"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0, reason="no setpriv")
def test_unreadable_files_and_folders_are_reported_not_raised(tmp_path):
    store = tmp_path / "store"
    _write(store, 3)
    _write(store / "locked", 2, seed=4)
    (store / "001.dcm").chmod(0)
    (store / "locked").chmod(0)
    # A store whose file turns unreadable once indexed: a fetch meets it.
    later = tmp_path / "later"
    fetched = _write(later, 1)[0]
    ref = _ref(fetched)
    command = [sys.executable, "-c", _UNPRIVILEGED, str(store), ref.study, ref.series]
    command += [ref.instance, str(later)]
    if os.geteuid() == 0:  # root reads mode-000 files unless these capabilities are gone
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *command]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    finally:
        (store / "001.dcm").chmod(0o644)
        (store / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["found"] == 2
    assert {Path(p).name for p, _ in out["skipped"]} == {"001.dcm", "locked"}
    assert out["warned"] and "001.dcm" in out["warned"][0]
    assert out["export"] == ["001.dcm", "locked"]
    assert "000.dcm" in out["fetch"] and "could not be read" in out["fetch"]
