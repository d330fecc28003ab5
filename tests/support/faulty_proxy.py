"""A small HTTP-aware TCP proxy that injects faults on a schedule, for tests.

Each request read from a client is handled by the next action of a cycling
schedule:

- ``"pass"``: forwarded to the upstream server (``Connection: close``) and the
  answer relayed;
- ``"drop"``: the connection is closed without an answer (a reset for the client);
- ``"delay"``: forwarded after ``delay`` seconds;
- ``"503"`` / ``"429"``: answered at once with that status and ``Retry-After: 0``;
- ``"truncate"``: forwarded, and the first part of the multipart answer cut to
  ``cut`` bytes, in a well-formed body (closing boundary, right
  ``Content-Length``): only a check of the DICOM data itself can tell;
- ``"cut"``: forwarded, and the connection closed after ``cut`` bytes of the
  body, without ``Content-Length`` (a server that dies mid-answer);
- ``"other"``: forwarded with the request's path replaced by ``other_path``
  (a server or cache answering with another instance).

After each request the client connection is closed, so every request is
scheduled on its own. Counts of what happened are kept in :attr:`FaultyProxy.seen`.
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FaultyProxy"]

_STATUS_TEXT = {"503": "Service Unavailable", "429": "Too Many Requests"}


def _read_request(conn: socket.socket) -> bytes | None:
    """One whole request (head and ``Content-Length`` body), or ``None`` at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def _with_close(request: bytes) -> bytes:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def _dechunk(body: bytes) -> bytes:
    """The payload of a ``Transfer-Encoding: chunked`` body."""
    out, position = b"", 0
    while True:
        line_end = body.index(b"\r\n", position)
        size = int(body[position:line_end].split(b";")[0], 16)
        if size == 0:
            return out
        out += body[line_end + 2 : line_end + 2 + size]
        position = line_end + 2 + size + 2


def _answer(upstream: tuple[str, int], request: bytes) -> tuple[bytes, bytes]:
    """The upstream's whole answer to ``request``: its head and its decoded body."""
    with socket.create_connection(upstream, timeout=30) as connection:
        connection.sendall(request)
        answer = _read_request(connection)  # an answer is framed as a request is
        assert answer is not None, "the upstream closed without an answer"
        head, _, body = answer.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            while not body.endswith(b"0\r\n\r\n"):
                body += connection.recv(65536)
            body = _dechunk(body)
    return head, body


def _cut_first_part(body: bytes, keep: int) -> bytes:
    """A multipart body whose first part keeps only its first ``keep`` bytes."""
    boundary = body.split(b"\r\n", 1)[0]  # "--BOUNDARY"
    first = body.index(b"\r\n\r\n") + 4  # after the first part's headers
    end = body.index(b"\r\n" + boundary, first)
    content = body[first:end][:keep]
    return body[:first] + content + b"\r\n" + boundary + b"--\r\n"


class FaultyProxy:
    """Listen on 127.0.0.1 (a free port) and forward to ``upstream`` with faults."""

    def __init__(
        self,
        upstream: tuple[str, int],
        schedule: Iterable[str],
        *,
        delay: float = 0.3,
        cut: int = 3000,
        other_path: str = "",
    ) -> None:
        self.upstream = upstream
        self.cut = cut
        self.other_path = other_path
        self._schedule = itertools.cycle(list(schedule))
        self.delay = delay
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.getsockname()[1]
        return port

    def url_for(self, url: str) -> str:
        """``url`` of the upstream server as reached through this proxy (same path and query)."""
        return urlunsplit(urlsplit(url)._replace(netloc=f"127.0.0.1:{self.port}"))

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._server.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _next(self) -> str:
        with self._lock:
            action = next(self._schedule)
            self.seen[action] += 1
            return action

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            action = self._next()
            if action == "drop":
                # Linger 0: the close sends a reset, as a crashed server or proxy would.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if action in _STATUS_TEXT:
                conn.sendall(
                    f"HTTP/1.1 {action} {_STATUS_TEXT[action]}\r\nRetry-After: 0\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                )
                return
            if action == "delay":
                time.sleep(self.delay)
            if action in ("truncate", "cut", "other"):
                self._rewrite(conn, request, action)
                return
            self._forward(conn, request)

    def _rewrite(self, conn: socket.socket, request: bytes, action: str) -> None:
        if action == "other":
            method, _asked, rest = request.split(b" ", 2)
            request = b" ".join([method, self.other_path.encode(), rest])
        # Asked uncompressed, so the body can be cut where the DICOM data is.
        head, _, rest = request.partition(b"\r\n\r\n")
        kept = [h for h in head.split(b"\r\n") if not h.lower().startswith(b"accept-encoding:")]
        request = b"\r\n".join(kept) + b"\r\n\r\n" + rest
        head, body = _answer(self.upstream, _with_close(request))
        lines = [
            line
            for line in head.split(b"\r\n")
            if not line.lower().startswith((b"content-length:", b"transfer-encoding:"))
        ]
        if action == "truncate":
            body = _cut_first_part(body, self.cut)
            lines.append(b"Content-Length: " + str(len(body)).encode())
        elif action == "cut":
            body = body[: self.cut]
        else:
            lines.append(b"Content-Length: " + str(len(body)).encode())
        conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)

    def _forward(self, conn: socket.socket, request: bytes) -> None:
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(_with_close(request))
            while chunk := upstream.recv(65536):
                conn.sendall(chunk)
