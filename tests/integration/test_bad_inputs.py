"""The bad-input catalogue (issue 8): one table per kind of input, one row per case.

Every case checks three things: the exact dicomlab error type, that the message
names the bad value, and that nothing was written or overwritten (a bucket
folder, a warehouse table, a store file, or a server that must not be called).
Bad DICOM files and malformed server answers are the exception: an export
reports them as failures (or keeps the value in ``OtherElements``) and goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pydicom
import pytest
from pydicom.dataelem import DataElement

import dicomlab
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.buckets.local import LocalBucket
from dicomlab.core.filterfile import FilterFile
from dicomlab.core.resources import BigQueryDataset, BigQueryTable, HealthcareDicomStore
from dicomlab.core.uids import validate_uid
from dicomlab.errors import (
    AlreadyExistsError,
    FilterFileError,
    IncompleteReadError,
    InstanceMismatchError,
    InvalidIdentifierError,
    InvalidRequestError,
    InvalidResourceError,
    NotFoundError,
    QueryError,
    RemoteError,
    UnsupportedBackendError,
)
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.bigquery import BigQueryWarehouse
from dicomlab.warehouses.duckdb import DuckDBWarehouse

TABLE = "dicom_metadata"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones too) with its bytes."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_names(exc: BaseException, value: object) -> None:
    """The message names the bad value: a string by its repr, anything else by repr or text."""
    message = str(exc)
    names = [repr(value)] if isinstance(value, str) else [repr(value), str(value)]
    assert any(name in message for name in names), message


class Tripwire:
    """A client double that must never be used: a bad name fails before any call."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        raise AssertionError(f"the client was used ({name}) for a bad input")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dicomlab.Lab:
    """This module's own exported lab (injection attempts must not touch the shared one)."""
    lab = dicomlab.connect(home=tmp_path_factory.mktemp("bad-inputs"), warehouse=":memory:")
    lab.export_metadata(progress=False, workers=1)
    return lab


@pytest.fixture
def state(lab: dicomlab.Lab) -> Callable[[], tuple[list[str], int | None, dict[str, bytes]]]:
    """What a failed call must leave alone: the tables, the row count and the bucket."""

    def now() -> tuple[list[str], int | None, dict[str, bytes]]:
        return lab.warehouse.tables(), lab.warehouse.count_rows(TABLE), snapshot(lab.bucket.path)

    return now


# ---- a scripted DICOMweb server ------------------------------------------------------------


@dataclass
class Reply:
    """One answer: a status and body, after ``delay`` seconds, or a dropped connection."""

    status: int = 200
    body: bytes = b"[]"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: str | None = None  # "reset" (RST) or "close" (FIN), without any answer
    content_type: str = "application/dicom+json"


@dataclass
class Script:
    """Replies by path suffix (``/series``, ``/metadata``…); requests are recorded."""

    routes: dict[str, Reply] = field(default_factory=dict)
    default: Reply = field(default_factory=Reply)
    requests: list[str] = field(default_factory=list)

    def reply(self, path: str) -> Reply:
        self.requests.append(path)
        route = path.partition("?")[0]
        found = next((r for suffix, r in self.routes.items() if route.endswith(suffix)), None)
        reply = found or self.default
        offset = int(path.partition("offset=")[2].partition("&")[0] or 0)
        if offset and reply.status == 200:
            return Reply()  # a server that honours offset: the next page is empty
        return reply


@pytest.fixture(scope="module")
def http() -> Iterator[tuple[str, dict[str, Script]]]:
    """One server for the module; each test puts its own ``Script`` in ``holder["script"]``."""
    holder: dict[str, Script] = {"script": Script()}

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            reply = holder["script"].reply(self.path)
            if reply.drop == "reset":
                linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
                return
            if reply.drop == "close":
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client timed out and left

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web", holder
    httpd.shutdown()
    httpd.server_close()


def scripted(http: tuple[str, dict[str, Script]], script: Script) -> DICOMwebStore:
    url, holder = http
    holder["script"] = script
    return DICOMwebStore(url, max_attempts=1, backoff=0.001, timeout=(1, 0.3), profile="generic")


# ---- 1. UIDs ---------------------------------------------------------------------------------

KEYWORDS = {
    "study": "StudyInstanceUID",
    "series": "SeriesInstanceUID",
    "instance": "SOPInstanceUID",
}


@pytest.mark.parametrize(
    ("value", "position"),
    [
        pytest.param("", "study", id="empty"),
        pytest.param("1..2", "study", id="empty-component"),
        pytest.param(".1.2", "series", id="leading-dot"),
        pytest.param("1.2.", "instance", id="trailing-dot"),
        pytest.param("1.02.3", "series", id="leading-zero"),
        pytest.param("1.2.3 ", "study", id="trailing-space"),
        pytest.param("1.2.a", "instance", id="letter"),
        pytest.param("1." * 32 + "1", "series", id="65-chars"),
        pytest.param("１.２", "study", id="full-width-digits"),
        pytest.param("1.2\n", "instance", id="trailing-newline"),
        pytest.param("-1.2", "series", id="minus-sign"),
        pytest.param("1.2/../3", "study", id="path-traversal"),
        pytest.param("1.2\udcff", "instance", id="lone-surrogate"),
        pytest.param(None, "study", id="none"),
        pytest.param(123, "study", id="int"),
    ],
)
def test_bad_uid(http, value, position):
    with pytest.raises(InvalidIdentifierError) as info:
        validate_uid(value)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, value)
    assert info.value.value == value
    # A delete naming it is refused before any request reaches the server.
    store = scripted(http, script := Script())
    uids: dict[str, Any] = {"study": "1.2.3", "series": "1.2.3.4", "instance": "1.2.3.4.5"}
    uids[position] = value
    with pytest.raises(InvalidIdentifierError) as info:
        store.delete(uids["study"], uids["series"], uids["instance"])
    assert type(info.value) is InvalidIdentifierError
    assert f"{KEYWORDS[position]} {value!r}" in str(info.value)
    assert script.requests == []


# ---- 2. Healthcare store names ----------------------------------------------------------------

HC = "projects/p/locations/us/datasets/d"
HC_URL = "https://healthcare.googleapis.com"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(HC, id="no-store"),
        pytest.param(f"{HC}/dicomStores/", id="empty-store"),
        pytest.param(f"{HC}/dicomStores/s/", id="trailing-slash"),
        pytest.param("projects//locations/us/datasets/d/dicomStores/s", id="empty-project"),
        pytest.param(f"{HC}/fhirStores/s", id="fhir-store"),
        pytest.param(f"{HC}/dicomStores/s t", id="space"),
        pytest.param(f"{HC}/dicomStores/s?alt=json", id="query-string"),
        pytest.param(f"{HC}/dicomStores/s/dicomWeb/studies", id="dicomweb-subpath"),
        pytest.param(f"{HC}/dicomStores/s\n", id="trailing-newline"),
        pytest.param(f"{HC_URL}/v2/{HC}/dicomStores/s/dicomWeb", id="unknown-api-version"),
        pytest.param(f"{HC_URL}/v1/{HC}/dicomStores/{'s' * 257}/dicomWeb", id="257-char-store"),
        pytest.param(
            "projects/p/locations/us/datasets/../dicomStores/s",
            id="dot-dot-dataset",
        ),
        pytest.param(
            "projects/pé/locations/us/datasets/d/dicomStores/s",
            id="non-ascii-project",
        ),
    ],
)
def test_bad_healthcare_store_name(name, home):
    with pytest.raises(InvalidResourceError) as info:
        HealthcareDicomStore.parse(name)
    assert type(info.value) is InvalidResourceError
    assert_names(info.value, name)
    # connect() refuses it before looking for credentials or writing its data folder.
    with pytest.raises(InvalidResourceError) as info:
        dicomlab.connect(store=name, home=home)
    assert_names(info.value, name)
    assert not home.exists()


