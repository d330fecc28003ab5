"""The HTTP transport under a DICOMweb store: retries, a total deadline, a circuit breaker.

One :class:`GuardedAdapter` is mounted on the store's session for the store's
base URL, so every request to that server (searches, metadata, instances,
frames, renderings, STOW, deletes), from any thread, passes through it:

- connection failures and 408, 429, 500, 502, 503, 504 answers are retried
  by urllib3 with exponential back-off, honouring ``Retry-After``;
- each request has a **total deadline**: requests' read timeout applies to
  each socket read, so a server sending a byte every half second would keep a
  request alive for ever; the body is read here in small reads with the clock
  checked between them;
- a **circuit breaker** shared by all the store's threads: after
  ``threshold`` requests in a row fail to connect or time out, further
  requests fail at once (:class:`CircuitOpen`) until ``cooldown`` seconds
  have passed; then one request probes the server, and its success closes
  the circuit again.

``*`` and ``,`` are sent unencoded in query strings: Orthanc does not
percent-decode query values.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

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
    as is, so the caller sees the server's status.
    """
    from urllib3.util.retry import Retry

    return Retry(
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

    def send(
        self, request: Any, stream: bool = False, *args: Any, **kwargs: Any
    ) -> requests.Response:
        request.url = unquote_query(request.url)
        self.breaker.admit(request.url)
        started = time.monotonic()
        try:
            response = super().send(request, True, *args, **kwargs)
            if not stream:
                body = _read_body(response, started + self.deadline, self.deadline)
                response._content = body
                response._content_consumed = True
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.breaker.failed(f"{type(exc).__name__}: {exc}"[:300])
            raise
        self.breaker.succeeded()
        return response
