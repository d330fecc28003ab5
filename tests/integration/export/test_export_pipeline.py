"""The export pipeline: parallel == sequential, chunks, failures, all-or-nothing loads."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pydicom
import pytest

import dicomlab
import dicomlab.export.pipeline
import dicomlab.export.reading
from dicomlab.errors import AlreadyExistsError, InvalidRequestError
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.samples.synthetic import CohortPosition, build_instance, generate_cohort
from dicomlab.stores.base import FileStore, MetadataItem
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse

SHAPE = {"patients": 5, "studies_per_patient": 2, "series_per_study": 2, "instances_per_series": 15}
N = 300


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    assert generate_cohort(folder, seed=5, **SHAPE) == N
    return folder


def _export(store, tmp: Path, name: str, **options) -> tuple[DuckDBWarehouse, object]:
    warehouse = DuckDBWarehouse(tmp / f"{name}.duckdb")
    options.setdefault("progress", False)
    result = export_store_metadata(store, warehouse, table="dicom_metadata", **options)
    return warehouse, result


def _snapshot(
    warehouse: DuckDBWarehouse, table: str = "dicom_metadata", order: str = "SOPInstanceUID"
) -> tuple[list, list]:
    """The table's columns with their types, and its rows in ``order``."""
    with warehouse.connection() as con:
        schema = con.execute(f"DESCRIBE {table}").fetchall()
        rows = con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    return [(name, kind) for name, kind, *_ in schema], rows


@pytest.fixture(scope="module")
def sequential(cohort, tmp_path_factory):
    warehouse, result = _export(
        FolderStore(cohort), tmp_path_factory.mktemp("seq"), "seq", workers=1
    )
    return _snapshot(warehouse), result


def test_parallel_export_equals_sequential(cohort, sequential, tmp_path):
    (schema, rows), seq_result = sequential
    warehouse, result = _export(FolderStore(cohort), tmp_path, "par", workers=2)
    assert result.workers == 2 and seq_result.workers == 1
    assert result.counter == seq_result.counter == {"success": N, "failure": 0}
    assert result.columns == seq_result.columns == len(schema)
    assert _snapshot(warehouse) == (schema, rows)
    assert (
        len(rows) == N
        and len({r[[c for c, _ in schema].index("SOPInstanceUID")] for r in rows}) == N
    )
    types = dict(schema)
    assert types["StudyDate"] == "DATE" and types["ImagePositionPatient"] == "VARCHAR[]"
    assert types["Rows"] == "BIGINT" and types["PatientName"].startswith("STRUCT(")


@pytest.mark.parametrize("workers", [1, 2])
def test_small_chunks_give_the_same_table(cohort, sequential, tmp_path, workers):
    (schema, rows), _ = sequential
    warehouse, result = _export(
        FolderStore(cohort), tmp_path, "small", workers=workers, chunk_size=7
    )
    assert result.success == N
    assert _snapshot(warehouse) == (schema, rows)


@pytest.mark.parametrize("workers", [1, 2])
def test_chunks_load_as_read_and_again_when_the_columns_change(
    cohort, sequential, tmp_path, monkeypatch, workers
):
    """Chunks load while the store is read; a chunk with new columns makes them load again."""
    (schema, rows), _ = sequential
    refits = []
    real = dicomlab.export.reading.ChunkReading.tables_fitted

    def spied(self):
        refits.append(len(self.summaries))
        return real(self)

    monkeypatch.setattr(dicomlab.export.reading.ChunkReading, "tables_fitted", spied)
    # Small chunks: a chunk of CT alone comes before the first MR, whose columns are new.
    warehouse, result = _export(
        FolderStore(cohort), tmp_path, f"refit{workers}", workers=workers, chunk_size=7
    )
    assert refits and _snapshot(warehouse) == (schema, rows)
    # Instances of one series past its first (which has no ReferencedImageSequence):
    # every chunk has the same columns, so nothing loads twice.
    series = tmp_path / f"series{workers}"
    series.mkdir()
    for instance in range(1, 13):
        ds = build_instance(CohortPosition(5, 0, 0, 0, instance))
        ds.save_as(series / f"{instance}.dcm", enforce_file_format=True)
    refits.clear()
    warehouse, result = _export(
        FolderStore(series), tmp_path, f"same{workers}", workers=workers, chunk_size=4
    )
    assert refits == [] and result.success == 12
    with warehouse.connection() as con:
        count = con.execute("SELECT COUNT(DISTINCT SOPInstanceUID) FROM dicom_metadata")
        assert count.fetchone() == (12,)


