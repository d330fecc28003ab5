"""GcsFileStore against gcp-storage-emulator with the real client: listing, ranged header
reads, export, search and retrieval, compared with the folder store on the same files."""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd
import pyarrow as pa
import pytest

from dicomlab.errors import IncompleteReadError, NotFoundError, UnsupportedBackendError
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.samples.sample import seed_sample_store
from dicomlab.stores.base import InstanceRef, Store
from dicomlab.stores.folder import FolderStore
from dicomlab.stores.gcsfiles import GcsFileStore
from dicomlab.stores.gcsread import read_object_header
from dicomlab.warehouses.duckdb import DuckDBWarehouse
from tests.support import servers
from tests.support.gcs_emulator import DEFAULT_BUCKET, PreconditionSession, StorageEmulator

NOT_DICOM = {"notes/readme.txt": b"not a DICOM file\n", "empty.dcm": b""}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample cohort (81 files) in a folder."""
    top = tmp_path_factory.mktemp("sample") / "store"
    seed_sample_store(top)
    return top


@pytest.fixture(scope="module")
def cohort(storage_emulator: StorageEmulator, sample: Path) -> str:
    """The sample cohort (81 files, any names) and two objects that are not DICOM, uploaded once."""
    client = storage_emulator.client()
    bucket = client.bucket(storage_emulator.bucket)
    prefix = f"cohort-{uuid.uuid4().hex[:8]}"
    files = sorted(p for p in sample.rglob("*") if p.is_file())
    uploads = {f"{prefix}/{p.relative_to(sample).as_posix()}": p.read_bytes() for p in files}
    uploads.update({f"{prefix}/{name}": data for name, data in NOT_DICOM.items()})
    uploads[f"{prefix}/folder/"] = b""  # a console folder placeholder: not an object

    def put(item: tuple[str, bytes]) -> None:
        bucket.blob(item[0]).upload_from_string(item[1])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, uploads.items()))
    return f"gs://{storage_emulator.bucket}/{prefix}"


@pytest.fixture
def session() -> PreconditionSession:
    return PreconditionSession()


@pytest.fixture
def store(cohort: str, storage_emulator: StorageEmulator, session: PreconditionSession) -> Any:
    # No retries: an injected failure is reported at once (the client would retry for 120 s).
    return GcsFileStore(cohort, client=storage_emulator.client(session), readers=4, retry=None)


@pytest.fixture(scope="module")
def folder(sample: Path) -> FolderStore:
    return FolderStore(sample)


def _export(store: Store, tmp_path: Path, **options: Any) -> tuple[Any, pa.Table]:
    warehouse = DuckDBWarehouse(tmp_path / f"{uuid.uuid4().hex}.duckdb")
    result = export_store_metadata(store, warehouse, table="t", progress=False, **options)
    with warehouse.connection() as con:
        rows = con.sql("SELECT * FROM t ORDER BY SOPInstanceUID").to_arrow_table()
    return result, rows


def test_is_a_store(store: GcsFileStore) -> None:
    assert isinstance(store, Store)
    assert store.url.startswith("gs://") and repr(store) == f"GcsFileStore({store.url!r})"


def test_export_matches_the_folder_store(
    store: GcsFileStore, folder: FolderStore, tmp_path: Path
) -> None:
    result, rows = _export(store, tmp_path)
    expected_result, expected = _export(folder, tmp_path)
    assert result.success == expected_result.success == 81
    assert rows.schema == expected.schema  # column for column, type for type
    assert rows.to_pylist() == expected.to_pylist()
    failed = {source.rsplit("/", 2)[-1] for source, _ in result.failures}
    assert failed == {"readme.txt", "empty.dcm"}  # reported, not fatal; no folder placeholder


@pytest.fixture(scope="module")
def large(storage_emulator: StorageEmulator, sample: Path) -> GcsFileStore:
    """Two large instances: 2 MB of pixel data; and a 300 kB text before 2 MB of pixels."""
    import pydicom

    ds = pydicom.dcmread(next(p for p in sorted(sample.rglob("*")) if p.is_file()))
    ds.Rows = ds.Columns = 1024
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel = 16, 16, 15, 1
    ds.PhotometricInterpretation, ds.PixelRepresentation = "MONOCHROME2", 0
    ds.PixelData = bytes(2 * 1024 * 1024)
    bucket = storage_emulator.client().bucket(storage_emulator.bucket)
    prefix = f"large-{uuid.uuid4().hex[:8]}"
    for name, comment in (("pixels.dcm", None), ("long-header.dcm", "x" * 300_000)):
        if comment is not None:
            ds.TextValue = comment  # UT: no length limit
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        bucket.blob(f"{prefix}/{name}").upload_from_string(buffer.getvalue())
    return GcsFileStore(
        f"gs://{storage_emulator.bucket}/{prefix}", client=storage_emulator.client()
    )


def _header(store: GcsFileStore, name: str, first: int) -> tuple[Any, list[tuple[int, int]], int]:
    info = next(i for i in store.objects() if i.name.endswith(name))
    item, reader = read_object_header(store.storage, store.uri.bucket, info, first=first)
    return item, reader.fetches, info.size


def test_headers_are_read_without_pixel_data(large: GcsFileStore) -> None:
    item, fetches, size = _header(large, "pixels.dcm", 4096)
    assert item.error is None and item.dataset.Rows == 1024
    assert fetches == [(0, 4096)]  # one small ranged read: the header ends before it
    assert size > 2_000_000


def test_a_long_header_is_read_in_growing_ranges(large: GcsFileStore) -> None:
    item, fetches, size = _header(large, "long-header.dcm", 4096)
    assert item.error is None and len(item.dataset.TextValue) == 300_000
    lengths = [length for _, length in fetches]
    # The first read, then the rest of the long value in one read, then the end of the header.
    assert lengths[0] == 4096 and len(lengths) <= 4
    assert all(length >= 8192 for length in lengths[1:])  # never smaller than twice the first
    fetched = sum(lengths)
    assert 300_000 < fetched < 1_000_000 < size  # never the 2 MB of pixel data
    assert [start for start, _ in fetches] == [sum(lengths[:i]) for i in range(len(lengths))]


def test_search_matches_the_folder_store(store: GcsFileStore, folder: FolderStore) -> None:
    patient = folder.search_instances(fields=["PatientID"])["PatientID"].iloc[0]
    got = store.search_instances(PatientID=patient)
    expected = folder.search_instances(PatientID=patient)
    key = "SOPInstanceUID"
    assert not got.empty
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
    )
    studies, expected_studies = store.search_studies(), folder.search_studies()
    assert sorted(studies["StudyInstanceUID"]) == sorted(expected_studies["StudyInstanceUID"])
    assert store.skipped == [] and store.conflicts == {}


def test_retrieval_reads_whole_objects(store: GcsFileStore, folder: FolderStore) -> None:
    row = folder.search_instances(fields=["Rows"]).dropna(subset=["Rows"]).iloc[0]
    ref = InstanceRef(row.StudyInstanceUID, row.SeriesInstanceUID, row.SOPInstanceUID)
    assert store.fetch_instance(ref).PixelData == folder.fetch_instance(ref).PixelData
    assert store.fetch_thumbnail(ref, size=64) == folder.fetch_thumbnail(ref, size=64)
    assert store.fetch_frames(ref, [1]) == folder.fetch_frames(ref, [1])
    metadata = store.fetch_metadata(ref.study, ref.series, ref.instance)
    assert metadata[0]["00080018"]["Value"] == [ref.instance]
    with pytest.raises(NotFoundError, match=r"1\.2\.3\.4"):
        store.fetch_instance(InstanceRef(ref.study, ref.series, "1.2.3.4"))


def test_download_writes_the_same_files_as_the_folder_store(
    store: GcsFileStore, folder: FolderStore, tmp_path: Path
) -> None:
    study = folder.search_studies()["StudyInstanceUID"].iloc[0]
    rows = folder.search_instances(StudyInstanceUID=study)
    got = store.download(rows, tmp_path / "gcs", progress=False)
    expected = folder.download(rows, tmp_path / "folder", progress=False)
    assert got.complete and len(got.written) == len(rows) > 0
    names = sorted(p.relative_to(tmp_path / "gcs") for p in got.written)
    assert names == sorted(p.relative_to(tmp_path / "folder") for p in expected.written)
    assert all((tmp_path / "gcs" / n).read_bytes() == (tmp_path / "folder" / n).read_bytes()
               for n in names)  # fmt: skip


def test_is_read_only(store: GcsFileStore) -> None:
    with pytest.raises(UnsupportedBackendError, match=store.url):
        store.store_files([])
    with pytest.raises(UnsupportedBackendError, match="read-only"):
        store.delete("1.2.3")


def test_the_export_bar_has_the_object_count_from_the_start(
    store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tqdm.auto

    totals: list[int | None] = []

    class Watched(tqdm.auto.tqdm):  # type: ignore[misc]
        def update(self, n: float | None = 1) -> bool | None:
            totals.append(self.total)
            return super().update(n)

    monkeypatch.setattr(tqdm.auto, "tqdm", Watched)
    warehouse = DuckDBWarehouse(tmp_path / "bar.duckdb")
    result = export_store_metadata(store, warehouse, table="t", progress=True)
    # Every object is an instance or a failure: the listing's count is the bar's total.
    assert result.success + result.failure == store.count_instances() == 81 + len(NOT_DICOM)
    assert totals and set(totals) == {store.count_instances()}


def test_an_object_that_cannot_be_read_stops_the_export(
    store: GcsFileStore, session: PreconditionSession, tmp_path: Path
) -> None:
    victim = store.objects()[3].name
    session.faults[quote(victim, safe="")] = 503
    with pytest.raises(IncompleteReadError, match=victim.rsplit("/", 1)[-1]):
        _export(store, tmp_path)
    result, rows = _export(store, tmp_path, allow_partial=True)
    assert result.partial and [s for s, _ in result.unread] == [f"gs://{store.uri.bucket}/{victim}"]
    assert rows.num_rows == 80


class PagingSession(PreconditionSession):
    """Pages object listings as Cloud Storage does (``maxResults``, ``pageToken``).

    gcp-storage-emulator ignores ``maxResults`` and answers every object at
    once; this cuts its answer into pages, so the store's paging is exercised.
    """

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        answer = super().request(method, url, *args, **kwargs)
        query = parse_qs(urlsplit(str(url)).query)
        if method != "GET" or "/o" not in urlsplit(str(url)).path[-2:] or answer.status_code != 200:
            return answer
        size = int(query.get("maxResults", ["1000"])[0])
        start = int(query.get("pageToken", ["0"])[0])
        body = answer.json()
        items = body.get("items", [])
        body["items"] = items[start : start + size]
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        answer._content = json.dumps(body).encode()
        return answer


MANY = 5000


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEmulator]:
    """An emulator on disk whose bucket holds 5,000 small objects under ``many/``.

    The emulator rewrites its whole index on every upload (uploading 5,000 objects takes
    minutes), so one object is uploaded and its entry copied in the index on disk, with
    the objects' files, before the emulator starts again on that folder.
    """
    folder = tmp_path_factory.mktemp("gcs-many")
    server = _on_disk(folder)
    try:
        server.client().bucket(server.bucket).blob("many/00000").upload_from_string(b"x")
    finally:
        server.stop()
    root = folder / ".cloudstorage"
    meta = json.loads((root / ".meta").read_text())
    objects = meta["objects"][server.bucket]
    template = json.dumps(objects["many/00000"])
    for i in range(1, MANY):
        name = f"many/{i:05d}"
        objects[name] = json.loads(
            template.replace("many/00000", name).replace("00000", f"{i:05d}")
        )
        (root / server.bucket / "many" / f"{i:05d}").write_bytes(b"x")
    (root / ".meta").write_text(json.dumps(meta))
    server = _on_disk(folder)
    try:
        yield server
    finally:
        server.stop()


def _on_disk(folder: Path) -> StorageEmulator:
    port = servers.free_port()
    command = [sys.executable, "-m", "gcp_storage_emulator", f"--data-dir={folder}", "start"]
    command += ["--host=127.0.0.1", f"--port={port}", f"--default-bucket={DEFAULT_BUCKET}"]
    process = servers.start_process([*command, "--quiet"], folder / "emulator.log", cwd=folder)
    return servers.ready_or_stopped(StorageEmulator(process, port, folder))


def test_listing_pages_through_5000_objects(many: StorageEmulator) -> None:
    session = PagingSession()
    store = GcsFileStore(f"gs://{many.bucket}/many", client=many.client(session), retry=None)
    objects = store.objects()
    assert store.count_instances() == 5000
    assert [o.name for o in objects] == [f"many/{i:05d}" for i in range(MANY)]
    pages = [url for method, url in session.sent if method == "GET" and "/o?" in url]
    assert len(pages) == 5  # 1,000 objects a page
    assert {"pageToken" in url for url in pages[1:]} == {True}
    store.count_instances()  # listed once, then kept
    assert len([url for method, url in session.sent if "/o?" in url]) == len(pages)


def test_parse_store_uri_options() -> None:
    store = GcsFileStore("gs://public-bucket/some/prefix/?anonymous=true")
    assert store.anonymous and store.url == "gs://public-bucket/some/prefix"
    with pytest.raises(UnsupportedBackendError, match="user=me"):
        GcsFileStore("gs://public-bucket/p?user=me")