def test_empty_store_spec_is_refused(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(store="", home=home)
    assert_names(info.value, "")


@pytest.mark.parametrize("kind", ["store", "warehouse", "bucket"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("data\0.duckdb", id="nul"),
        pytest.param(Path("data\0.duckdb"), id="nul-path"),
        pytest.param(b"/tmp/data.duckdb", id="bytes"),
        pytest.param(42, id="int"),
        pytest.param(["/tmp/data"], id="list"),
    ],
)
def test_bad_backend_spec_type_is_refused(home, kind, value):
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(**{kind: value}, home=home)
    assert kind in str(info.value)
    assert_names(info.value, os.fspath(value) if isinstance(value, Path) else value)
    assert not home.exists()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("data\0", id="nul"),
        pytest.param(Path("data\0"), id="nul-path"),
        pytest.param(b"/tmp/home", id="bytes"),
        pytest.param(42, id="int"),
        pytest.param("", id="empty"),
        pytest.param("  ", id="blank"),
    ],
)
def test_bad_home_is_refused(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidRequestError) as info:
        dicomlab.connect(home=value)
    assert "home" in str(info.value)
    assert_names(info.value, os.fspath(value) if isinstance(value, Path) else value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    ["http://", "https://", "http:///dicom-web", "http://:8042/dicom-web", "http://[::1/dicom-web"],
)
def test_dicomweb_url_without_a_server_is_refused(home, url):
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(store=url, home=home)
    assert_names(info.value, url)
    assert "HOST" in str(info.value)
    assert not home.exists()
    with pytest.raises(UnsupportedBackendError) as info:  # the store itself refuses it
        DICOMwebStore(url)
    assert_names(info.value, url)


# ---- 3. bq:// URIs, table names, write dispositions ------------------------------------------


@pytest.mark.parametrize(
    ("kind", "uri"),
    [
        pytest.param(BigQueryTable, "my-project.imaging.t", id="no-scheme"),
        pytest.param(BigQueryTable, "bigquery://my-project.imaging.t", id="wrong-scheme"),
        pytest.param(BigQueryTable, "bq://my-project.imaging", id="table-missing"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.t.x", id="four-parts"),
        pytest.param(BigQueryTable, "bq://my-project..t", id="empty-dataset"),
        pytest.param(BigQueryTable, "bq://My-Project.imaging.t", id="uppercase-project"),
        pytest.param(BigQueryTable, "bq://proj.imaging.t", id="project-too-short"),
        pytest.param(BigQueryTable, "bq://my-project-.imaging.t", id="project-ends-with-hyphen"),
        pytest.param(BigQueryTable, "bq://my-project.ima-ging.t", id="hyphen-in-dataset"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.1table", id="table-starts-digit"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.t;DROP TABLE x", id="injection"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.t ", id="trailing-space"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.tåble", id="non-ascii-table"),
        pytest.param(BigQueryTable, None, id="none"),
        pytest.param(BigQueryDataset, "bq://my-project", id="dataset-missing"),
        pytest.param(BigQueryDataset, "bq://my-project.imaging.t", id="dataset-with-table"),
        pytest.param(BigQueryDataset, "bq://a:b:my-project.imaging", id="two-domains"),
    ],
)
def test_bad_bigquery_uri(kind, uri):
    with pytest.raises(InvalidResourceError) as info:
        kind.parse(uri)
    assert type(info.value) is InvalidResourceError
    assert_names(info.value, uri)
    if kind is BigQueryDataset:  # as a warehouse: refused before any BigQuery call
        client = Tripwire()
        with pytest.raises(InvalidResourceError) as info:
            BigQueryWarehouse(uri, client=client)
        assert_names(info.value, uri)
        assert client.used == []


@pytest.mark.parametrize(
    "table",
    [
        pytest.param("1abc", id="starts-with-digit"),
        pytest.param("dicom-metadata", id="hyphen"),
        pytest.param("dicom metadata", id="space"),
        pytest.param('x"; DROP TABLE dicom_metadata; --', id="injection"),
        pytest.param("tåble", id="non-ascii"),
        pytest.param("dicom_metadata\n", id="trailing-newline"),
        pytest.param("a" * 1025, id="1025-chars"),
        pytest.param(
            "",
            id="empty",
        ),
    ],
)
def test_bad_table_name_exports_nothing(tmp_path, table):
    # A lab whose table is still empty: a fallback to the default table would write it.
    store = FolderStore(_two_good_files(tmp_path))
    lab = dicomlab.connect(store=store, warehouse=":memory:", home=tmp_path / "home")
    with pytest.raises(InvalidIdentifierError) as info:
        lab.export_metadata(table=table, progress=False, workers=1)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, table)
    assert lab.warehouse.tables() == []


@pytest.mark.parametrize(
    "disposition",
    [
        pytest.param("write_truncate", id="lowercase"),
        pytest.param("TRUNCATE", id="short-form"),
        pytest.param("WRITE_TRUNCATE ", id="trailing-space"),
        pytest.param(None, id="none"),
    ],
)
def test_bad_write_disposition_changes_nothing(lab, state, disposition):
    before = state()
    with pytest.raises(InvalidIdentifierError) as info:
        lab.export_metadata(write_disposition=disposition, progress=False, workers=1)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, disposition)
    assert state() == before


@pytest.mark.parametrize(
    "allow_partial",
    [
        pytest.param(1, id="one"),
        pytest.param("yes", id="string"),
        pytest.param(None, id="none"),
    ],
)
def test_allow_partial_must_be_a_bool(lab, state, allow_partial):
    before = state()
    with pytest.raises(InvalidRequestError) as info:
        lab.export_metadata(
            "other_table", "WRITE_TRUNCATE", allow_partial=allow_partial, progress=False, workers=1
        )
    assert type(info.value) is InvalidRequestError
    assert_names(info.value, allow_partial)
    assert state() == before


