"""The Google profile against a local double of the Healthcare API's DICOMweb service.

The double checks what SPEC §4 documents and answers in its shapes: QIDO
``limit`` caps (5,000 studies/series, 50,000 instances) and the ``offset``
cap, a ``Warning`` header on truncated results, ``DELETE`` of a study or series
answered by a long-running operation, and STOW of DICOM JSON with a JPEG part.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import requests
from PIL import Image

from dicomlab.backends import google_store
from dicomlab.errors import InvalidRequestError, ServerWarning
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.profiles import GENERIC, GOOGLE

STORE = "projects/p/locations/l/datasets/d/dicomStores/s"
OPERATION = "projects/p/locations/l/datasets/d/operations/42"
CAPS = {"studies": 5000, "series": 5000, "instances": 50000}
JPEG_TS = "1.2.840.10008.1.2.4.50"


def _study(number: int) -> dict[str, Any]:
    return {
        "0020000D": {"vr": "UI", "Value": [f"1.2.{number}"]},
        "00080020": {"vr": "DA", "Value": ["20200101"]},
    }


@dataclasses.dataclass
class Double:
    """What the double holds and saw."""

    studies: int = 0
    warning: str | None = None
    ignore_offset: bool = False  # a server that always answers from the first result
    accept_json_stow: bool = True
    requests: list[tuple[str, str, dict[str, list[str]]]] = dataclasses.field(default_factory=list)
    stowed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    polls: int = 0


def _error(handler: BaseHTTPRequestHandler, status: int, message: str) -> None:
    body = json.dumps(
        {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}}
    ).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _reply(handler: BaseHTTPRequestHandler, body: Any, content_type: str, **headers: str) -> None:
    data = json.dumps(body).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _handler(state: Double) -> type[BaseHTTPRequestHandler]:
    base = f"/v1/{STORE}/dicomWeb"

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> tuple[str, dict[str, list[str]]]:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            state.requests.append((self.command, url.path, query))
            return url.path, query

        def do_GET(self) -> None:
            path, query = self._record()
            if path == f"/v1/{OPERATION}":
                state.polls += 1
                done = {
                    "name": OPERATION,
                    "metadata": {
                        "@type": "type.googleapis.com/google.cloud.healthcare.v1.OperationMetadata",
                        "apiMethodName": "google.cloud.healthcare.v1.dicomweb.DicomWebService."
                        "DeleteStudy",
                        "createTime": "2026-11-22T10:00:00Z",
                        "endTime": "2026-11-22T10:00:01Z",
                    },
                    "done": True,
                    "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
                }
                return _reply(self, done, "application/json")
            level = path.removeprefix(base + "/")
            if level not in CAPS:
                return _error(self, 404, f"unknown path {path}")
            limit, offset = int(query["limit"][0]), int(query.get("offset", ["0"])[0])
            if limit > CAPS[level]:
                return _error(self, 400, f"limit {limit} exceeds the maximum {CAPS[level]}")
            if offset > 1_000_000:
                return _error(self, 400, f"offset {offset} exceeds the maximum 1000000")
            start = 0 if state.ignore_offset else offset
            page = [_study(n) for n in range(start, min(start + limit, state.studies))]
            headers = {"Warning": state.warning} if state.warning else {}
            _reply(self, page, "application/dicom+json", **headers)

        def do_DELETE(self) -> None:
            path, _ = self._record()
            parts = path.removeprefix(base + "/").split("/")
            if parts[0] != "studies" or len(parts) not in (2, 4, 6):
                return _error(self, 400, f"cannot delete {path}")
            _reply(self, {"name": OPERATION} if len(parts) < 6 else {}, "application/json")

        def do_POST(self) -> None:
            self._record()
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            content_type = self.headers["Content-Type"]
            if not state.accept_json_stow and "application/dicom+json" in content_type:
                return _error(self, 415, "unsupported media type")
            if 'type="application/dicom+json"' not in content_type:
                return _error(self, 400, f"unexpected content type {content_type}")
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body
            )
            parts = list(message.iter_parts())
            if [p.get_content_type() for p in parts] != ["application/dicom+json", "image/jpeg"]:
                return _error(self, 400, "expected a JSON part then a JPEG part")
            (metadata,) = json.loads(parts[0].get_payload(decode=True))
            jpeg = parts[1]
            location = metadata["7FE00010"]["BulkDataURI"]
            if jpeg["Content-Location"] != location or JPEG_TS not in jpeg["Content-Type"]:
                return _error(self, 400, "the JPEG part does not match the BulkDataURI")
            state.stowed.append({"metadata": metadata, "jpeg": jpeg.get_payload(decode=True)})
            uid = metadata["00080018"]["Value"][0]
            answer = {
                "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [uid]}}]}
            }
            _reply(self, answer, "application/dicom+json")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def google() -> Iterator[tuple[str, Double]]:
    state = Double()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/{STORE}/dicomWeb", state
    httpd.shutdown()
    httpd.server_close()


def _limits(state: Double) -> list[tuple[int, int]]:
    return [
        (int(q["limit"][0]), int(q.get("offset", ["0"])[0]))
        for method, _, q in state.requests
        if method == "GET" and "limit" in q
    ]


def test_search_pages_at_googles_caps(google):
    url, state = google
    state.studies = 12_000
    found = DICOMwebStore(url, profile="google").search_studies()
    assert len(found) == 12_000 and found.StudyInstanceUID.is_unique
    assert _limits(state) == [(5000, 0), (5000, 5000), (5000, 10000), (5000, 12000)]
    assert str(found.StudyDate.dtype).startswith("datetime64")


def test_search_limit_asks_for_no_more_than_needed(google):
    url, state = google
    state.studies = 12_000
    found = DICOMwebStore(url, profile="google").search_studies(limit=7000)
    assert len(found) == 7000
    assert _limits(state) == [(5000, 0), (2000, 5000)]


def test_search_stops_and_warns_at_the_offset_cap(google):
    url, state = google
    state.studies = 20_000
    profile = dataclasses.replace(GOOGLE, max_offset=6000)
    with pytest.warns(ServerWarning, match="offset beyond 6000"):
        found = DICOMwebStore(url, profile=profile).search_studies()
    assert len(found) == 10_000


def test_a_server_that_ignores_offset_does_not_loop(google):
    url, state = google
    state.studies, state.ignore_offset = 12_000, True
    with pytest.warns(ServerWarning, match="ignores offset"):
        found = DICOMwebStore(url, profile="google").search_studies()
    assert len(found) == 5000 and found.StudyInstanceUID.is_unique  # the first page, once
    assert _limits(state) == [(5000, 0), (5000, 5000)]


def test_a_warning_header_is_surfaced(google):
    url, state = google
    state.studies = 3
    state.warning = '299 healthcare.googleapis.com: "The results were truncated"'
    with pytest.warns(ServerWarning, match="results were truncated"):
        DICOMwebStore(url, profile="google").search_studies()


def test_delete_study_waits_for_its_operation(google):
    url, state = google
    store = google_store(url, requests.Session())
    store.delete("1.2.3")
    assert ("DELETE", f"/v1/{STORE}/dicomWeb/studies/1.2.3", {}) in state.requests
    assert state.polls == 1
    store.delete("1.2.3", "1.2.3.4", "1.2.3.4.5")
    assert state.requests[-1][0] == "DELETE" and state.polls == 1


def test_a_google_store_with_nothing_to_wait_with_refuses_before_deleting(google):
    url, state = google
    store = DICOMwebStore(url, profile="google")
    with pytest.raises(
        InvalidRequestError, match=r"studies/1\.2\.3/series/1\.2\.3\.4: .*long-running"
    ):
        store.delete("1.2.3", "1.2.3.4")
    assert not [r for r in state.requests if r[0] == "DELETE"] and state.polls == 0
    store.delete("1.2.3", "1.2.3.4", "1.2.3.4.5")  # an instance delete is answered at once
    assert state.requests[-1][0] == "DELETE"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 90, dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


METADATA = {
    "00080018": {"vr": "UI", "Value": ["1.2.3.4.5"]},
    "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
    "0020000E": {"vr": "UI", "Value": ["1.2.3.4"]},
}


def test_store_json_sends_dicom_json_with_a_jpeg_part(google):
    url, state = google
    result = DICOMwebStore(url, profile="google").store_json(METADATA, _jpeg())
    assert result.counter == {"success": 1, "failure": 0}
    (stowed,) = state.stowed
    assert stowed["jpeg"] == _jpeg()
    assert stowed["metadata"]["0020000D"] == METADATA["0020000D"]


def test_store_json_falls_back_to_part10_on_415(google, monkeypatch):
    url, state = google
    state.accept_json_stow = False
    store = DICOMwebStore(url, profile=GENERIC)
    sent = []
    monkeypatch.setattr(store, "store_datasets", lambda datasets: sent.append(datasets))
    store.store_json(METADATA, _jpeg())
    (datasets,) = sent
    (dataset,) = datasets.values()
    assert str(dataset.file_meta.TransferSyntaxUID) == JPEG_TS
    assert dataset.pixel_array.shape == (8, 8)
