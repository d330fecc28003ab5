"""How a DICOMweb server's failures read: the DICOMweb hook of the shared HTTP translation.

:func:`translated` turns ``requests`` failures into
:class:`~dicomlab.errors.RemoteError` (``service="DICOMweb"``), a 404 into
:class:`~dicomlab.errors.NotFoundError`, a circuit that is open into
:class:`~dicomlab.errors.ServerDownError`, and a body dicomweb-client could
not read into a :class:`~dicomlab.errors.RemoteError`. A foreign exception's
text may hold a URL with a password or a token: messages are redacted
(``DicomlabError`` does it) and such a cause is not chained.

>>> import requests
>>> try:
...     with translated("studies"):
...         raise requests.ConnectTimeout("timed out")
... except RemoteError as exc:
...     print(exc)
DICOMweb request for studies failed: ConnectTimeout: timed out
"""

from __future__ import annotations

import contextlib
import time

from pydicom.errors import InvalidDicomError

from dicomlab.errors import DicomlabError, NotFoundError, RemoteError, ServerDownError
from dicomlab.plumbing.http_errors import ErrorHook
from dicomlab.plumbing.http_errors import translated as _translated
from dicomlab.redaction import safe_cause
from dicomlab.stores.transport import CircuitOpen

__all__ = ["SERVICE", "malformed", "status_of", "translated"]

SERVICE = "DICOMweb"


def _not_found(resource: str, service: str, detail: str) -> str:
    return f"{resource} was not found on the DICOMweb server"


def _specific(exc: Exception, resource: str) -> DicomlabError | None:
    """A refused request (the circuit is open), or a body that could not be read."""
    if isinstance(exc, CircuitOpen):  # a ConnectionError that never reached the server
        return ServerDownError(
            f"DICOMweb request for {resource} {exc}; nothing more is sent to it for "
            f"{max(0.0, exc.retry_at - time.monotonic()):.0f} s. Check that the server is "
            "running and reachable, then try again",
            service=SERVICE,
            resource=resource,
            retry_at=exc.retry_at,
        )
    if isinstance(exc, (InvalidDicomError, ValueError)):  # dicomweb-client read a bad body
        return RemoteError(
            f"the DICOMweb server answered {resource} with a body that could not be read: "
            f"{type(exc).__name__}: {exc}",
            service=SERVICE,
            resource=resource,
        )
    return None


HOOK = ErrorHook(SERVICE, cause=safe_cause, not_found=_not_found, specific=_specific)


def translated(resource: str) -> contextlib.AbstractContextManager[None]:
    """Turn failures inside the block into dicomlab errors about ``resource``."""
    return _translated(resource, HOOK)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind a translated error (``None`` when there was none)."""
    if isinstance(exc, NotFoundError):
        return 404
    return exc.status if isinstance(exc, RemoteError) else None


def malformed(resource: str, what: str) -> RemoteError:
    """The error for an answer that is not the DICOM JSON asked for."""
    return RemoteError(
        f"the DICOMweb server answered {resource} with malformed DICOM JSON: {what}",
        service=SERVICE,
        resource=resource,
    )