def test_write_empty_into_a_table_with_rows_changes_nothing(lab, state):
    before = state()
    with pytest.raises(AlreadyExistsError) as info:
        lab.export_metadata(TABLE, "WRITE_EMPTY", progress=False, workers=1)
    assert type(info.value) is AlreadyExistsError
    assert_names(info.value, TABLE)
    assert state() == before


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param("bq://My-Project.imaging.cohort", id="bq-uppercase-project"),
        pytest.param("bq://my-project.imaging", id="bq-table-missing"),
        pytest.param("cohort table", id="table-name-with-space"),
        pytest.param("gs://Bad_Bucket/cohort", id="gs-uppercase-bucket"),
    ],
)
def test_bad_cohort_destination_uploads_nothing(lab, tmp_path, destination):
    own = dicomlab.Lab(lab.store, lab.warehouse, LocalBucket(tmp_path / "bucket"))
    hits = own.query("patient_dicomweb_paths", patient_id="77654033")
    tables, rows = own.warehouse.tables(), own.warehouse.count_rows(TABLE)
    with pytest.raises((InvalidResourceError, InvalidIdentifierError)) as info:
        own.export_cohort(hits, destination, name="cohort.txt", progress=False)
    assert type(info.value) in (InvalidResourceError, InvalidIdentifierError)
    assert_names(info.value, destination)
    assert snapshot(tmp_path) == {}  # no filter file, no provenance record
    assert (own.warehouse.tables(), own.warehouse.count_rows(TABLE)) == (tables, rows)


# ---- 4. gs:// URIs and object names ---------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("gs://", id="no-bucket"),
        pytest.param("gs://ab/x", id="bucket-too-short"),
        pytest.param("gs://" + "a" * 64 + "/x", id="bucket-too-long"),
        pytest.param("gs://Bucket/x", id="uppercase-bucket"),
        pytest.param("gs://-bucket/x", id="bucket-starts-with-hyphen"),
        pytest.param("gs://bucket-/x", id="bucket-ends-with-hyphen"),
        pytest.param("gs://bu cket/x", id="space-in-bucket"),
        pytest.param("gs://bücket/x", id="non-ascii-bucket"),
        pytest.param("gs://my..bucket/x", id="bucket-with-two-dots"),
        pytest.param("gs://192.168.5.4/x", id="ip-address-bucket"),
        pytest.param("gs://goog-cohorts/x", id="goog-prefix-bucket"),
        pytest.param("gs://my-google-data/x", id="google-in-bucket"),
        pytest.param("s3://bucket/x", id="wrong-scheme"),
        pytest.param("gs:/bucket/x", id="one-slash"),
        pytest.param("gs://bucket/a\nb", id="newline-in-object"),
        pytest.param("gs://bucket/" + "a" * 1025, id="object-over-1024-bytes"),
        pytest.param("gs://bucket/cohorts/../x", id="dot-dot-folder"),
        pytest.param(
            "gs://bucket/a\udcff",
            id="lone-surrogate",
        ),
        pytest.param(None, id="none"),
    ],
)
def test_bad_gcs_uri(uri):
    client = Tripwire()
    with pytest.raises(InvalidResourceError) as info:
        GcsBucket(uri, client=client)
    assert type(info.value) is InvalidResourceError
    assert_names(info.value, uri)
    assert client.used == []


@pytest.fixture
def bucket(tmp_path: Path) -> LocalBucket:
    bucket = LocalBucket(tmp_path / "bucket")
    bucket.upload_bytes(b"/studies/1.2\n", "cohort.txt")
    return bucket


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("/abs.txt", id="absolute"),
        pytest.param("a//b.txt", id="empty-segment"),
        pytest.param("../escape.txt", id="parent"),
        pytest.param("a/../../escape.txt", id="parent-inside"),
        pytest.param("./a.txt", id="dot"),
        pytest.param("dir/", id="trailing-slash"),
        pytest.param("a\\b.txt", id="backslash"),
        pytest.param("a\nb.txt", id="newline"),
        pytest.param("a\x00b.txt", id="nul"),
        pytest.param("x" * 1025, id="1025-bytes"),
        pytest.param("é" * 513, id="1026-utf8-bytes"),
        pytest.param(
            "a\udcff.txt",
            id="lone-surrogate",
        ),
        pytest.param(None, id="none"),
    ],
)
def test_bad_object_name_writes_nothing(bucket, tmp_path, name):
    before = snapshot(tmp_path)
    with pytest.raises(InvalidIdentifierError) as info:
        bucket.upload_bytes(b"/studies/1.3\n", name)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, name)
    assert snapshot(tmp_path) == before  # nothing in the bucket, nothing beside it


def test_existing_object_is_not_overwritten(bucket, tmp_path):
    before = snapshot(tmp_path)
    with pytest.raises(AlreadyExistsError) as info:
        bucket.upload_bytes(b"/studies/9.9\n", "cohort.txt")
    assert type(info.value) is AlreadyExistsError
    assert "cohort.txt" in str(info.value)
    assert snapshot(tmp_path) == before


def test_dot_name_is_listed_or_refused(bucket):
    try:
        bucket.upload_bytes(b"/studies/1.3\n", ".cohort.txt")
    except InvalidIdentifierError as exc:
        assert_names(exc, ".cohort.txt")
    else:
        assert ".cohort.txt" in bucket.list()


def test_empty_bucket_spec_is_refused(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(bucket="", home=home)
    assert_names(info.value, "")


# ---- 5. query names and parameters -----------------------------------------------------------

WIDE = {"start_date": "1900-01-01", "end_date": "2100-01-01"}


@pytest.mark.parametrize(
    ("name", "params", "error", "shown"),
    [
        pytest.param("Latest_Studies", {}, InvalidIdentifierError, None, id="case"),
        pytest.param("../queries/latest_studies", {}, InvalidIdentifierError, None, id="path"),
        pytest.param("latest_studies.sql", {}, InvalidIdentifierError, None, id="suffix"),
        pytest.param("", {}, InvalidIdentifierError, None, id="empty-name"),
        pytest.param("no_such_query", {}, QueryError, None, id="unknown"),
        pytest.param("latest_studies", {}, QueryError, "missing: limit", id="missing"),
        pytest.param("series_per_patient", {"bogus": 1}, QueryError, "unknown: bogus", id="extra"),
        pytest.param(
            "patient_dicomweb_paths",
            {"patient_id": "77654033", "limit": 5},
            QueryError,
            "unknown: limit",
            id="extra-beside-declared",
        ),
        pytest.param("latest_studies", {"limit": "10"}, QueryError, "'10'", id="str-for-int"),
        pytest.param("latest_studies", {"limit": True}, QueryError, "bool True", id="bool-for-int"),
        pytest.param("latest_studies", {"limit": 1.5}, QueryError, "float 1.5", id="float-for-int"),
        pytest.param(
            "latest_studies", {"limit": None}, QueryError, "NoneType None", id="none-for-int"
        ),
        pytest.param(
            "latest_studies",
            {"limit": 2**64},
            QueryError,
            str(2**64),
            id="int-over-int64",
        ),
        pytest.param(
            "latest_studies",
            {"limit": -123456789},
            QueryError,
            "-123456789",
            id="negative-limit",
        ),
        pytest.param(
            "patient_dicomweb_paths",
            {"patient_id": 77654033},
            QueryError,
            "int 77654033",
            id="int-for-str",
        ),
        pytest.param(
            "studies_by_modality",
            {"modality": "CT", "start_date": "2024-02-30", "end_date": "2024-03-01"},
            QueryError,
            "'2024-02-30'",
            id="impossible-date",
        ),
        pytest.param(
            "studies_by_modality",
            {"modality": "CT", "start_date": "24/09/1998", "end_date": "2024-03-01"},
            QueryError,
            "'24/09/1998'",
            id="date-format",
        ),
        pytest.param(
            "filter_file_paths",
            {"study_uids": ["1.2", 3]},
            QueryError,
            "int 3",
            id="int-in-string-array",
        ),
        pytest.param(
            "filter_file_paths",
            {"study_uids": "1.2.3"},
            QueryError,
            "'1.2.3'",
            id="str-for-array",
        ),
        pytest.param(
            "latest_studies", {"limit": 1, "source": "nope"}, QueryError, "'nope'", id="bad-source"
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "source": "latest_studies"},
            QueryError,
            "source 'latest_studies'",
            id="self-source",
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "table": "no_such_table"},
            QueryError,
            "no_such_table",
            id="missing-table",
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "table": "no-such-table"},
            InvalidIdentifierError,
            "'no-such-table'",
            id="bad-table-name",
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "table": ""},
            InvalidIdentifierError,
            "table name ''",
            id="empty-table-name",
        ),
    ],
)
def test_bad_query_changes_nothing(lab, state, name, params, error, shown):
    """``shown``: what the message must quote (``None``: the query name's repr)."""
    before = state()
    with pytest.raises(error) as info:
        lab.query(name, **params)
    assert type(info.value) is error
    assert (repr(name) if shown is None else shown) in str(info.value)
    assert state() == before


