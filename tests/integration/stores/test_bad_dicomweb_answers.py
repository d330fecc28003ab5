"""The bad-input catalogue for DICOMweb: server errors, malformed answers, bad requests.

A scripted server answers; an error status or a broken answer is a typed error
naming the resource, or one failure of an export or a download, and never
loses a row already in the table or writes a partial file; a bad UID or media
type sends nothing (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pydicom
import pytest

from dicomlab.errors import (
    IncompleteReadError,
    InvalidIdentifierError,
    InvalidRequestError,
    NotFoundError,
    RemoteError,
)
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse
from tests.support.catalogue import UID_COLUMNS, snapshot
from tests.support.scripted import Reply, Script, scripted

# ---- server errors during an export ----------------------------------------------------------

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
def test_server_status_is_translated_and_the_table_kept(
    scripted_server, filled, reply, error, status
):
    warehouse, rows = filled
    before = rows()
    store = scripted(scripted_server, script := Script(default=reply))
    started = time.monotonic()
    with pytest.raises(error) as info:
        _export(store, warehouse)
    assert type(info.value) is error
    # The resource asked for: the series listing (it also counts the instances).
    assert "series" in str(info.value)
    if error is RemoteError:
        assert info.value.status == status and info.value.service == "DICOMweb"
        assert f"HTTP {status}" in str(info.value)
    # max_attempts=1: no retry, and Retry-After not waited; no search of its own to count.
    assert len(script.requests) == 1, script.requests
    assert all(r.startswith("/dicom-web/series?") for r in script.requests), script.requests
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
def test_transport_failure_is_a_remote_error(scripted_server, filled, reply, cause):
    warehouse, rows = filled
    before = rows()
    store = scripted(scripted_server, Script(default=reply))
    with pytest.raises(RemoteError) as info:
        _export(store, warehouse)
    assert type(info.value) is RemoteError
    assert info.value.status is None and info.value.service == "DICOMweb"
    # The resource asked for: the series listing (it also counts the instances).
    assert "series" in str(info.value) and cause in str(info.value)
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
def test_malformed_metadata_never_stops_an_export(scripted_server, filled, metadata, reason):
    warehouse, rows = filled
    before = rows()
    store = scripted(scripted_server, _series_script(metadata))
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
def test_metadata_that_cannot_be_fetched_stops_the_export(
    scripted_server, filled, metadata, reason
):
    """A transport failure: IncompleteReadError naming the series, the table as it was."""
    warehouse, rows = filled
    before = rows()
    store = scripted(scripted_server, _series_script(metadata))
    with pytest.raises(IncompleteReadError) as info:
        _export(store, warehouse)
    assert "studies/1.2.3/series/1.2.3.4/metadata" in str(info.value)
    assert [source for source, _ in info.value.unread] == ["studies/1.2.3/series/1.2.3.4/metadata"]
    assert reason in info.value.unread[0][1]
    assert rows() == before


def test_malformed_instance_metadata_is_a_content_failure(scripted_server, filled):
    """The server answered, but an instance is not valid: reported, the export goes on."""
    warehouse, rows = filled
    body = json.dumps([{"00080060": {"vr": "CS", "Value": ["CT"]}}, INSTANCE]).encode()
    store = scripted(scripted_server, _series_script(Reply(body=body)))
    result = _export(store, warehouse)
    assert result.counter == {"success": 1, "failure": 1} and not result.partial
    assert "SOPInstanceUID" in result.failures[0][1]
    assert [row["SOPInstanceUID"] for row in rows()] == ["1.2.3.4.5"]


def test_series_search_without_series_uid_is_a_clear_error(scripted_server, filled):
    warehouse, rows = filled
    before = rows()
    broken = {"0020000D": SERIES["0020000D"]}
    store = scripted(
        scripted_server,
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


# ---- instance answers (WADO-RS) that are not one whole instance ------------------------------

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
def test_an_instance_answer_that_is_not_dicom_is_a_remote_error(
    scripted_server, tmp_path, reply, named
):
    store = scripted(scripted_server, Script(default=reply))
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


def test_one_bad_answer_in_a_download_leaves_the_others_downloaded(scripted_server, tmp_path):
    uids = ["1.2.3.4.5", "1.2.3.4.6", "1.2.3.4.7"]
    routes = {
        f"/instances/{u}": _multipart(("application/dicom", _instance_bytes(u))) for u in uids
    }
    routes["/instances/1.2.3.4.6"] = Reply(body=b"<html>oops</html>", content_type="text/html")
    store = scripted(scripted_server, Script(routes=routes))
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


# ---- retrievals: bad requests, frames and rendered images ------------------------------------


@pytest.mark.parametrize(
    ("position", "value"),
    [
        pytest.param(0, "1.2/../9", id="study-path-traversal"),
        pytest.param(1, "1.2.3?x=1", id="series-query"),
        pytest.param(2, "", id="instance-empty"),
    ],
)
def test_a_bad_uid_in_a_retrieval_sends_nothing(scripted_server, position, value):
    store = scripted(scripted_server, script := Script())
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
def test_a_bad_frame_media_type_sends_nothing(scripted_server, media_type):

    store = scripted(scripted_server, script := Script())
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
def test_a_frames_answer_that_is_not_whole_is_a_remote_error(scripted_server, reply, named):
    store = scripted(scripted_server, Script(default=reply))
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


def test_a_rendered_image_cut_short_is_refused_and_never_cached(scripted_server, tmp_path):
    from dicomlab.stores.cache import RenderCache

    whole = _jpeg()
    cut = Reply(body=whole[: len(whole) // 2], content_type="image/jpeg")
    store = scripted(scripted_server, Script(routes={"/rendered": cut}))
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
    scripted(
        scripted_server, Script(routes={"/rendered": Reply(body=whole, content_type="image/jpeg")})
    )
    assert store.fetch_thumbnails(rows, size=64, progress=False, placeholder=False) == [whole]
    store.cache.flush()
    assert list(snapshot(tmp_path / "cache").values()) == [whole]
