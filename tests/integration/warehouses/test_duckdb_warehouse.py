"""The DuckDB warehouse on real files: DuckDB's case rule for table names, appends
that widen the table (never drop or convert a value), and failures of the file
itself (locked, a folder, not DuckDB, read-only, full, Ctrl-C) as typed errors."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

import dicomlab
from dicomlab.errors import (
    AlreadyExistsError,
    InvalidRequestError,
    LocalFileError,
    UnsupportedBackendError,
)
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse

TABLE = "dicom_metadata"


def rows_of(warehouse: DuckDBWarehouse, table: str = TABLE) -> list[dict[str, object]]:
    with warehouse.connection() as con:
        result: list[dict[str, object]] = con.table(table).to_arrow_table().to_pylist()
    return result


# ---- table names differ only in case: one table, as DuckDB says ------------------------------


@pytest.fixture(scope="module")
def exported_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[dicomlab.Lab, Path]:
    """The sample cohort exported once into a DuckDB file that each test copies."""
    lab = dicomlab.connect(home=tmp_path_factory.mktemp("case"))
    lab.export_metadata(progress=False, workers=1)
    assert isinstance(lab.warehouse, DuckDBWarehouse)
    return lab, Path(lab.warehouse.path)


@pytest.fixture
def lab(exported_file: tuple[dicomlab.Lab, Path], tmp_path: Path) -> dicomlab.Lab:
    """A lab of its own on a copy of the exported warehouse file."""
    shared, path = exported_file
    shutil.copy(path, tmp_path / "w.duckdb")
    return dicomlab.Lab(shared.store, DuckDBWarehouse(tmp_path / "w.duckdb"), shared.bucket)


def test_write_empty_refuses_a_table_spelled_in_another_case(lab):
    before = rows_of(lab.warehouse)
    with pytest.raises(AlreadyExistsError, match="'DICOM_METADATA'"):
        lab.export_metadata(table="DICOM_METADATA", progress=False, workers=1)
    assert rows_of(lab.warehouse) == before
    assert lab.warehouse.tables() == [TABLE]


@pytest.mark.parametrize("disposition", ["WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND"])
def test_a_load_opens_the_file_once_and_checks_before_reading(tmp_path, monkeypatch, disposition):
    warehouse = DuckDBWarehouse(tmp_path / "once.duckdb")
    warehouse.load("t", pa.table({"A": ["kept"]}))
    events: list[str] = []
    opened = DuckDBWarehouse.connection

    def connection(self):
        events.append("open")
        return opened(self)

    def chunks() -> Iterator[pa.Table]:
        events.append("read")
        yield pa.table({"A": ["new"]})

    monkeypatch.setattr(DuckDBWarehouse, "connection", connection)
    if disposition == "WRITE_EMPTY":  # refused in that one connection, before any chunk is read
        with pytest.raises(AlreadyExistsError, match="'t'"):
            warehouse.load_chunks("t", chunks(), write_disposition=disposition)
    else:
        assert warehouse.load_chunks("t", chunks(), write_disposition=disposition) == 1
    assert events == (["open"] if disposition == "WRITE_EMPTY" else ["open", "read"])
    monkeypatch.undo()
    expected = {"WRITE_EMPTY": ["kept"], "WRITE_TRUNCATE": ["new"], "WRITE_APPEND": ["kept", "new"]}
    assert [r["A"] for r in rows_of(warehouse, "t")] == expected[disposition]


def test_append_to_a_table_spelled_in_another_case_adds_rows(lab):
    before = lab.warehouse.count_rows(TABLE)
    assert before
    result = lab.export_metadata(
        table="Dicom_Metadata", write_disposition="WRITE_APPEND", progress=False, workers=1
    )
    assert result.success == before
    assert lab.warehouse.count_rows("DICOM_METADATA") == 2 * before
    assert lab.warehouse.tables() == [TABLE]  # one table, under the name it was created with


def test_truncate_in_another_case_replaces_the_one_table(lab):
    lab.warehouse.load("DICOM_METADATA", pa.table({"A": ["x"]}), write_disposition="WRITE_TRUNCATE")
    assert lab.warehouse.tables() == [TABLE]
    assert rows_of(lab.warehouse) == [{"A": "x"}]


@pytest.mark.parametrize("name", ["DICOM_METADATA", "Dicom_Metadata", "dicom_metadata"])
def test_count_rows_and_queries_match_names_in_any_case(exported_file, name):
    lab, _ = exported_file
    rows = lab.warehouse.count_rows(name)
    assert rows is not None and rows == lab.warehouse.count_rows(TABLE)
    assert lab.sql("SELECT COUNT(*) AS n FROM dicom_metadata", table=name).n[0] == rows


# ---- appends widen the table; they never drop a field or convert a value ----------------------


def _instance(folder: Path, name: str, frames: list[int] | None) -> None:
    """A real CT file whose ReferencedImageSequence item has ReferencedFrameNumber or not."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = f"1.2.3.4.{len(name)}"
    if frames is not None:
        item.ReferencedFrameNumber = frames
    ds.ReferencedImageSequence = [item]
    ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{len(name)}"
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name)