@pytest.mark.parametrize("disposition", ["WRITE_EMPTY", "WRITE_TRUNCATE"])
def test_the_first_chunk_is_read_before_the_warehouse_is_opened_to_load(
    cohort, sequential, tmp_path, monkeypatch, disposition
):
    """Opening the warehouse for the load holds no reading up: it comes after the first chunk."""
    events: list[str] = []
    flatten, opened = dicomlab.export.pipeline.flatten_files, DuckDBWarehouse.connection

    def read(*args):
        events.append("chunk")
        return flatten(*args)

    def connection(self):
        events.append("open")
        return opened(self)

    monkeypatch.setattr(dicomlab.export.pipeline, "flatten_files", read)
    monkeypatch.setattr(DuckDBWarehouse, "connection", connection)
    warehouse, result = _export(
        FolderStore(cohort), tmp_path, "first", workers=1, chunk_size=100,
        write_disposition=disposition,
    )  # fmt: skip
    # WRITE_EMPTY looks at the table once before anything is read; then the first chunk,
    # and only then the load's connection (the other chunks load as they are read).
    before = ["open"] if disposition == "WRITE_EMPTY" else []
    assert events[: len(before) + 2] == [*before, "chunk", "open"], events
    assert events.count("chunk") == 3, events
    monkeypatch.undo()
    assert _snapshot(warehouse) == sequential[0] and result.success == N


def test_rows_keep_store_order(cohort, tmp_path):
    warehouse, _ = _export(FolderStore(cohort), tmp_path, "order", workers=2, chunk_size=7)
    with warehouse.connection() as con:
        loaded = [r[0] for r in con.execute("SELECT SOPInstanceUID FROM dicom_metadata").fetchall()]
    on_disk = [
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
        for _, p in FolderStore(cohort).iter_paths()
    ]
    assert loaded == on_disk


def _bad_store(folder: Path, cohort: Path) -> Path:
    folder.mkdir()
    files = sorted(cohort.rglob("*.dcm"))[:4]
    for path in files:
        shutil.copyfile(path, folder / path.name)
    (folder / "notes.txt").write_text("not DICOM at all")
    (folder / "truncated.dcm").write_bytes(files[0].read_bytes()[:200])
    (folder / "empty.dcm").write_bytes(b"")
    dicomdir = Path(pydicom.data.__file__).parent / "test_files" / "dicomdirtests" / "DICOMDIR"
    shutil.copyfile(dicomdir, folder / "DICOMDIR")
    return folder


@pytest.mark.parametrize("workers", [1, 2])
def test_failures_name_the_file_and_the_reason(cohort, tmp_path, workers):
    store = FolderStore(_bad_store(tmp_path / "store", cohort))
    _, result = _export(store, tmp_path, "bad", workers=workers, chunk_size=3)
    assert result.counter == {"success": 4, "failure": 4}
    reasons = dict(result.failures)
    assert sorted(reasons) == ["DICOMDIR", "empty.dcm", "notes.txt", "truncated.dcm"]
    assert "DICOMDIR" in reasons["DICOMDIR"] and "not an instance" in reasons["DICOMDIR"]
    for name in ("empty.dcm", "notes.txt", "truncated.dcm"):
        assert "DICOM" in reasons[name], (name, reasons[name])
    assert "4 not exported" in result._repr_html_()


def test_progress_bar_counts_success_and_failure(cohort, tmp_path, capsys):
    store = FolderStore(_bad_store(tmp_path / "store", cohort))
    export_store_metadata(store, DuckDBWarehouse(":memory:"), table="t", workers=1)
    err = capsys.readouterr().err
    assert "8/8" in err and "success=4" in err and "failure=4" in err


class FakeRemoteStore:
    """A store without local files (as a DICOMweb server): read in-process only."""

    url = "http://fake.invalid/dicom-web"

    def __init__(self, datasets: list[pydicom.Dataset]) -> None:
        self.datasets = datasets

    def count_instances(self) -> int:
        return len(self.datasets) + 1

    def iter_metadata(self) -> Iterator[MetadataItem]:
        for i, ds in enumerate(self.datasets):
            yield MetadataItem(f"instance-{i}", dataset=ds)
        yield MetadataItem("instance-broken", error="server answered 500")


def test_stores_without_paths_are_read_in_process(tmp_path):
    datasets = [build_instance(CohortPosition(1, p, 0, 0, i)) for p in range(3) for i in range(4)]
    store = FakeRemoteStore(datasets)
    assert not isinstance(store, FileStore)
    warehouse, result = _export(store, tmp_path, "remote", workers=2, chunk_size=5)
    assert result.workers == 1
    assert result.counter == {"success": 12, "failure": 1}
    assert result.failures == [("instance-broken", "server answered 500")]
    with warehouse.connection() as con:
        uids = {r[0] for r in con.execute("SELECT SOPInstanceUID FROM dicom_metadata").fetchall()}
    assert uids == {ds.SOPInstanceUID for ds in datasets}


