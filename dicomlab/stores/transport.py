"""The HTTP transport under a DICOMweb store: retries, a total deadline, a circuit breaker.

One :class:`GuardedAdapter` is mounted on the store's session for the store's
base URL, so every request to that server (searches, metadata, instances,
frames, renderings, STOW, deletes), from any thread, passes through it:

- connection failures and 408, 429, 500, 502, 503, 504 answers are retried
  by urllib3 with exponential back-off, honouring ``Retry-After``;
- each request has a **total deadline**: requests' read timeout applies to
  each socket read, so a server sending a byte every half second would keep a
  request alive for ever. One watchdog thread shuts the request's socket down
  when its deadline passes, wherever the request is (sending, waiting for
  the headers, reading the body), and the request fails with
  :class:`DeadlineExceeded`;
- a **circuit breaker** shared by all the store's threads: after
  ``threshold`` requests in a row fail to connect or time out, further
  requests fail at once (:class:`CircuitOpen`) until ``cooldown`` seconds
  have passed; then one request probes the server, and its success closes
  the circuit again.

``*`` and ``,`` are sent unencoded in query strings: Orthanc does not
percent-decode query values.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["CircuitBreaker", "CircuitOpen", "DeadlineExceeded", "GuardedAdapter", "unquote_query"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Characters legal in a query that some servers (Orthanc) only understand unencoded.
_RAW_QUERY = {"%2A": "*", "%2a": "*", "%2C": ",", "%2c": ","}
# Bytes asked of the socket per read while a body comes in (one recv at most).
READ_SIZE = 1 << 16


class DeadlineExceeded(requests.Timeout):
    """A request took longer than its total deadline (headers and body together)."""


class CircuitOpen(requests.ConnectionError):
    """Refused without a request: the server failed too many requests in a row."""

    def __init__(self, message: str, *, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at


def unquote_query(url: str) -> str:
    """``url`` with ``*`` and ``,`` sent literally in its query.

    >>> unquote_query("http://h/dicom-web/studies?PatientID=7765%2A&viewport=64%2C64")
    'http://h/dicom-web/studies?PatientID=7765*&viewport=64,64'
    """
    base, sep, query = url.partition("?")
    for encoded, raw in _RAW_QUERY.items():
        query = query.replace(encoded, raw)
    return base + sep + query


def retry_policy(max_attempts: int, backoff: float) -> Any:
    """urllib3's retry policy: back off exponentially, honour ``Retry-After``.

    Retried: connection failures and 408, 429, 500, 502, 503, 504 answers, for
    requests that are safe to repeat (GET, HEAD, DELETE; STOW's POST is not
    retried by the transport). After the last attempt the answer is returned
    as is, so the caller sees the server's status. Retries stop at the
    request's deadline too: a back-off or ``Retry-After`` wait that would
    reach past it is not waited for, and the last answer or error stands.
    """
    from urllib3.util.retry import Retry

    class DeadlineRetry(Retry):
        def _left(self) -> float | None:
            deadline: _Deadline | None = getattr(_current, "deadline", None)
            if deadline is None:
                return None
            return 0.0 if deadline.fired else deadline.when - time.monotonic()

        def increment(
            self,
            method: str | None = None,
            url: str | None = None,
            response: Any = None,
            error: Exception | None = None,
            _pool: Any = None,
            _stacktrace: Any = None,
        ) -> DeadlineRetry:
            following = super().increment(method, url, response, error, _pool, _stacktrace)
            left = self._left()
            if left is None:
                return following
            wait = self.get_retry_after(response) if response is not None else None
            wait = max(wait or 0.0, following.get_backoff_time())
            if wait >= left:  # no time to wait and try again: this attempt was the last
                spent = self.new(total=0)
                return Retry.increment(spent, method, url, response, error, _pool, _stacktrace)
            return following

    return DeadlineRetry(
        total=max_attempts - 1,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD", "DELETE"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def _server(url: str) -> str:
    """Scheme, host and port of ``url`` (never its user information).

    >>> _server("https://user:secret@example.org:8443/dicom-web/studies")
    'https://example.org:8443'
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class CircuitBreaker:
    """Counts requests failing in a row to one server; opens after ``threshold`` of them.

    Thread-safe: one breaker serves all the threads of one store.

    >>> breaker = CircuitBreaker(threshold=2, cooldown=60)
    >>> breaker.failed(); breaker.failed(); breaker.is_open
    True
    """

    def __init__(self, threshold: int = 3, cooldown: float = 30.0) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.failures = 0
        self.last_error = ""
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Whether requests are being refused (until the cool-down ends)."""
        return self._opened_at is not None

    def admit(self, url: str) -> None:
        """Let a request through, or raise :class:`CircuitOpen` while the circuit is open.

        After the cool-down one request at a time goes through as a probe.
        """
        with self._lock:
            if self._opened_at is None:
                return
            retry_at = self._opened_at + self.cooldown
            if time.monotonic() >= retry_at and not self._probing:
                self._probing = True
                return
        raise CircuitOpen(
            f"not sent: the server at {_server(url)} failed {self.failures} requests in a "
            f"row (last: {self.last_error}); it looks down",
            retry_at=retry_at,
        )

    def failed(self, error: str = "") -> None:
        """Note a request that could not connect or timed out."""
        with self._lock:
            self.failures += 1
            self.last_error = error or self.last_error
            self._probing = False
            if self.failures >= self.threshold:
                self._opened_at = time.monotonic()

    def succeeded(self) -> None:
        """Note a request the server answered (whatever the status): the circuit closes."""
        with self._lock:
            self.failures, self._opened_at, self._probing = 0, None, False


class Watchdog:
    """One daemon thread that runs callbacks at given times unless they are cancelled first.

    Scheduling and cancelling cost O(log n): cancelled entries are dropped
    from the heap lazily, and the heap is rebuilt when they outnumber the live ones.

    >>> fired = []
    >>> dog = Watchdog()
    >>> kept = dog.schedule(time.monotonic() + 0.01, lambda: fired.append("kept"))
    >>> dropped = dog.schedule(time.monotonic() + 0.01, lambda: fired.append("dropped"))
    >>> dog.cancel(dropped); time.sleep(0.1); fired
    ['kept']
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, Callable[[], None]] = {}
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, when: float, callback: Callable[[], None]) -> int:
        """Run ``callback`` at ``when`` (``time.monotonic()``); returns a handle to cancel it."""
        handle = next(self._counter)
        with self._wake:
            self._live[handle] = callback
            heapq.heappush(self._heap, (when, handle))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dicomlab-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][1] == handle:  # a new earliest deadline: the thread must know
                self._wake.notify()
        return handle

    def cancel(self, handle: int) -> None:
        """Forget a callback that has not run yet."""
        with self._wake:
            self._live.pop(handle, None)
            if len(self._heap) > 2 * len(self._live) + 64:
                self._heap = [entry for entry in self._heap if entry[1] in self._live]
                heapq.heapify(self._heap)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(wait)
                _, handle = heapq.heappop(self._heap)
                callback = self._live.pop(handle, None)
            if callback is not None:
                callback()


