"""Retries, Retry-After and timeouts, against small scripted HTTP servers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dicomlab.errors import RemoteError
from dicomlab.stores.dicomweb import DICOMwebStore

STUDY = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00100020": {"vr": "LO", "Value": ["p1"]}}


class Script:
    """The answers a server gives, in order; the last one repeats."""

    def __init__(self, *answers: tuple[int, dict[str, str], float]) -> None:
        self.answers = list(answers)
        self.times: list[float] = []

    def next(self) -> tuple[int, dict[str, str], float]:
        self.times.append(time.monotonic())
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Script]]:
    script: Script = request.param

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, delay = script.next()
            time.sleep(delay)
            offset = int(self.path.partition("offset=")[2].partition("&")[0] or 0)
            body = json.dumps([STUDY] if status == 200 and offset == 0 else []).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/dicom+json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web", script
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    "server", [Script((503, {}, 0), (503, {}, 0), (200, {}, 0))], indirect=True
)
def test_503_twice_then_200_is_retried(server):
    url, script = server
    found = DICOMwebStore(url, backoff=0.05).search_studies()
    assert list(found["StudyInstanceUID"]) == ["1.2.3"]
    assert len(script.times) == 4  # 503, 503, 200 with the study, then the empty next page


@pytest.mark.parametrize(
    "server", [Script((429, {"Retry-After": "1"}, 0), (200, {}, 0))], indirect=True
)
def test_retry_after_is_honoured(server):
    url, script = server
    found = DICOMwebStore(url, backoff=0.01).search_studies()
    assert len(found) == 1
    assert script.times[1] - script.times[0] >= 0.95


@pytest.mark.parametrize("server", [Script((503, {}, 0))], indirect=True)
def test_persistent_503_becomes_a_remote_error_with_the_status(server):
    url, script = server
    with pytest.raises(RemoteError) as info:
        DICOMwebStore(url, max_attempts=3, backoff=0.01).search_studies()
    assert info.value.status == 503 and info.value.service == "DICOMweb"
    assert len(script.times) == 3


@pytest.mark.parametrize("server", [Script((200, {}, 3))], indirect=True)
def test_a_hanging_server_times_out_with_a_clear_error(server):
    url, _ = server
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        DICOMwebStore(url, timeout=(1, 0.5), max_attempts=1).search_studies()
    assert time.monotonic() - started < 2.5
    assert "Timeout" in str(info.value) and "studies" in str(info.value)
    assert info.value.status is None
