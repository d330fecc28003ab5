"""A local double of the Cloud Healthcare API's DICOMweb service (SPEC §4).

It checks what SPEC §4 documents and answers in its shapes: QIDO ``limit``
caps (5,000 studies/series, 50,000 instances) and the ``offset`` cap, a
``Warning`` header on truncated results, ``DELETE`` of a study or series
answered by a long-running operation, and STOW of DICOM JSON with a JPEG part.
``google_dicomweb()`` serves it on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.servers import LocalHTTPServer

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


@contextmanager
def google_dicomweb() -> Iterator[tuple[str, Double]]:
    """The double on 127.0.0.1: its store's DICOMweb base URL and its state."""
    state = Double()
    with LocalHTTPServer(_handler(state)) as url:
        yield f"{url}/v1/{STORE}/dicomWeb", state
