"""Turning ``requests`` failures into dicomlab errors: one translation, a hook per service.

Every adapter that speaks HTTP through ``requests`` (DICOMweb stores, the
Cloud Healthcare API) maps the same foreign exceptions the same way:

- an HTTP 404 becomes :class:`~dicomlab.errors.NotFoundError`;
- any other HTTP error becomes :class:`~dicomlab.errors.RemoteError` with the
  service, the resource and the status;
- a connection failure or timeout becomes a :class:`~dicomlab.errors.RemoteError`
  without a status.

What differs per service (how the server's body explains an error, which
secrets to scrub, extra exceptions of its own) is an :class:`ErrorHook`.

>>> import requests
>>> hook = ErrorHook("Example")
>>> try:
...     with translated("studies", hook):
...         raise requests.ConnectionError("refused")
... except RemoteError as exc:
...     print(exc, exc.service)
Example request for studies failed: ConnectionError: refused Example
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicomlab.errors import DicomlabError, NotFoundError, RemoteError

if TYPE_CHECKING:
    import requests

__all__ = ["ErrorHook", "http_status", "translated"]


def http_status(exc: requests.HTTPError) -> int | None:
    """The status of the answer behind ``exc``, ``None`` when there was no answer."""
    return exc.response.status_code if exc.response is not None else None


def _body_text(response: requests.Response | None, exc: Exception) -> tuple[str, str]:
    """``("", the start of the body)``, or the exception's text when the body is empty."""
    detail = response.text[:200].strip() if response is not None else ""
    return "", detail or str(exc)


def _keep(exc: BaseException) -> BaseException | None:
    return exc


def _nothing(exc: Exception, resource: str) -> DicomlabError | None:
    return None


def _as_is(text: str) -> str:
    return text


def _bare_not_found(resource: str, service: str, detail: str) -> str:
    return f"{resource} was not found ({service}): {detail}"


@dataclass(frozen=True)
class ErrorHook:
    """How one service's failures read; the defaults suit any HTTP service.

    Attributes
    ----------
    service
        The service's name in messages and in ``RemoteError.service``.
    describe
        ``(label, detail)`` for an HTTP error's answer: ``label`` follows the
        status (e.g. ``" PERMISSION_DENIED"``), ``detail`` explains it.
    redact
        Scrubs secrets (tokens) from every message before it is raised.
    cause
        The exception to chain (``None`` chains nothing, for one whose text
        may hold a secret).
    not_found
        The message of a 404, from ``(resource, service, detail)``.
    specific
        A dicomlab error for an exception this service knows itself, asked
        first (``None``: the generic mapping, and anything else than a
        ``requests`` failure goes through unchanged).
    """

    service: str
    describe: Callable[[requests.Response | None, Exception], tuple[str, str]] = _body_text
    redact: Callable[[str], str] = _as_is
    cause: Callable[[BaseException], BaseException | None] = _keep
    not_found: Callable[[str, str, str], str] = _bare_not_found
    specific: Callable[[Exception, str], DicomlabError | None] = _nothing


@contextlib.contextmanager
def translated(resource: str, hook: ErrorHook) -> Iterator[None]:
    """Turn ``requests`` failures inside the block into dicomlab errors about ``resource``.

    dicomlab's own errors pass through unchanged.
    """
    import requests

    try:
        yield
    except DicomlabError:
        raise
    except Exception as exc:
        error = hook.specific(exc, resource)
        if error is None and isinstance(exc, requests.HTTPError):
            error = _http_error(exc, resource, hook)
        elif error is None and isinstance(exc, requests.RequestException):
            error = RemoteError(
                hook.redact(
                    f"{hook.service} request for {resource} failed: {type(exc).__name__}: {exc}"
                ),
                service=hook.service,
                resource=resource,
            )
        if error is None:
            raise
        raise error from hook.cause(exc)


def _http_error(exc: requests.HTTPError, resource: str, hook: ErrorHook) -> DicomlabError:
    status = http_status(exc)
    label, detail = hook.describe(exc.response, exc)
    if status == 404:
        return NotFoundError(hook.redact(hook.not_found(resource, hook.service, detail)))
    return RemoteError(
        hook.redact(
            f"{hook.service} request for {resource} failed with HTTP {status}{label}: {detail}"
        ),
        service=hook.service,
        resource=resource,
        status=status,
    )
