"""Start, wait for and stop the throwaway servers that tests talk to.

Two kinds. A subprocess (Orthanc, gcp-storage-emulator, Voilà): :func:`start_process`
runs it with its output in a log file, :func:`wait_ready` polls until it answers
(raising with its exit code and the end of its log if it dies or never does),
:func:`ready_or_stopped` stops it when that fails and :func:`stop_process` ends it.
An in-process ``http.server`` handler: :class:`LocalHTTPServer`, and for the
API doubles :class:`JSONHandler` (their answers) and :class:`APIDouble` (their
life cycle).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "STOP_TIMEOUT",
    "APIDouble",
    "JSONHandler",
    "LocalHTTPServer",
    "Recorded",
    "free_port",
    "read_log",
    "read_request",
    "ready_or_stopped",
    "start_process",
    "stop_process",
    "wait_ready",
]

STOP_TIMEOUT = 10.0
LOG_TAIL = 2000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str, headers: dict[str, str] | None = None) -> bool:
    """Whether ``GET url`` (with ``headers``) answers 200 within a second."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def read_log(log: Path) -> str:
    """What a process wrote to ``log`` so far (``""`` when it cannot be read)."""
    try:
        return log.read_text(errors="replace")
    except OSError:
        return ""


def start_process(command: list[str], log: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``command`` with its stdout and stderr in ``log``; ``popen``: more Popen arguments."""
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **popen)


def wait_ready(
    process: subprocess.Popen[bytes],
    probe: str,
    *,
    name: str,
    log: Path,
    timeout: float,
    interval: float = 0.05,
    headers: dict[str, str] | None = None,
) -> None:
    """Poll ``GET probe`` until it answers 200; ``RuntimeError`` if ``process`` exits first or
    ``timeout`` seconds pass. The error names the server ``name`` and ends with the tail of ``log``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            problem = f"{name} exited with code {process.returncode}"
            break
        if _answers(probe, headers):
            return
        time.sleep(interval)
    else:
        problem = f"{name} did not answer on {probe} within {timeout:.0f} s"
    raise RuntimeError(f"{problem}; its log ({log}) ends with:\n{read_log(log)[-LOG_TAIL:]}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM ``process`` and wait for it (SIGKILL if it has not exited after ``timeout`` s)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Server(Protocol):
    def wait_ready(self) -> None: ...

    def stop(self) -> None: ...


ServerT = TypeVar("ServerT", bound=_Server)


def ready_or_stopped(server: ServerT) -> ServerT:
    """``server`` once its ``wait_ready()`` returns; if that raises, stop it and re-raise."""
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class Recorded:
    """One request as an API double saw it, and the status it answered.

    ``body`` is what the double made of the raw bytes (JSON, or an upload's
    metadata); ``media`` an upload's bytes.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    media: bytes | None = None
    status: int = 0


def read_request(handler: BaseHTTPRequestHandler) -> tuple[Recorded, bytes]:
    """The request ``handler`` serves, as a :class:`Recorded` (body not parsed), and its bytes."""
    parts = urlsplit(handler.path)
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    headers = {k.lower(): v for k, v in handler.headers.items()}
    return Recorded(handler.command, unquote(parts.path), parse_qs(parts.query), headers, None), raw


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler that answers with a JSON body (or none)."""

    protocol_version = "HTTP/1.1"

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer ``status`` with ``body`` as JSON (``None``: an empty body) and ``headers``."""
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class LocalHTTPServer:
    """Serve a handler class on 127.0.0.1 (a free port) from a daemon thread.

    :meth:`start` returns the base URL; :meth:`stop` shuts it down (and may be
    called when not started). Also a context manager.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler], poll_interval: float = 0.05) -> None:
        self.handler, self.poll_interval = handler, poll_interval
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._httpd is not None, "the server is not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> str:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self._httpd.daemon_threads = True
        serve = self._httpd.serve_forever
        threading.Thread(target=serve, args=(self.poll_interval,), daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


DoubleT = TypeVar("DoubleT", bound="APIDouble")


class APIDouble:
    """An API double served by a :class:`LocalHTTPServer`: start, stop, and a context manager.

    A subclass names its API (``api``), serves its handler in ``self._http`` and
    lists in ``self.bugs`` the answers it got wrong: leaving the ``with`` block
    fails when there are any, so a wrong double cannot pass a test.
    """

    api = "API"
    _http: LocalHTTPServer
    bugs: list[str]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._http.url

    def start(self: DoubleT) -> DoubleT:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self: DoubleT) -> DoubleT:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.bugs:
            raise AssertionError(f"the {self.api} double answered wrongly: {self.bugs}")