def test_append_keeps_a_nested_field_the_table_lacks(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    _instance(tmp_path / "first", "a.dcm", None)
    export_store_metadata(
        FolderStore(tmp_path / "first"), warehouse, table="t", progress=False, workers=1
    )
    _instance(tmp_path / "second", "bb.dcm", [2, 3])
    export_store_metadata(
        FolderStore(tmp_path / "second"),
        warehouse,
        table="t",
        write_disposition="WRITE_APPEND",
        progress=False,
        workers=1,
    )
    items = [row["ReferencedImageSequence"][0] for row in rows_of(warehouse, "t")]  # type: ignore[index]
    assert [item.get("ReferencedFrameNumber") for item in items] == [None, ["2", "3"]]
    assert all(item["ReferencedSOPInstanceUID"] for item in items)


def test_chunks_with_a_new_nested_field_keep_it():
    warehouse = DuckDBWarehouse(":memory:")
    first = pa.table({"S": pa.array([[{"A": "x"}]])})
    second = pa.table({"S": pa.array([[{"A": "y", "B": 7}]])})
    assert warehouse.load_chunks("t", [first, second]) == 2
    assert rows_of(warehouse, "t") == [
        {"S": [{"A": "x", "B": None}]},
        {"S": [{"A": "y", "B": 7}]},
    ]


def test_append_adds_a_new_top_level_column():
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load("t", pa.table({"A": ["x"]}))
    warehouse.load("t", pa.table({"A": ["y"], "B": [1.5]}), write_disposition="WRITE_APPEND")
    assert rows_of(warehouse, "t") == [{"A": "x", "B": None}, {"A": "y", "B": 1.5}]


@pytest.mark.parametrize(
    ("table", "rows", "field"),
    [
        pytest.param({"A": ["7"]}, {"A": [1]}, "A", id="string-column-gets-ints"),
        pytest.param({"A": [1]}, {"A": ["1.5"]}, "A", id="int-column-gets-strings"),
        pytest.param({"A": [1]}, {"A": [1.5]}, "A", id="int-column-gets-floats"),
        pytest.param(
            {"S": [[{"N": 1}]]}, {"S": [[{"N": "one"}]]}, "S.N", id="nested-int-gets-string"
        ),
        pytest.param({"S": [[{"N": 1}]]}, {"S": [{"N": 1}]}, "S", id="list-gets-struct"),
    ],
)
def test_append_of_another_type_is_refused_naming_the_field(table, rows, field):
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load("t", pa.table(table))
    before = rows_of(warehouse, "t")
    with warehouse.connection() as con:
        types = [str(t) for t in con.table("t").dtypes]
    with pytest.raises(InvalidRequestError, match=f"field {field!r}") as caught:
        warehouse.load("t", pa.table(rows), write_disposition="WRITE_APPEND")
    assert caught.value.value == field
    assert rows_of(warehouse, "t") == before
    with warehouse.connection() as con:  # the table's types are unchanged too
        assert [str(t) for t in con.table("t").dtypes] == types


def test_append_of_a_narrower_integer_or_nulls_is_kept():
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load("t", pa.table({"A": pa.array([1], pa.int64()), "B": ["x"]}))
    narrower = pa.table({"A": pa.array([2], pa.int32()), "B": pa.nulls(1)})
    warehouse.load("t", narrower, write_disposition="WRITE_APPEND")
    assert rows_of(warehouse, "t") == [{"A": 1, "B": "x"}, {"A": 2, "B": None}]


# ---- the file itself: locked, a folder, not DuckDB, read-only, full, Ctrl-C -------------------


@contextlib.contextmanager
def held_open(path: str) -> Iterator[None]:
    """Another process with ``path`` open in DuckDB (so holding its lock) inside the block."""
    code = (
        f"import duckdb, sys; c = duckdb.connect({path!r}); "
        "print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("")  # stdin closes: the holder exits


def test_a_warehouse_held_by_another_process_is_named(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse = DuckDBWarehouse(path)
    warehouse.load("t", pa.table({"A": ["x"]}))
    with held_open(str(path)):
        with pytest.raises(LocalFileError, match="another process holds it") as caught:
            warehouse.load("t", pa.table({"A": ["y"]}), write_disposition="WRITE_APPEND")
        assert repr(str(path)) in str(caught.value)
        assert caught.value.errno == errno.EAGAIN and caught.value.filename == str(path)
    assert rows_of(warehouse, "t") == [{"A": "x"}]


@pytest.mark.parametrize("disposition", ["WRITE_EMPTY", "WRITE_APPEND", "WRITE_TRUNCATE"])
def test_an_export_while_another_process_holds_the_file_is_refused(lab, disposition):
    path = lab.warehouse.path
    before = rows_of(lab.warehouse)
    with held_open(path):
        with pytest.raises(LocalFileError, match="another process holds it") as caught:
            lab.export_metadata(
                table="other", write_disposition=disposition, progress=False, workers=1
            )
        assert repr(path) in str(caught.value)
    assert rows_of(lab.warehouse) == before and lab.warehouse.tables() == [TABLE]


def test_a_folder_is_no_warehouse_file(tmp_path):
    folder = tmp_path / "w.duckdb"
    folder.mkdir()
    with pytest.raises(UnsupportedBackendError, match="is a folder") as caught:
        dicomlab.connect(home=tmp_path / "home", warehouse=str(folder))
    assert repr(str(folder)) in str(caught.value)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("content", [b"PatientID,Modality\n1,CT\n", b""], ids=["text", "empty"])
def test_a_file_that_is_not_duckdb_is_refused_and_kept(tmp_path, content):
    path = tmp_path / "w.duckdb"
    path.write_bytes(content)
    with pytest.raises(UnsupportedBackendError, match="not a DuckDB database") as caught:
        dicomlab.connect(home=tmp_path / "home", warehouse=f"duckdb:///{path}")
    assert repr(str(path)) in str(caught.value)
    assert path.read_bytes() == content


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``where`` (root only; skipped elsewhere)."""
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=False)
    if done.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("sub", ["w.duckdb", "new/w.duckdb"], ids=["file", "new-folder"])
def test_a_read_only_folder_is_named(tmp_path, sub):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as folder:
        warehouse = DuckDBWarehouse(folder / sub)
        with pytest.raises(LocalFileError, match=r"read-only|not writable") as caught:
            warehouse.load("t", pa.table({"A": ["x"]}))
        assert repr(str(folder / sub)) in str(caught.value)
        assert caught.value.errno in (errno.EROFS, errno.EACCES)


def test_a_full_disk_is_named_and_the_table_kept(tmp_path):
    with tmpfs(tmp_path / "full", "size=512k") as folder:
        warehouse = DuckDBWarehouse(folder / "w.duckdb")
        warehouse.load("t", pa.table({"A": ["x"]}))
        big = pa.table({"A": [f"{i:08d}{'y' * 50}" for i in range(100_000)]})
        with pytest.raises(LocalFileError, match="the disk is full") as caught:
            warehouse.load("t", big, write_disposition="WRITE_APPEND")
        assert repr(str(folder / "w.duckdb")) in str(caught.value)
        assert caught.value.errno == errno.ENOSPC
        assert rows_of(warehouse, "t") == [{"A": "x"}]


def test_ctrl_c_during_a_load_is_a_keyboard_interrupt_and_the_table_stays(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.load("t", pa.table({"A": ["x"]}))
    big = pa.table({"A": pa.array([str(i) for i in range(2_000_000)])})

    def chunks() -> Iterator[pa.Table]:
        yield pa.table({"A": ["y"]})
        # Ctrl-C while DuckDB copies the big chunk (the copy takes far longer than this).
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        yield big

    with pytest.raises(KeyboardInterrupt):
        warehouse.load_chunks("t", chunks(), write_disposition="WRITE_APPEND")
    assert rows_of(warehouse, "t") == [{"A": "x"}]
    assert warehouse.tables() == ["t"]
    with warehouse.connection() as con:  # no staging table left behind either
        assert [r[0] for r in con.execute("SHOW TABLES").fetchall()] == ["t"]