@pytest.mark.parametrize(
    ("name", "params"),
    [
        pytest.param("patient_dicomweb_paths", {"patient_id": "' OR '1'='1"}, id="or-true"),
        pytest.param(
            "patient_dicomweb_paths", {"patient_id": "77654033' OR '1'='1"}, id="known-id-or-true"
        ),
        pytest.param(
            "patient_dicomweb_paths",
            {"patient_id": "x'; DROP TABLE dicom_metadata; --"},
            id="drop-table",
        ),
        pytest.param("patient_dicomweb_paths", {"patient_id": '" OR 1=1 --'}, id="double-quote"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "%"}, id="like-wildcard"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "*"}, id="star"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "$patient_id"}, id="duckdb-param"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "@patient_id"}, id="bq-param"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "77654033\x00"}, id="nul"),
        pytest.param(
            "studies_by_modality", {"modality": "CT' OR '1'='1", **WIDE}, id="modality-or-true"
        ),
        pytest.param(
            "filter_file_paths",
            {"study_uids": ["1' OR '1'='1", "') OR 1=1 --"]},
            id="array-items",
        ),
    ],
)
def test_injection_values_match_nothing(lab, state, name, params):
    before = state()
    assert lab.query(name, **params).empty
    assert state() == before


@pytest.mark.parametrize(
    "text",
    [None, 42, b"SELECT 1", "", "   \n"],
    ids=["none", "int", "bytes", "empty", "blank"],
)
def test_sql_that_is_no_query_text_is_refused(lab, state, text):
    before = state()
    with pytest.raises(QueryError) as info:
        lab.sql(text)
    assert type(info.value) is QueryError
    assert repr(text) in str(info.value)
    assert state() == before


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("DROP TABLE dicom_metadata", "DROP TABLE dicom_metadata", id="drop"),
        pytest.param("DELETE FROM dicom_metadata WHERE TRUE; SELECT 1", "DELETE FROM", id="delete"),
        pytest.param(
            "INSERT INTO dicom_metadata (PatientID) VALUES ('x'); SELECT 1",
            "INSERT INTO dicom_metadata",
            id="insert",
        ),
        pytest.param(
            "CREATE OR REPLACE TABLE dicom_metadata AS SELECT 1 AS a; SELECT 1",
            "CREATE OR REPLACE TABLE dicom_metadata",
            id="replace-table",
        ),
        pytest.param(
            "CREATE TEMP FUNCTION twice(x FLOAT64) RETURNS FLOAT64 LANGUAGE js "
            "AS 'return 2*x;'; SELECT twice(1)",
            "twice has a js body",
            id="javascript",
        ),
        pytest.param("SET y = 1; SELECT 1", "'y'", id="undeclared"),
        pytest.param(
            "SELECT * FROM INFORMATION_SCHEMA.PARTITIONS",
            "INFORMATION_SCHEMA.PARTITIONS",
            id="view",
        ),
        pytest.param(
            "SELECT SpiralPitchFactor FROM `p.d.dicom_metadata`",
            "'SpiralPitchFactor'",
            id="absent-column",
        ),
    ],
)
def test_sql_the_embedded_warehouse_refuses_changes_nothing(lab, state, text, shown):
    before = state()
    with pytest.raises(QueryError) as info:
        lab.sql(text)
    assert type(info.value) is QueryError
    assert shown in str(info.value)
    assert state() == before


def test_bigquery_warehouse_without_google_libraries_says_what_to_install(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)  # as if not installed
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(home=home, warehouse="bq://my-project.imaging")
    assert "'bq://my-project.imaging'" in str(info.value)
    assert "pip install google-cloud-bigquery" in str(info.value)
    assert not (home / "warehouse.duckdb").exists()


# ---- 6. filter-file text ---------------------------------------------------------------------

LONG_UID = "1." * 32 + "1"  # 65 characters


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param(
            "/studies/1.2\n\n\n/studies/1.3\n", ("/studies/1.2", "/studies/1.3"), id="blank"
        ),
        pytest.param("   \n\t\n", (), id="only-whitespace"),
        pytest.param(
            "/studies/1.2\r\n/studies/1.3\r\n", ("/studies/1.2", "/studies/1.3"), id="crlf"
        ),
        pytest.param(
            "/studies/1.2\n/studies/1.3", ("/studies/1.2", "/studies/1.3"), id="no-final-eol"
        ),
        pytest.param("/studies/1.2\n/studies/1.2\n", ("/studies/1.2",), id="duplicate"),
        pytest.param(
            "/studies/1.2/series/1.2.3\n/studies/1.2\n", ("/studies/1.2",), id="study-covers-series"
        ),
        pytest.param(
            "/studies/1.2/series/1.2.3/instances/1.2.3.4\n/studies/1.2/series/1.2.3\n",
            ("/studies/1.2/series/1.2.3",),
            id="series-covers-instance",
        ),
        pytest.param(
            "/studies/1.1\n/studies/1.10/series/1.10.1\n",
            ("/studies/1.1", "/studies/1.10/series/1.10.1"),
            id="similar-prefix-is-no-cover",
        ),
    ],
)
def test_allowed_filter_text_is_collapsed(bucket, text, lines):
    ff = FilterFile.parse(text)
    assert ff.lines == lines
    assert FilterFile.parse(ff.to_text()) == ff
    bucket.upload_bytes(ff.to_bytes(), "parsed.txt")
    assert bucket.download_bytes("parsed.txt").decode() == ff.to_text()