class TrappedStore(FakeRemoteStore):
    def iter_metadata(self) -> Iterator[MetadataItem]:
        raise AssertionError("WRITE_EMPTY must refuse before reading anything")

    def iter_paths(self) -> Iterator[tuple[str, str]]:
        raise AssertionError("WRITE_EMPTY must refuse before reading anything")


def test_write_empty_refuses_before_reading(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.load("dicom_metadata", pa.table({"SOPInstanceUID": ["1.2"]}))
    with pytest.raises(AlreadyExistsError, match="'dicom_metadata' already holds 1 rows"):
        export_store_metadata(TrappedStore([]), warehouse, table="dicom_metadata", progress=False)


def test_sizes_are_checked(cohort):
    store, warehouse = FolderStore(cohort), DuckDBWarehouse(":memory:")
    for bad in (0, -2, 1.5, True):
        with pytest.raises(InvalidRequestError, match=f"workers={bad!r}.*None for one worker"):
            export_store_metadata(store, warehouse, table="t", workers=bad)
        with pytest.raises(InvalidRequestError, match=f"chunk_size={bad!r}.*default is 2000"):
            export_store_metadata(store, warehouse, table="t", chunk_size=bad)


# --- all-or-nothing loads -------------------------------------------------------------------


def _staging_tables(warehouse: DuckDBWarehouse) -> list[str]:
    with warehouse.connection() as con:
        names = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return [n for (n,) in names if n.startswith("__dicomlab")]


def _failing_chunks(good: int) -> Iterator[pa.Table]:
    for i in range(good):
        yield pa.table({"A": [i, i + 1], "B": ["new", "new"]})
    raise OSError("disk full while reading chunk")


@pytest.fixture
def loaded(tmp_path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.load("t", pa.table({"A": [1, 2, 3]}))
    return warehouse


@pytest.mark.parametrize("disposition", ["WRITE_TRUNCATE", "WRITE_APPEND"])
@pytest.mark.parametrize("good", [0, 1, 3])
def test_a_failing_chunk_leaves_the_table_intact(loaded, disposition, good):
    before = _snapshot_plain(loaded)
    with pytest.raises(OSError, match="disk full"):
        loaded.load_chunks("t", _failing_chunks(good), write_disposition=disposition)
    assert _snapshot_plain(loaded) == before
    assert _staging_tables(loaded) == []


def test_a_chunk_duckdb_rejects_leaves_the_table_intact(loaded):
    before = _snapshot_plain(loaded)
    chunks = [pa.table({"A": [7]}), pa.table({"A": [{"x": 1}]})]  # A turns into a struct
    with pytest.raises(InvalidRequestError, match="field 'A' is BIGINT"):
        loaded.load_chunks("t", chunks, write_disposition="WRITE_TRUNCATE")
    assert _snapshot_plain(loaded) == before and _staging_tables(loaded) == []


def test_chunked_dispositions(loaded):
    two = [pa.table({"A": [10]}), pa.table({"A": [11], "C": ["c"]})]
    assert loaded.load_chunks("t", two, write_disposition="WRITE_APPEND") == 2
    assert _snapshot_plain(loaded) == (
        ["A", "C"],
        [(1, None), (2, None), (3, None), (10, None), (11, "c")],
    )
    with pytest.raises(AlreadyExistsError, match="WRITE_TRUNCATE"):
        loaded.load_chunks("t", iter(()), write_disposition="WRITE_EMPTY")
    assert loaded.load_chunks("t", two, write_disposition="WRITE_TRUNCATE") == 2
    assert _snapshot_plain(loaded) == (["A", "C"], [(10, None), (11, "c")])
    assert loaded.load_chunks("t", [], write_disposition="WRITE_TRUNCATE") == 0  # untouched
    assert loaded.count_rows("t") == 2
    assert loaded.load_chunks("fresh", two) == 2 and loaded.tables() == ["fresh", "t"]


def _snapshot_plain(warehouse: DuckDBWarehouse) -> tuple[list, list]:
    with warehouse.connection() as con:
        names = [r[0] for r in con.execute("DESCRIBE t").fetchall()]
        rows = con.execute("SELECT * FROM t ORDER BY ALL").fetchall()
    return names, rows


def test_failed_export_truncate_leaves_the_table_intact(cohort, tmp_path, monkeypatch):
    warehouse, _ = _export(FolderStore(cohort), tmp_path, "keep", workers=1)
    before = _snapshot(warehouse)
    real = dicomlab.export.reading.read_arrow_chunk
    calls = []

    def flaky(spill, own, columns):
        calls.append(spill)
        if len(calls) == 3:
            raise OSError("spill file vanished")
        return real(spill, own, columns)

    monkeypatch.setattr(dicomlab.export.reading, "read_arrow_chunk", flaky)
    extra = tmp_path / "extra"
    extra.mkdir()
    generate_cohort(
        extra,
        seed=99,
        patients=1,
        studies_per_patient=1,
        series_per_study=1,
        instances_per_series=30,
    )
    with pytest.raises(OSError, match="spill file vanished"):
        export_store_metadata(
            FolderStore(extra),
            warehouse,
            table="dicom_metadata",
            write_disposition="WRITE_TRUNCATE",
            workers=1,
            chunk_size=7,
            progress=False,
        )
    assert len(calls) == 3
    assert _snapshot(warehouse) == before and _staging_tables(warehouse) == []


# --- the canned queries, on the sample cohort ----------------------------------------------


def test_canned_queries_do_not_depend_on_workers(tmp_path):
    labs = {}
    for workers in (1, 2):
        lab = dicomlab.connect(home=tmp_path / f"home{workers}")
        result = lab.export_metadata(progress=False, workers=workers)
        assert result.counter == {"success": 81, "failure": 0} and result.workers == workers
        labs[workers] = lab
    for name, params in [
        ("latest_studies", {"limit": 20}),
        ("patient_dicomweb_paths", {"patient_id": "77654033"}),
    ]:
        one, two = (labs[w].query(name, **params) for w in (1, 2))
        assert len(one) == 7
        if name == "patient_dicomweb_paths":  # no ORDER BY in the query
            one, two = (df.sort_values("SOPInstanceUID", ignore_index=True) for df in (one, two))
        assert one.equals(two), name


# --- every file pydicom ships ----------------------------------------------------------------


def test_every_shipped_test_file_exports_or_has_a_reason(tmp_path):
    folder = Path(pydicom.data.__file__).parent / "test_files"
    store = FolderStore(folder)
    files = store.count_instances()
    warehouse, result = _export(store, tmp_path, "all", workers=2, chunk_size=16)
    # Many shipped files are one instance in several encodings: one row per SOPInstanceUID,
    # the later files reported as duplicates naming the file loaded.
    identical = sum(d.identical for d in result.duplicates)
    assert result.success + result.failure + identical == files
    assert result.success > 100 and len(result.duplicates) > 20
    with warehouse.connection() as con:
        uids = [r[0] for r in con.execute("SELECT SOPInstanceUID FROM dicom_metadata").fetchall()]
    assert len(uids) == len(set(uids)) == result.success
    for duplicate in result.duplicates:
        assert duplicate.kept != duplicate.other and duplicate.uid in duplicate.reason()
    # workers build their Arrow without pandas: the very table this process builds with it
    here, _ = _export(store, tmp_path, "here", workers=1, chunk_size=16)
    assert _snapshot(warehouse, order="rowid") == _snapshot(here, order="rowid")
    reasons = dict(result.failures)
    assert all(reasons.values())
    assert "DICOMDIR" in reasons["dicomdirtests/DICOMDIR"]
    assert reasons["README.txt"].startswith("not readable as DICOM: ")
    assert "force=True" not in reasons["README.txt"]


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the odd test files
def test_chunk_conforming_equals_conforming_each_value(tmp_path):
    from dicomlab.export.chunks import conform_chunk, flatten_items
    from dicomlab.rows.flatten import flatten_dataset
    from dicomlab.rows.schema import Column, conform, merge_columns
    from dicomlab.stores.folder import read_instance_metadata

    folder = Path(pydicom.data.__file__).parent / "test_files"
    items = [read_instance_metadata(p, p.name) for p in sorted(folder.glob("*.dcm"))]
    items = [item for item in items if item.dataset is not None]
    summary = flatten_items(items, tmp_path / "spill.arrow")
    # Widen one column, add one: some values must go through conform, some may not.
    target = merge_columns(
        [
            summary.columns,
            {
                "Modality": Column("Modality", "STRING", "REPEATED"),
                "Extra": Column("Extra", "INTEGER"),
            },
        ]
    )
    rows = conform_chunk(summary.spill, summary.columns, target)
    failed = {source for source, _ in summary.failures}
    flats = [flatten_dataset(item.dataset) for item in items if item.source not in failed]
    assert len(rows) == summary.rows == len(flats) > 30
    for row, flat in zip(rows, flats, strict=True):
        expected = {
            name: conform(flat.values.get(name), flat.columns.get(name), column)
            for name, column in target.items()
        }
        assert row == expected
    assert all(isinstance(row["Modality"], list) and row["Extra"] is None for row in rows)
