"""Retries, Retry-After, timeouts, deadlines and the circuit breaker, against small servers."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pandas as pd
import pytest

from dicomlab.errors import RemoteError, ServerDownError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.transport import CircuitBreaker, CircuitOpen
from tests.support.servers import LocalHTTPServer

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

    with LocalHTTPServer(Handler) as url:
        yield f"{url}/dicom-web", script


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


# ---- a total deadline per request ---------------------------------------------------------------


@pytest.fixture(params=["body", "headers"])
def dripping(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server that sends its body (or its headers) one byte every 0.5 s."""
    where: str = request.param

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if where == "body":
                self.send_response(200)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
            else:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            try:
                for _ in range(120):  # at most a minute, then the test has failed anyway
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass  # the client gave up, as it should

        def log_message(self, *args: object) -> None:
            pass

    with LocalHTTPServer(Handler) as url:
        yield f"{url}/dicom-web"


def test_a_dripping_server_is_cut_off_at_the_deadline(dripping):
    store = DICOMwebStore(dripping, timeout=(2, 3), deadline=1, max_attempts=1)
    ref = InstanceRef("1.2.3", "1.2.3.4", "1.2.3.4.5")
    for call in (store.search_studies, lambda: store.fetch_instance(ref)):
        started = time.monotonic()
        with pytest.raises(RemoteError) as info:
            call()
        took = time.monotonic() - started
        assert 0.9 < took < 1.5, took  # the deadline, and no more
        assert "deadline of 1 s" in str(info.value), str(info.value)
        assert info.value.status is None and not isinstance(info.value, ServerDownError)


# ---- a circuit breaker per store ---------------------------------------------------------------


@pytest.fixture
def flaky() -> Iterator[tuple[str, dict[str, Any]]]:
    """A server that resets every connection while ``state["down"]``, else answers ``[]``."""
    state: dict[str, Any] = {"down": True, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["requests"] += 1
            if state["down"]:
                linger = struct.pack("ii", 1, 0)  # close with RST, as a dead proxy would
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    with LocalHTTPServer(Handler) as url:
        yield f"{url}/dicom-web", state


def _rows(count: int) -> pd.DataFrame:
    return pd.DataFrame(
        [("1.2.3", "1.2.3.4", f"1.2.3.4.{n}") for n in range(1, count + 1)],
        columns=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
    )


def test_a_dead_server_stops_a_download_early_with_one_error(flaky, tmp_path):
    url, state = flaky
    store = DICOMwebStore(url, max_attempts=2, backoff=0.01, failure_threshold=3, cooldown=60)
    started = time.monotonic()
    with pytest.raises(ServerDownError) as info:
        store.download(_rows(200), tmp_path, workers=4, progress=False)
    assert time.monotonic() - started < 5
    # Without the breaker: 200 instances x 2 attempts. With it: the threshold and
    # the requests already in flight on the 4 threads, each with its 2 attempts.
    assert state["requests"] <= (3 + 4) * 2, state["requests"]
    message = str(info.value)
    assert "looks down" in message and repr(str(tmp_path)) in message
    assert "0 of 200 instances" in message and "run the same download again" in message
    assert info.value.service == "DICOMweb" and list(tmp_path.iterdir()) == []
    # Every later call fails at once, without a request, from any thread.
    seen = state["requests"]
    with pytest.raises(ServerDownError):
        store.search_studies()
    assert state["requests"] == seen


def test_the_breaker_closes_after_the_cooldown_when_a_probe_is_answered(flaky):
    url, state = flaky
    store = DICOMwebStore(url, max_attempts=1, failure_threshold=2, cooldown=0.3)
    for _ in range(2):
        with pytest.raises(RemoteError) as info:
            store.search_studies()
        assert not isinstance(info.value, ServerDownError)
    with pytest.raises(ServerDownError):
        store.search_studies()
    state["down"] = False
    time.sleep(0.35)
    assert store.search_studies().empty  # the probe is answered: the circuit closes
    assert not store.breaker.is_open and store.breaker.failures == 0


def test_the_breaker_lets_one_probe_through_at_a_time():
    breaker = CircuitBreaker(threshold=2, cooldown=0.1)
    breaker.failed("ConnectionError: reset")
    breaker.admit("http://h/x")  # one failure: still closed
    breaker.failed("ConnectionError: reset")
    with pytest.raises(CircuitOpen, match="failed 2 requests in a row"):
        breaker.admit("http://h/x")
    time.sleep(0.15)
    breaker.admit("http://h/x")  # the probe
    with pytest.raises(CircuitOpen):
        breaker.admit("http://h/x")  # others wait for its outcome
    breaker.failed("ConnectionError: reset")  # the probe failed: open for another cool-down
    with pytest.raises(CircuitOpen):
        breaker.admit("http://h/x")
    time.sleep(0.15)
    breaker.admit("http://h/x")
    breaker.succeeded()
    breaker.admit("http://h/x")
    assert not breaker.is_open


def test_the_watchdog_forgets_cancelled_deadlines():
    from dicomlab.stores.transport import Watchdog

    dog, fired = Watchdog(), []
    far = time.monotonic() + 600  # as a request's deadline: long after it is done
    for _ in range(10_000):
        dog.cancel(dog.schedule(far, lambda: fired.append("late")))
    assert len(dog._heap) <= 64 + 1  # not one entry per request ever made
    dog.schedule(time.monotonic() + 0.01, lambda: fired.append("due"))
    time.sleep(0.2)
    assert fired == ["due"]


@pytest.mark.parametrize("server", [Script((503, {"Retry-After": "30"}, 0))], indirect=True)
def test_a_retry_after_past_the_deadline_is_not_waited_for(server):
    url, script = server
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        DICOMwebStore(url, deadline=1, max_attempts=5).search_studies()
    assert time.monotonic() - started < 0.9
    assert info.value.status == 503 and len(script.times) == 1


@pytest.mark.parametrize("server", [Script((503, {}, 0))], indirect=True)
def test_back_offs_stop_at_the_deadline(server):
    url, script = server
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        DICOMwebStore(url, deadline=1, max_attempts=10, backoff=0.3).search_studies()
    took = time.monotonic() - started
    # Without the deadline: 0.3 x (1 + 2 + 4 + ...) seconds, 30 s at most each, over 9 retries;
    # with it, no back-off that would end past the deadline: the last 503 stands.
    assert took < 1.0, took
    assert info.value.status == 503 and 2 <= len(script.times) < 10