@pytest.mark.parametrize(
    ("text", "bad", "line"),
    [
        pytest.param("/study/1.2", "/study/1.2", 1, id="singular-prefix"),
        pytest.param("studies/1.2", "studies/1.2", 1, id="no-leading-slash"),
        pytest.param("/STUDIES/1.2", "/STUDIES/1.2", 1, id="uppercase-prefix"),
        pytest.param("/dicomWeb/studies/1.2", "/dicomWeb/studies/1.2", 1, id="dicomweb-prefix"),
        pytest.param("gs://b/studies/1.2", "gs://b/studies/1.2", 1, id="uri-prefix"),
        pytest.param("/studies/1.2/", "/studies/1.2/", 1, id="trailing-slash"),
        pytest.param("/studies/1.2/series/", "/studies/1.2/series/", 1, id="empty-series"),
        pytest.param(
            "/studies/1.2/instances/1.2.3", "/studies/1.2/instances/1.2.3", 1, id="skips-series"
        ),
        pytest.param(" /studies/1.2", " /studies/1.2", 1, id="leading-space"),
        pytest.param("\ufeff/studies/1.2\n", "\ufeff/studies/1.2", 1, id="byte-order-mark"),
        pytest.param("/studies/1.2\n/studies/1.3\n/study/1.4\n", "/study/1.4", 3, id="line-3"),
        pytest.param("/studies/１.２", "１.２", 1, id="non-ascii-digits"),
        pytest.param("/studies/1.2é", "1.2é", 1, id="non-ascii-letter"),
        pytest.param("/studies/1.02", "1.02", 1, id="leading-zero"),
        pytest.param(f"/studies/{LONG_UID}", LONG_UID, 1, id="65-char-uid"),
        pytest.param("/studies/1.2 ", "1.2 ", 1, id="trailing-space"),
        pytest.param("/studies/1.2\r\r\n", "1.2\r", 1, id="double-cr"),
        pytest.param(
            "/studies/1.2\udcff",
            "1.2\udcff",
            1,
            id="lone-surrogate",
        ),
        pytest.param("/studies/1.2\n/studies/1.2/series/1.02\n", "1.02", 2, id="bad-uid-line-2"),
    ],
)
def test_bad_filter_text_uploads_nothing(bucket, tmp_path, text, bad, line):
    before = snapshot(tmp_path)
    with pytest.raises(FilterFileError) as info:
        bucket.upload_bytes(FilterFile.parse(text).to_bytes(), "cohort-2.txt")
    assert type(info.value) is FilterFileError
    assert repr(bad) in str(info.value)
    assert [number for number, _ in info.value.problems] == [line]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("lines", "shown"),
    [
        pytest.param("/studies/1.2", "'/studies/1.2'", id="one-string"),
        pytest.param(b"/studies/1.2", "b'/studies/1.2'", id="bytes"),
        pytest.param([123], "123", id="int-line"),
        pytest.param(["/studies/1.2", None], "None", id="none-line"),
        pytest.param(7, "7", id="not-iterable"),
    ],
)
def test_filter_file_from_lines_of_the_wrong_type(lines, shown):
    with pytest.raises(FilterFileError) as info:
        FilterFile(lines)
    assert type(info.value) is FilterFileError
    assert shown in str(info.value)


def test_filter_file_from_a_dataframe_with_a_column_twice():
    import pandas as pd

    df = pd.DataFrame(
        [["1.2", "1.2", "1.2.3"]], columns=["StudyInstanceUID", "StudyInstanceUID", "X"]
    )
    with pytest.raises(FilterFileError) as info:
        FilterFile.from_dataframe(df)
    assert "'StudyInstanceUID'" in str(info.value)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        pytest.param("limit", 2.5, id="limit-float"),
        pytest.param("limit", 0, id="limit-zero"),
        pytest.param("limit", True, id="limit-bool"),
        pytest.param("size", "64", id="size-str"),
        pytest.param("size", -5, id="size-negative"),
        pytest.param("columns", 1.5, id="columns-float"),
        pytest.param("concurrency", "8", id="concurrency-str"),
    ],
)
def test_bad_image_grid_argument_is_refused(lab, argument, value):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    with pytest.raises(InvalidRequestError) as info:
        lab.images(hits, progress=False, **{argument: value})
    assert f"{argument}={value!r}" in str(info.value)


@pytest.mark.parametrize("value", ["64", 0, -5, 64.0, None])
def test_bad_thumbnail_size_fetches_nothing(lab, value):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    calls: list[object] = []
    original = lab.store.fetch_thumbnail
    lab.store.fetch_thumbnail = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        with pytest.raises(InvalidRequestError) as info:
            lab.store.fetch_thumbnails(hits, size=value, progress=False)
        assert f"size={value!r}" in str(info.value)
        with pytest.raises(InvalidRequestError):
            original(InstanceRef("1.2", "1.2.3", "1.2.3.4"), size=value)
    finally:
        del lab.store.fetch_thumbnail
    assert calls == []


# ---- 7. DICOM files exported from a folder store ---------------------------------------------


def _two_good_files(tmp_path: Path) -> Path:
    from dicomlab.samples.sample import sample_files

    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    for index, path in enumerate(sample_files()[:2]):
        shutil.copy(path, store / f"good-{index}.dcm")
    return store


def _base() -> pydicom.Dataset:
    from dicomlab.samples.sample import sample_files

    return pydicom.dcmread(sample_files()[2])


def _base_bytes() -> bytes:
    from dicomlab.samples.sample import sample_files

    return sample_files()[2].read_bytes()


def _offset(raw: bytes, tag: int, vr: str) -> int:
    """Where the explicit-VR little-endian element ``tag`` starts in ``raw``."""
    at = raw.find(struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode(), 132)
    assert at > 0
    return at


def _saved(ds: pydicom.Dataset) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def _without_sop() -> bytes:
    ds = _base()
    del ds.SOPInstanceUID
    return _saved(ds)


def _huge_private() -> bytes:
    ds = _base()
    ds.private_block(0x0009, "ACME", create=True).add_new(0x01, "UT", "x" * 2_000_000)
    return _saved(ds)


def _huge_standard() -> bytes:
    ds = _base()
    ds.ImageComments = "x" * 2_000_000
    return _saved(ds)


def _patched(ds: pydicom.Dataset, marker: bytes, replacement: bytes) -> bytes:
    """``ds`` saved, with the one occurrence of ``marker`` replaced (a value pydicom refuses)."""
    raw = _saved(ds)
    assert raw.count(marker) == 1 and len(marker) == len(replacement)
    return raw.replace(marker, replacement)


def _bad_date() -> bytes:
    ds = _base()
    ds.StudyDate = "19991231"
    return _patched(ds, b"19991231", b"notadate")


def _vr_mismatch() -> bytes:
    ds = _base()
    ds[0x00080020] = DataElement(0x00080020, "LO", "20010101")
    return _saved(ds)


def _two_modalities() -> bytes:
    ds = _base()
    ds.Modality = ["CT", "MR"]
    return _saved(ds)


def _ds_not_a_number() -> bytes:
    ds = _base()
    ds.SliceThickness = "9.25"
    return _patched(ds, b"9.25", b"x.yz")


FAILED = "failure"