_WATCHDOG = Watchdog()
# The deadline of the request the current thread is sending (set by GuardedAdapter.send).
_current = threading.local()


class _Deadline:
    """One request's deadline: shuts its connection's socket down when it passes."""

    def __init__(self, when: float) -> None:
        self.when = when
        self.fired = False
        self._handles: list[int] = []

    def watch(self, connection: HTTPConnection) -> None:
        """Shut ``connection``'s socket down at the deadline (it may connect later)."""

        def expire() -> None:
            self.fired = True
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read or write

        self._handles.append(_WATCHDOG.schedule(self.when, expire))

    def cancel(self) -> None:
        for handle in self._handles:
            _WATCHDOG.cancel(handle)


class _WatchedMixin:
    """A urllib3 connection whose requests are watched by the current thread's deadline."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline: _Deadline | None = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    """urllib3's HTTP pool, with connections the deadline watchdog can reach."""

    ConnectionCls = _WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    """urllib3's HTTPS pool, with connections the deadline watchdog can reach."""

    ConnectionCls = _WatchedHTTPSConnection


def _read_body(response: requests.Response, deadline: float, limit: float) -> bytes:
    """The whole body of a streamed response, read before ``deadline`` (monotonic)."""
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

    raw: Any = response.raw
    chunks: list[bytes] = []
    try:
        while chunk := raw.read1(READ_SIZE, decode_content=True):
            chunks.append(chunk)
            if time.monotonic() > deadline:
                received = sum(len(c) for c in chunks)
                response.close()  # the connection is half read: never reuse it
                raise DeadlineExceeded(
                    f"no whole answer within the deadline of {limit:g} s "
                    f"({received} bytes received so far)",
                    response=response,
                )
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    raw.release_conn()
    return b"".join(chunks)


class GuardedAdapter(HTTPAdapter):
    """Retries, a total ``deadline`` per request and a shared ``breaker`` (see module doc)."""

    def __init__(
        self, *, max_attempts: int, backoff: float, deadline: float, breaker: CircuitBreaker
    ) -> None:
        super().__init__(max_retries=retry_policy(max_attempts, backoff))
        self.deadline = deadline
        self.breaker = breaker

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # Connections the watchdog can reach (requests' own, with a deadline hook).
        self.poolmanager.pool_classes_by_scheme = {
            "http": WatchedHTTPConnectionPool,
            "https": WatchedHTTPSConnectionPool,
        }

    def send(
        self, request: Any, stream: bool = False, *args: Any, **kwargs: Any
    ) -> requests.Response:
        request.url = unquote_query(request.url)
        self.breaker.admit(request.url)
        deadline = _current.deadline = _Deadline(time.monotonic() + self.deadline)
        try:
            response = self._send_within(deadline, request, stream, *args, **kwargs)
        except requests.RequestException as exc:
            if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
                self.breaker.failed(f"{type(exc).__name__}: {exc}"[:300])
            raise
        finally:
            # Always disarmed here: a pooled connection must never be shut later.
            # (A streamed body, read by the caller afterwards, has no deadline.)
            _current.deadline = None
            deadline.cancel()
        self.breaker.succeeded()
        return response

    def _send_within(
        self, deadline: _Deadline, request: Any, stream: bool, *args: Any, **kwargs: Any
    ) -> requests.Response:
        try:
            response = super().send(request, True, *args, **kwargs)
            if not stream:
                body = _read_body(response, deadline.when, self.deadline)
                if deadline.fired:  # the socket was shut: what came may be cut short
                    raise DeadlineExceeded(self._overdue(len(body)), response=response)
                response._content = body
                response._content_consumed = True
        except requests.RequestException as exc:
            if deadline.fired and not isinstance(exc, DeadlineExceeded):
                raise DeadlineExceeded(self._overdue(None), request=request) from exc
            raise
        return response

    def _overdue(self, received: int | None) -> str:
        got = "" if received is None else f" ({received} bytes received so far)"
        return f"no whole answer within the deadline of {self.deadline:g} s{got}"
