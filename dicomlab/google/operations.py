"""Long-running operations of the Cloud Healthcare API: read, poll, wait, report.

An export or import answers at once with an operation name; the work runs on
Google's side. :class:`Operation` reads the operation's JSON (SPEC §3), polls
it with exponential back-off, shows a ``tqdm`` bar with the counters, and on
completion either returns, warns (success with ``counter.failure > 0``) or
raises :class:`OperationError`. The I/O sits behind :class:`OperationsAPI`
(implemented by :class:`dicomlab.google.healthcare.HealthcareClient`)::

    RemoteError
    └── OperationError            the operation finished with an error (code, sample errors)
    OperationTimeoutError (TimeoutError)   wait() gave up; the operation goes on
    PartialFailureWarning (UserWarning)    success, but some instances failed

(all three defined in :mod:`dicomlab.errors`, and importable from here too).

>>> op = Operation({"name": "projects/p/locations/us/datasets/d/operations/42", "done": True,
...                 "metadata": {"counter": {"success": "80", "failure": "1"}}})
>>> op.state, op.counters.success, op.counters.failure
('SUCCEEDED_WITH_FAILURES', 80, 1)
"""

from __future__ import annotations

import html
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

from dicomlab.errors import (
    DicomlabError,
    OperationError,
    OperationTimeoutError,
    PartialFailureWarning,
    RemoteError,
)
from dicomlab.google.operation_status import Counters, ErrorStatus, SampleError

__all__ = [
    "Counters",
    "ErrorStatus",
    "Operation",
    "OperationError",
    "OperationTimeoutError",
    "OperationsAPI",
    "PartialFailureWarning",
    "SampleError",
]

logger = logging.getLogger(__name__)
SERVICE = "Cloud Healthcare API"
# Polling failures worth another try (None: no answer at all, e.g. a dropped connection).
TRANSIENT_STATUSES = frozenset({None, 429, 500, 502, 503, 504})
SAMPLE_ERRORS_SHOWN = 5
Progress = bool | Callable[["Operation"], object]


class OperationsAPI(Protocol):
    """What an :class:`Operation` needs from a client: read and cancel by name."""

    def fetch_operation(self, name: str) -> dict[str, Any]: ...

    def cancel_operation(self, name: str) -> None: ...


def _timeout_message(op: Operation, timeout: float) -> str:
    return (
        f"operation {op.name} ({op.method or 'unknown method'}) is still "
        f"running after {timeout:g} s ({op.counters}); it continues on Google's side. "
        "Wait more with op.wait(), or later with "
        f"HealthcareClient.get_operation({op.name!r}).wait(); stop it with op.cancel()"
    )


def _failure_message(op: Operation, error: ErrorStatus) -> str:
    what = "was cancelled" if error.code == 1 else "failed with"
    lines = [
        f"operation {op.name} ({op.method or 'unknown method'}) {what} "
        f"{error.status_name} ({error.code}): {error.message or 'no message'} [{op.counters}]"
    ]
    for sample in error.sample_errors[:SAMPLE_ERRORS_SHOWN]:
        lines.append(f"  {sample}")
    if len(error.sample_errors) > SAMPLE_ERRORS_SHOWN:
        lines.append(f"  … {len(error.sample_errors) - SAMPLE_ERRORS_SHOWN} more sample errors")
    if error.logs_url:
        lines.append(f"Logs: {error.logs_url}")
    return "\n".join(lines)