@pytest.mark.parametrize(
    ("make", "expect", "detail"),
    [
        pytest.param(lambda: b"", FAILED, "not readable as DICOM", id="empty-file"),
        pytest.param(
            lambda: b"PatientName,StudyDate\nDoe^John,20010101\n",
            FAILED,
            "not readable as DICOM",
            id="csv-text",
        ),
        pytest.param(lambda: bytes(range(256)) * 16, FAILED, "not readable", id="binary-noise"),
        pytest.param(lambda: b"\0" * 128 + b"DICM", FAILED, "SOPInstanceUID", id="preamble-only"),
        pytest.param(lambda: _base_bytes()[:200], FAILED, "SOPInstanceUID", id="cut-in-file-meta"),
        pytest.param(
            lambda: (raw := _base_bytes())[: _offset(raw, 0x00080018, "UI")],
            FAILED,
            "SOPInstanceUID",
            id="cut-before-sop-uid",
        ),
        pytest.param(
            lambda: (raw := _base_bytes())[: _offset(raw, 0x0020000D, "UI") + 18],
            FAILED,
            "truncated",
            id="cut-inside-study-uid",
        ),
        pytest.param(
            lambda: (raw := _base_bytes())[: _offset(raw, 0x0020000D, "UI")],
            FAILED,
            "StudyInstanceUID",
            id="cut-before-study-uid",
        ),
        pytest.param(_without_sop, FAILED, "SOPInstanceUID", id="missing-sop-uid"),
        pytest.param(_bad_date, ("Tag_00080020", "notadate"), "StudyDate", id="da-not-a-date"),
        pytest.param(_vr_mismatch, ("Tag_00080020", "20010101"), "StudyDate", id="da-as-lo"),
        pytest.param(
            _ds_not_a_number,
            ("Tag_00180050", "x.yz"),
            "SliceThickness",
            id="ds-not-a-number",
        ),
        pytest.param(_two_modalities, ("Tag_00080060", "CT"), "Modality", id="vm-2-for-vm-1"),
        pytest.param(_huge_standard, ("dropped", "ImageComments"), None, id="huge-standard-value"),
        pytest.param(_huge_private, ("kept", "Tag_00091001"), None, id="huge-private-value"),
        pytest.param(
            _huge_private,
            ("dropped", "Tag_00091001"),
            None,
            id="huge-private-value-dropped",
        ),
    ],
)
def test_bad_dicom_file_never_stops_an_export(tmp_path, make, expect, detail):
    store = _two_good_files(tmp_path)
    bad = store / "bad.dcm"
    warehouse = DuckDBWarehouse(":memory:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the values we broke on purpose
        bad.write_bytes(make())
        before = snapshot(store)
        result = export_store_metadata(
            FolderStore(store), warehouse, table="t", progress=False, workers=1
        )
    assert snapshot(store) == before  # the store's files are never touched
    assert result.success + result.failure == 3
    assert warehouse.count_rows("t") == result.success
    if expect == FAILED:
        assert result.success == 2
        assert len(result.failures) == 1
        source, reason = result.failures[0]
        assert source == "bad.dcm" and detail in reason
        return
    assert result.success == 3 and result.failures == []
    uid = pydicom.dcmread(bad, stop_before_pixels=True, force=True).SOPInstanceUID
    row = warehouse.run_sql(
        "SELECT * FROM dicom_metadata WHERE SOPInstanceUID = @uid", {"uid": uid}, table="t"
    ).iloc[0]
    kept = row["OtherElements"] if "OtherElements" in row.index else []
    other = {item["Tag"]: list(item["Data"]) for item in kept}
    listed = row["DroppedTags"] if "DroppedTags" in row.index else None
    dropped = [t["TagName"] for t in (listed if listed is not None else [])]
    where, value = expect
    if where == "dropped":
        assert value in dropped and value not in other
    elif where == "kept":  # not fatal: in OtherElements whole, or listed as dropped
        assert value in other or value in dropped
    else:
        assert value in other[where]
        assert result.unparsed[detail] == 1


# ---- 8. server errors from a scripted DICOMweb server ----------------------------------------

SERIES = {
    "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
    "0020000E": {"vr": "UI", "Value": ["1.2.3.4"]},
}
INSTANCE = {
    **SERIES,
    "00080018": {"vr": "UI", "Value": ["1.2.3.4.5"]},
    "00080060": {"vr": "CS", "Value": ["CT"]},
}


@pytest.fixture
def filled() -> tuple[DuckDBWarehouse, Callable[[], list[dict[str, Any]]]]:
    """A warehouse whose table ``t`` already holds a row an export must not lose."""
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load("t", pa.table({"SOPInstanceUID": ["9.9.9"], "Modality": ["MR"]}))

    def rows() -> list[dict[str, Any]]:
        with warehouse.connection() as con:
            result: list[dict[str, Any]] = con.sql("SELECT * FROM t").to_arrow_table().to_pylist()
        return result

    return warehouse, rows


def _export(store: DICOMwebStore, warehouse: DuckDBWarehouse) -> Any:
    return export_store_metadata(
        store, warehouse, table="t", write_disposition="WRITE_TRUNCATE", progress=False, workers=1
    )


@pytest.mark.parametrize(
    ("reply", "error", "status"),
    [
        pytest.param(Reply(400, b'{"error": "bad"}'), RemoteError, 400, id="400"),
        pytest.param(Reply(401, b"{}", {"WWW-Authenticate": "Bearer"}), RemoteError, 401, id="401"),
        pytest.param(Reply(403, b'{"error": "denied"}'), RemoteError, 403, id="403"),
        pytest.param(Reply(404, b"{}"), NotFoundError, 404, id="404"),
        pytest.param(Reply(406, b"{}"), RemoteError, 406, id="406"),
        pytest.param(Reply(409, b"{}"), RemoteError, 409, id="409"),
        pytest.param(Reply(429, b"{}", {"Retry-After": "30"}), RemoteError, 429, id="429"),
        pytest.param(Reply(500, b"oops"), RemoteError, 500, id="500"),
        pytest.param(Reply(503, b"{}", {"Retry-After": "30"}), RemoteError, 503, id="503"),
    ],
)
def test_server_status_is_translated_and_the_table_kept(http, filled, reply, error, status):
    warehouse, rows = filled
    before = rows()
    store = scripted(http, script := Script(default=reply))
    started = time.monotonic()
    with pytest.raises(error) as info:
        _export(store, warehouse)
    assert type(info.value) is error
    assert "instances" in str(info.value)  # the resource asked for
    if error is RemoteError:
        assert info.value.status == status and info.value.service == "DICOMweb"
        assert f"HTTP {status}" in str(info.value)
    assert len(script.requests) == 1  # max_attempts=1: no retry, and Retry-After not waited
    assert time.monotonic() - started < 5
    assert rows() == before


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        pytest.param(Reply(delay=0.8), "timed out", id="read-timeout"),
        pytest.param(Reply(drop="reset"), "ConnectionError", id="connection-reset"),
        pytest.param(Reply(drop="close"), "ConnectionError", id="closed-without-answer"),
        pytest.param(Reply(body=b"{not json"), "JSONDecodeError", id="malformed-json"),
        pytest.param(Reply(body=b"<html>proxy error</html>"), "JSONDecodeError", id="html-body"),
    ],
)
def test_transport_failure_is_a_remote_error(http, filled, reply, cause):
    warehouse, rows = filled
    before = rows()
    store = scripted(http, Script(default=reply))
    with pytest.raises(RemoteError) as info:
        _export(store, warehouse)
    assert type(info.value) is RemoteError
    assert info.value.status is None and info.value.service == "DICOMweb"
    assert "instances" in str(info.value) and cause in str(info.value)
    assert rows() == before


def _series_script(metadata: Reply) -> Script:
    return Script(
        routes={
            "/series": Reply(body=json.dumps([SERIES]).encode()),
            "/instances": Reply(body=json.dumps([INSTANCE]).encode()),
            "/metadata": metadata,
        }
    )


