"""What a Healthcare API operation reports: its counters and its error, read from JSON.

Pure: no I/O. A long-running operation's ``metadata.counter`` becomes
:class:`Counters`; a finished operation's ``error`` (a google.rpc.Status, with
the sample errors of an import) becomes :class:`ErrorStatus` (SPEC §3).

>>> Counters.from_json({"success": "80", "failure": "1"}).as_dict()
{'success': 80, 'failure': 1, 'pending': 0}
>>> RPC_CODES[3]
'INVALID_ARGUMENT'
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RPC_CODES", "Counters", "ErrorStatus", "SampleError"]

# google.rpc.Code: the ``error.code`` of a finished operation.
_RPC_NAMES = (
    "OK CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED NOT_FOUND ALREADY_EXISTS "
    "PERMISSION_DENIED RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED OUT_OF_RANGE "
    "UNIMPLEMENTED INTERNAL UNAVAILABLE DATA_LOSS UNAUTHENTICATED"
)
RPC_CODES = dict(enumerate(_RPC_NAMES.split()))


@dataclass(frozen=True)
class Counters:
    """An operation's ``metadata.counter``: int64 values sent as strings, omitted when 0.

    >>> Counters.from_json({"success": "12", "pending": "3"})
    Counters(success=12, failure=0, pending=3, secondary_success=0, secondary_failure=0)
    >>> str(Counters(success=12, pending=3))
    '12 succeeded, 0 failed, 3 pending'
    """

    success: int = 0
    failure: int = 0
    pending: int = 0
    secondary_success: int = 0
    secondary_failure: int = 0

    @classmethod
    def from_json(cls, counter: object) -> Counters:
        """Read a ``counter`` object (strings or ints; anything unreadable counts as 0)."""
        data = counter if isinstance(counter, Mapping) else {}
        keys = ("success", "failure", "pending", "secondarySuccess", "secondaryFailure")
        return cls(*(_int(data.get(key)) for key in keys))

    def as_dict(self) -> dict[str, int]:
        """``{"success": n, "failure": m, "pending": p}``, like ``ExportResult.counter``."""
        return {"success": self.success, "failure": self.failure, "pending": self.pending}

    def __str__(self) -> str:
        text = f"{self.success} succeeded, {self.failure} failed"
        return text + (f", {self.pending} pending" if self.pending else "")


def _int(value: object) -> int:
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            return int(value)
    return 0


@dataclass(frozen=True)
class SampleError:
    """One file an import could not read: ``ImportDicomDataErrorDetails.sampleErrors[i]``."""

    resource: str
    code: int
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.message} ({RPC_CODES.get(self.code, self.code)})"


@dataclass(frozen=True)
class ErrorStatus:
    """A finished operation's ``error`` (google.rpc.Status) with the logs URL.

    >>> sample = {"resource": "gs://b/x.dcm", "error": {"code": 3, "message": "not DICOM"}}
    >>> details = [{"sampleErrors": [sample]}]
    >>> e = ErrorStatus.from_json({"code": 3, "message": "bad", "details": details})
    >>> e.status_name, str(e.sample_errors[0])
    ('INVALID_ARGUMENT', 'gs://b/x.dcm: not DICOM (INVALID_ARGUMENT)')
    """

    code: int
    message: str
    logs_url: str | None = None
    sample_errors: tuple[SampleError, ...] = ()

    @property
    def status_name(self) -> str:
        """``INVALID_ARGUMENT``, ``CANCELLED``… for the code."""
        return RPC_CODES.get(self.code, "UNKNOWN")

    @classmethod
    def from_json(cls, error: Mapping[str, Any], logs_url: str | None = None) -> ErrorStatus:
        """Read a google.rpc.Status; ``details[*].sampleErrors`` become :class:`SampleError`."""
        samples = tuple(
            _sample_error(item)
            for detail in error.get("details") or []
            if isinstance(detail, Mapping)
            for item in detail.get("sampleErrors") or []
            if isinstance(item, Mapping)
        )
        return cls(_int(error.get("code")), str(error.get("message", "")), logs_url, samples)


def _sample_error(item: Mapping[str, Any]) -> SampleError:
    inner = item.get("error")
    inner = inner if isinstance(inner, Mapping) else {}
    return SampleError(
        str(item.get("resource", "")), _int(inner.get("code")), str(inner.get("message", ""))
    )