class Operation:
    """A Cloud Healthcare API long-running operation (export, import, delete).

    Parameters
    ----------
    data
        The operation's JSON: ``name``, ``done``, ``metadata``, ``error`` or ``response``.
    api
        The client that reads and cancels it; without one, :meth:`refresh`,
        :meth:`wait` and :meth:`cancel` are unavailable.

    Examples
    --------
    >>> op = client.export_to_bigquery(store, "bq://p.ds.dicom_metadata")  # doctest: +SKIP
    >>> op.wait(timeout=3600).counters                                     # doctest: +SKIP
    Counters(success=81, failure=0, pending=0, secondary_success=0, secondary_failure=0)
    """

    def __init__(self, data: Mapping[str, Any], *, api: OperationsAPI | None = None) -> None:
        self._api = api
        self._data: dict[str, Any] = {}
        self._update(data)

    def _update(self, data: Mapping[str, Any]) -> None:
        name = data.get("name") if isinstance(data, Mapping) else None
        if not isinstance(name, str) or not name:
            raise RemoteError(
                f"{SERVICE} answered with an operation that has no name: {str(data)[:200]}",
                service=SERVICE,
            )
        self._data = dict(data)

    @property
    def name(self) -> str:
        """``projects/P/locations/L/datasets/D/operations/ID``."""
        name: str = self._data["name"]
        return name

    @property
    def done(self) -> bool:
        """Whether the operation has finished (absent means running)."""
        return bool(self._data.get("done", False))

    @property
    def metadata(self) -> dict[str, Any]:
        """``OperationMetadata``: ``apiMethodName``, ``createTime``, ``logsUrl``, ``counter``…"""
        meta = self._data.get("metadata")
        return dict(meta) if isinstance(meta, Mapping) else {}

    @property
    def counters(self) -> Counters:
        """Instances that succeeded, failed and are pending so far."""
        return Counters.from_json(self.metadata.get("counter"))

    @property
    def error(self) -> ErrorStatus | None:
        """The error the operation finished with, or ``None``."""
        error = self._data.get("error")
        if not isinstance(error, Mapping):
            return None
        return ErrorStatus.from_json(error, self.logs_url)

    @property
    def response(self) -> dict[str, Any] | None:
        """The ``response`` of a successful operation (an empty message), else ``None``."""
        response = self._data.get("response")
        return dict(response) if isinstance(response, Mapping) else None

    @property
    def method(self) -> str:
        """The API method's short name, e.g. ``ExportDicomData`` (``""`` until known)."""
        return str(self.metadata.get("apiMethodName", "")).rpartition(".")[2]

    @property
    def logs_url(self) -> str | None:
        """The Cloud Logging URL of the operation, when the API gave one."""
        url = self.metadata.get("logsUrl")
        return str(url) if url else None

    @property
    def state(self) -> str:
        """``RUNNING``, ``SUCCEEDED``, ``SUCCEEDED_WITH_FAILURES``, ``FAILED`` or ``CANCELLED``."""
        if not self.done:
            return "RUNNING"
        error = self.error
        if error is not None:
            return "CANCELLED" if error.code == 1 else "FAILED"
        return "SUCCEEDED_WITH_FAILURES" if self.counters.failure else "SUCCEEDED"

    def _client(self) -> OperationsAPI:
        if self._api is None:
            raise DicomlabError(f"operation {self.name} has no client to poll it with")
        return self._api

    def refresh(self) -> Operation:
        """Read the operation's current state from the API; returns ``self``.

        >>> op.refresh().counters.pending                                 # doctest: +SKIP
        12
        """
        self._update(self._client().fetch_operation(self.name))
        return self

    def cancel(self) -> Operation:
        """Ask the API to cancel the operation (it stops asynchronously); returns ``self``.

        >>> op.cancel().metadata.get("cancelRequested")                   # doctest: +SKIP
        True
        """
        self._client().cancel_operation(self.name)
        return self.refresh()

    def check(self) -> Operation:
        """Raise :class:`OperationError` if the operation failed or was cancelled.

        Warns :class:`PartialFailureWarning` if it succeeded with failures; returns ``self``.

        >>> Operation({"name": "projects/p/locations/l/datasets/d/operations/1"}).check().done
        False
        """
        if not self.done:
            return self
        if self.error is not None:
            error = self.error or ErrorStatus(2, "the operation failed without an error status")
            raise OperationError(_failure_message(self, error), operation=self, error=error)
        failure = self.counters.failure
        if failure:
            where = f"; see {self.logs_url}" if self.logs_url else ""
            warnings.warn(
                f"operation {self.name} ({self.method}) succeeded, but {failure} of "
                f"{failure + self.counters.success} instances failed{where}",
                PartialFailureWarning,
                stacklevel=3,
            )
        return self

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: Progress = True,
        interval: float = 1.0,
        max_interval: float = 30.0,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Operation:
        """Poll until the operation is done, then :meth:`check` it; returns ``self``.

        Parameters
        ----------
        timeout
            Seconds to wait at most (``None``: no limit); then
            :class:`OperationTimeoutError` is raised and the operation goes on.
        progress
            ``True`` for a ``tqdm`` bar (elapsed time and counters), a callable
            called with the operation after each poll, or ``False``.
        interval, max_interval
            The first pause between polls, doubled after each poll up to ``max_interval``.
        sleep, clock
            Injectable for tests.

        Examples
        --------
        >>> op.wait(timeout=600, progress=False).state             # doctest: +SKIP
        'SUCCEEDED'
        """
        start, delay, errors = clock(), interval, 0
        with _ProgressDisplay(self, progress) as display:
            while not self.done:
                remaining = None if timeout is None else timeout - (clock() - start)
                if remaining is not None and remaining <= 0:
                    raise OperationTimeoutError(
                        _timeout_message(self, timeout or 0.0), operation=self
                    )
                sleep(delay if remaining is None else min(delay, remaining))
                errors = self._poll(errors)
                display.update(self)
                delay = min(delay * 2, max_interval)
        return self.check()

    def _poll(self, errors: int, limit: int = 3) -> int:
        """Refresh, tolerating up to ``limit`` transient failures in a row; the new count."""
        try:
            self.refresh()
        except RemoteError as exc:
            if exc.status not in TRANSIENT_STATUSES or errors + 1 >= limit:
                raise
            logger.warning("polling %s failed, will retry: %s", self.name, exc)
            return errors + 1
        return 0

    def __repr__(self) -> str:
        counters = self.counters
        return (
            f"<Operation {self.name} {self.method or '?'} {self.state} "
            f"success={counters.success} failure={counters.failure} pending={counters.pending}>"
        )

    def _repr_html_(self) -> str:
        meta, error = self.metadata, self.error
        rows = [
            ("operation", f"<code>{html.escape(self.name)}</code>"),
            ("method", html.escape(self.method or "?")),
            ("state", f"<b>{self.state}</b>"),
            ("instances", html.escape(str(self.counters))),
            ("started", html.escape(str(meta.get("createTime", "")))),
            ("ended", html.escape(str(meta.get("endTime", "")))),
        ]
        if error is not None:
            rows.append(("error", html.escape(f"{error.status_name}: {error.message}")))
            rows.extend(("sample error", html.escape(str(s))) for s in error.sample_errors[:5])
        if self.logs_url:
            link = html.escape(self.logs_url, quote=True)
            rows.append(("logs", f'<a href="{link}" target="_blank">Cloud Logging</a>'))
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"


class _ProgressDisplay:
    """A ``tqdm.auto`` bar, a callback, or nothing, updated after each poll."""

    def __init__(self, operation: Operation, progress: Progress) -> None:
        self._callback = progress if callable(progress) else None
        self._bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            label = operation.method or f"operation {operation.name.rpartition('/')[2]}"
            self._bar = tqdm(total=None, desc=label, unit="instance")
        self.update(operation)

    def update(self, operation: Operation) -> None:
        if self._callback is not None:
            self._callback(operation)
        if self._bar is not None:
            counters = operation.counters
            total = counters.success + counters.failure + counters.pending
            self._bar.total = total or None
            self._bar.n = counters.success + counters.failure
            self._bar.set_postfix_str(str(counters), refresh=False)
            if operation.method:
                self._bar.set_description_str(operation.method, refresh=False)
            self._bar.refresh()

    def __enter__(self) -> _ProgressDisplay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