MALFORMED = "malformed metadata must become a failure of its series (or a RemoteError), "


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        pytest.param(Reply(body=b"{not json"), "JSONDecodeError", id="metadata-not-json"),
        pytest.param(Reply(status=500, body=b"oops"), "HTTP 500", id="metadata-500"),
        pytest.param(Reply(status=404), "not found", id="metadata-404"),
        pytest.param(
            Reply(body=b"[1, 2]"),
            "",
            id="metadata-list-of-numbers",
        ),
        pytest.param(
            Reply(body=json.dumps([{"00080060": {"vr": "CS", "Value": ["CT"]}}]).encode()),
            "",
            id="metadata-without-sop-uid",
        ),
        pytest.param(
            Reply(body=b"null"),
            "",
            id="metadata-null",
        ),
    ],
)
def test_malformed_metadata_never_stops_an_export(http, filled, metadata, reason):
    warehouse, rows = filled
    before = rows()
    store = scripted(http, _series_script(metadata))
    try:
        result = _export(store, warehouse)
    except RemoteError as exc:  # acceptable too: a clear error naming the resource
        assert "studies/1.2.3/series/1.2.3.4" in str(exc)
    else:
        assert result.success == 0 and len(result.failures) == 1
        source, why = result.failures[0]
        assert source.startswith("studies/1.2.3/series/1.2.3.4") and reason in why
    assert rows() == before


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        pytest.param(Reply(body=b"{not json"), "JSONDecodeError", id="metadata-not-json"),
        pytest.param(Reply(status=500, body=b"oops"), "HTTP 500", id="metadata-500"),
        pytest.param(Reply(status=404), "not found", id="metadata-404"),
        pytest.param(Reply(drop="reset"), "ConnectionError", id="metadata-connection-reset"),
    ],
)
def test_metadata_that_cannot_be_fetched_stops_the_export(http, filled, metadata, reason):
    """A transport failure: IncompleteReadError naming the series, the table as it was."""
    warehouse, rows = filled
    before = rows()
    store = scripted(http, _series_script(metadata))
    with pytest.raises(IncompleteReadError) as info:
        _export(store, warehouse)
    assert "studies/1.2.3/series/1.2.3.4/metadata" in str(info.value)
    assert [source for source, _ in info.value.unread] == ["studies/1.2.3/series/1.2.3.4/metadata"]
    assert reason in info.value.unread[0][1]
    assert rows() == before


def test_malformed_instance_metadata_is_a_content_failure(http, filled):
    """The server answered, but an instance is not valid: reported, the export goes on."""
    warehouse, rows = filled
    body = json.dumps([{"00080060": {"vr": "CS", "Value": ["CT"]}}, INSTANCE]).encode()
    store = scripted(http, _series_script(Reply(body=body)))
    result = _export(store, warehouse)
    assert result.counter == {"success": 1, "failure": 1} and not result.partial
    assert "SOPInstanceUID" in result.failures[0][1]
    assert [row["SOPInstanceUID"] for row in rows()] == ["1.2.3.4.5"]


def test_series_search_without_series_uid_is_a_clear_error(http, filled):
    warehouse, rows = filled
    before = rows()
    broken = {"0020000D": SERIES["0020000D"]}
    store = scripted(
        http,
        Script(
            routes={
                "/series": Reply(body=json.dumps([broken]).encode()),
                "/instances": Reply(body=json.dumps([INSTANCE]).encode()),
            }
        ),
    )
    try:
        result = _export(store, warehouse)
    except RemoteError as exc:
        assert "series" in str(exc)
    else:
        assert result.failure == 1
    assert rows() == before


# ---- 9. instance answers (WADO-RS) that are not one whole instance ---------------------------

BOUNDARY = "b0und4ry"
MULTIPART = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def _instance_bytes(instance: str) -> bytes:
    """A real file (CT_small) re-addressed as study 1.2.3, series 1.2.3.4, ``instance``."""
    import io

    ds = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3", "1.2.3.4", instance
    ds.file_meta.MediaStorageSOPInstanceUID = instance
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def _multipart(*parts: tuple[str, bytes], closed: bool = True) -> Reply:
    body = b"".join(
        f"--{BOUNDARY}\r\nContent-Type: {kind}\r\n\r\n".encode() + data + b"\r\n"
        for kind, data in parts
    )
    if closed:
        body += f"--{BOUNDARY}--\r\n".encode()
    return Reply(body=body, content_type=MULTIPART)


ASKED = ("1.2.3", "1.2.3.4", "1.2.3.4.5")


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        pytest.param(
            Reply(body=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"),
            ["'text/html'", "b'<html><body>502 Bad Gateway"],
            id="html-page",
        ),
        pytest.param(
            _multipart(("application/dicom", b"not a DICOM file, a log line")),
            ["'application/dicom'", "b'not a DICOM file, a log line'", "not DICOM"],
            id="multipart-non-dicom",
        ),
        pytest.param(
            _multipart(("application/dicom", _instance_bytes("1.2.3.4.5")[:3000]), closed=False),
            ["cut short", "after"],
            id="multipart-cut-short",
        ),
        pytest.param(
            _multipart(*[("application/dicom", _instance_bytes("1.2.3.4.5"))] * 2),
            ["2 parts instead of one"],
            id="multipart-two-parts",
        ),
        pytest.param(
            Reply(body=b"--x\r\n\r\nabc", content_type="multipart/related"),
            ["names no boundary", "'multipart/related'"],
            id="multipart-without-boundary",
        ),
        pytest.param(
            Reply(body=json.dumps([INSTANCE]).encode()),
            ["'application/dicom+json'", "not multipart/related"],
            id="json-instead-of-dicom",
        ),
    ],
)
def test_an_instance_answer_that_is_not_dicom_is_a_remote_error(http, tmp_path, reply, named):
    store = scripted(http, Script(default=reply))
    with pytest.raises(RemoteError) as info:
        store.fetch_instance(InstanceRef(*ASKED))
    assert type(info.value) is RemoteError
    assert info.value.status == 200 and info.value.service == "DICOMweb"
    assert info.value.resource == "studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5"
    for text in [info.value.resource, *named]:
        assert text in str(info.value), str(info.value)
    # In a download it is one failure, nothing is written, and the result is not complete.
    rows = pd.DataFrame(
        [ASKED], columns=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
    )
    result = store.download(rows, tmp_path, progress=False)
    assert result.counter["failure"] == 1 and not result.complete
    assert named[0] in result.failures[0][1]
    assert snapshot(tmp_path) == {}


def test_one_bad_answer_in_a_download_leaves_the_others_downloaded(http, tmp_path):
    uids = ["1.2.3.4.5", "1.2.3.4.6", "1.2.3.4.7"]
    routes = {
        f"/instances/{u}": _multipart(("application/dicom", _instance_bytes(u))) for u in uids
    }
    routes["/instances/1.2.3.4.6"] = Reply(body=b"<html>oops</html>", content_type="text/html")
    store = scripted(http, Script(routes=routes))
    rows = pd.DataFrame(
        [("1.2.3", "1.2.3.4", u) for u in uids],
        columns=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
    )
    result = store.download(rows, tmp_path, progress=False, workers=2)
    assert result.counter == {"written": 2, "skipped": 0, "repaired": 0, "failure": 1}
    assert not result.complete
    instance, why = result.failures[0]
    assert instance == "1.2.3.4.6" and "'text/html'" in why and "b'<html>oops</html>'" in why
    assert sorted(p.name for p in result.written) == ["1.2.3.4.5.dcm", "1.2.3.4.7.dcm"]
    assert sorted(snapshot(tmp_path)) == sorted(
        p.relative_to(tmp_path).as_posix() for p in result.written
    )


# ---- 10. a folder store holding two instances under one set of UIDs --------------------------

UID_COLUMNS = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]


@pytest.fixture
def twins(tmp_path: Path) -> tuple[FolderStore, pydicom.Dataset, pydicom.Dataset]:
    """A folder with two files of two patients sharing Study, Series and SOP Instance UIDs."""
    folder = tmp_path / "store"
    folder.mkdir()
    source = pydicom.data.get_testdata_file("CT_small.dcm", download=False)
    first, second = pydicom.dcmread(source), pydicom.dcmread(source)
    first.PatientID, second.PatientID = "first", "second"
    second.PixelData = bytes(len(second.PixelData))  # different content, same UIDs
    first.save_as(folder / "a.dcm")
    second.save_as(folder / "b.dcm")
    return FolderStore(folder), first, second


def _rows_of(*datasets: pydicom.Dataset) -> pd.DataFrame:
    return pd.DataFrame(
        [[str(ds[c].value) for c in [*UID_COLUMNS, "PatientID"]] for ds in datasets],
        columns=[*UID_COLUMNS, "PatientID"],
    )


def test_rows_naming_one_instance_for_two_patients_save_nothing(twins, tmp_path):
    store, first, second = twins
    out = tmp_path / "out"
    result = store.download(_rows_of(first, second), out, progress=False)
    assert result.counter == {"written": 0, "skipped": 0, "repaired": 0, "failure": 1}
    instance, why = result.failures[0]
    assert instance == first.SOPInstanceUID and "['first', 'second']" in why
    assert snapshot(out) == {}


def test_a_file_of_another_patient_is_never_saved(twins, tmp_path):
    """The folder store will not guess which of the two files the UIDs mean."""
    store, first, second = twins
    for wanted in (first, second):
        out = tmp_path / wanted.PatientID
        result = store.download(_rows_of(wanted), out, progress=False)
        assert not result.complete
        assert result.counter == {"written": 0, "skipped": 0, "repaired": 0, "failure": 1}
        why = result.failures[0][1]
        assert "a.dcm" in why and "b.dcm" in why and "will not guess" in why, why
        assert snapshot(out) == {}


def test_a_folder_file_replaced_by_another_instance_is_refused(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    ct = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False))
    mr = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small.dcm", download=False))
    ct.save_as(folder / "x.dcm")
    store = FolderStore(folder)
    asked = InstanceRef(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert store.fetch_instance(asked).SOPInstanceUID == ct.SOPInstanceUID  # indexed
    mr.save_as(folder / "x.dcm")  # the file now holds another instance
    with pytest.raises(InstanceMismatchError) as info:
        store.fetch_instance(asked)
    assert type(info.value) is InstanceMismatchError
    assert info.value.asked == asked and info.value.received.instance == mr.SOPInstanceUID
    assert repr(ct.SOPInstanceUID) in str(info.value) and repr(mr.SOPInstanceUID) in str(info.value)
    out = tmp_path / "out"
    result = store.download(pd.DataFrame([asked.__dict__.values()], columns=UID_COLUMNS), out)
    assert result.counter["failure"] == 1 and repr(mr.SOPInstanceUID) in result.failures[0][1]
    assert snapshot(out) == {}


@pytest.mark.parametrize(
    ("position", "value"),
    [
        pytest.param(0, "1.2/../9", id="study-path-traversal"),
        pytest.param(1, "1.2.3?x=1", id="series-query"),
        pytest.param(2, "", id="instance-empty"),
    ],
)
def test_a_bad_uid_in_a_retrieval_sends_nothing(http, position, value):
    store = scripted(http, script := Script())
    uids = list(ASKED)
    uids[position] = value
    for call in (store.fetch_instance, store.fetch_frames):
        with pytest.raises(InvalidIdentifierError) as info:
            call(InstanceRef(*uids))
        assert type(info.value) is InvalidIdentifierError and repr(value) in str(info.value)
    assert script.requests == []


@pytest.mark.parametrize(
    "media_type",
    ['image/jpeg"; q=1', "image/jpeg, image/png", "jpeg", "", None],
)
def test_a_bad_frame_media_type_sends_nothing(http, media_type):
    from dicomlab.errors import InvalidRequestError

    store = scripted(http, script := Script())
    with pytest.raises(InvalidRequestError) as info:
        store.fetch_frames(InstanceRef(*ASKED), media_type=media_type)
    assert type(info.value) is InvalidRequestError and repr(media_type) in str(info.value)
    assert script.requests == []


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        pytest.param(
            _multipart(("application/octet-stream", b"\x00" * 64), closed=False),
            "cut short",
            id="frames-cut-short",
        ),
        pytest.param(
            _multipart(*[("application/octet-stream", b"\x00" * 64)] * 2),
            "2 parts for 1 frames",
            id="frames-extra-part",
        ),
        pytest.param(
            Reply(body=b"<html>oops</html>", content_type="text/html"),
            "'text/html'",
            id="frames-html",
        ),
    ],
)
def test_a_frames_answer_that_is_not_whole_is_a_remote_error(http, reply, named):
    store = scripted(http, Script(default=reply))
    with pytest.raises(RemoteError) as info:
        store.fetch_frames(InstanceRef(*ASKED), [1])
    assert type(info.value) is RemoteError and info.value.status == 200
    assert named in str(info.value) and "frames/1" in info.value.resource


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_rendered_image_cut_short_is_refused_and_never_cached(http, tmp_path):
    from dicomlab.stores.cache import RenderCache

    whole = _jpeg()
    cut = Reply(body=whole[: len(whole) // 2], content_type="image/jpeg")
    store = scripted(http, Script(routes={"/rendered": cut}))
    store.cache = RenderCache(tmp_path / "cache")
    with pytest.raises(RemoteError) as info:
        store.fetch_rendered(InstanceRef(*ASKED))
    assert type(info.value) is RemoteError and info.value.status == 200
    assert "'image/jpeg'" in str(info.value) and "does not decode" in str(info.value)
    assert repr(whole[:4])[2:-1] in str(info.value)  # the first bytes
    rows = pd.DataFrame([ASKED], columns=UID_COLUMNS)
    assert store.fetch_thumbnails(rows, size=64, progress=False, placeholder=False) == [None]
    store.cache.flush()
    assert snapshot(tmp_path / "cache") == {}
    # The same image whole is returned, and kept.
    scripted(http, Script(routes={"/rendered": Reply(body=whole, content_type="image/jpeg")}))
    assert store.fetch_thumbnails(rows, size=64, progress=False, placeholder=False) == [whole]
    store.cache.flush()
    assert list(snapshot(tmp_path / "cache").values()) == [whole]
