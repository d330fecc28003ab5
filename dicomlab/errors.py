"""The dicomlab exception tree.

Every error dicomlab raises derives from :class:`DicomlabError`, and also from
the built-in exception it most resembles, so ``except ValueError`` keeps
working for code that does not know dicomlab::

    DicomlabError
    ├── InvalidIdentifierError (ValueError)   bad UID, table name, query name
    │   └── InvalidResourceError              bad store name, bq:// or gs:// URI
    ├── FilterFileError (ValueError)          malformed filter-file lines or rows
    ├── QueryError (ValueError)               unknown query, missing/extra parameters
    │   └── CostLimitError                    a BigQuery dry run exceeds the bytes cap
    ├── InvalidRequestError (ValueError)      options that cannot go together in one request
    ├── UnsupportedBackendError (ValueError)  a connect() argument we cannot open
    ├── CredentialsError (RuntimeError)       no Google credentials where they are needed
    ├── AlreadyExistsError (FileExistsError)  refusing to overwrite a table or object
    ├── NotFoundError (LookupError)           an instance, table or object is missing
    ├── LocalFileError (OSError)              a local file is locked, read-only or its disk full
    ├── DuplicateInstanceError (LookupError)  one SOPInstanceUID, files with other content
    ├── DicomReadError (ValueError)           a file is not readable DICOM, or is cut short
    ├── InstanceMismatchError (ValueError)    a store returned another instance than asked
    ├── RenderError (ValueError)              an instance has no pixels we can show
    ├── RemoteError (RuntimeError)            a server answered with an error
    │   ├── ServerDownError                   too many failures in a row: calls stop at once
    │   ├── IncompleteReadError               the store could not be read for some instances
    │   └── OperationError                    a Healthcare API long-running operation failed
    └── OperationTimeoutError (TimeoutError)  waiting on an operation gave up; it goes on

Warnings::

    UserWarning
    ├── SkippedFilesWarning                   a folder store left out files it could not read
    ├── PartialFailureWarning                 an operation succeeded, but some instances failed
    └── ServerWarning                         a DICOMweb server's answer is incomplete

Every public exception and warning of the package is defined here; the
package root exports the exceptions. (The command line's own ``ReaderGone`` and
``OutputError`` in :mod:`dicomlab.cli_output` never leave ``dicomlab.cli.main``:
they become exit statuses.)
"""

from __future__ import annotations

from typing import Any

from dicomlab.redaction import redact_url

__all__ = [
    "AlreadyExistsError",
    "CostLimitError",
    "CredentialsError",
    "DicomReadError",
    "DicomlabError",
    "DuplicateInstanceError",
    "FilterFileError",
    "IncompleteReadError",
    "InstanceMismatchError",
    "InvalidIdentifierError",
    "InvalidRequestError",
    "InvalidResourceError",
    "LocalFileError",
    "NotFoundError",
    "OperationError",
    "OperationTimeoutError",
    "PartialFailureWarning",
    "QueryError",
    "RemoteError",
    "RenderError",
    "ServerDownError",
    "ServerWarning",
    "SkippedFilesWarning",
    "UnsupportedBackendError",
]


class DicomlabError(Exception):
    """Base class of every error raised by dicomlab.

    Text arguments pass through :func:`~dicomlab.redaction.redact_url`, so a
    message that quotes a URL never shows its password or token.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact_url(a) if isinstance(a, str) else a for a in args))


class InvalidIdentifierError(DicomlabError, ValueError):
    """A UID, table name, query name or other identifier is malformed."""

    def __init__(self, message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.value = redact_url(value) if isinstance(value, str) else value


class InvalidResourceError(InvalidIdentifierError):
    """A store name, ``bq://`` or ``gs://`` URI is malformed."""


class FilterFileError(DicomlabError, ValueError):
    """Filter-file text or the rows it is built from are malformed.

    ``problems`` holds ``(row_or_line_number, reason)`` pairs, 1-based for
    lines and 0-based DataFrame index labels for rows.
    """

    def __init__(self, message: str, *, problems: list[tuple[object, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class QueryError(DicomlabError, ValueError):
    """An unknown canned query, or parameters that do not fit it."""


class CostLimitError(QueryError):
    """A query's dry run says it would process more bytes than the cap allows."""


class UnsupportedBackendError(DicomlabError, ValueError):
    """A ``connect()`` argument names a backend dicomlab cannot open."""


class AlreadyExistsError(DicomlabError, FileExistsError):
    """Refused to replace an existing table, file or object."""


class NotFoundError(DicomlabError, LookupError):
    """An instance, table, file or object does not exist."""


class LocalFileError(DicomlabError, OSError):
    """A local file cannot be opened or written: another process holds it, its
    folder is read-only, or the disk is full.

    ``errno`` (e.g. ``errno.ENOSPC``) and ``filename`` say which, and where.
    """

    def __init__(self, message: str, *, errno: int | None = None, filename: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.filename = filename

    def __str__(self) -> str:
        # OSError would print "[Errno N] None: 'file'" once errno is set.
        return str(self.args[0])


class DuplicateInstanceError(DicomlabError, LookupError):
    """One SOPInstanceUID names files with other content: dicomlab will not guess which is meant.

    ``paths`` lists the files (copies with the same bytes count as one).
    """

    def __init__(self, message: str, *, uid: str, paths: list[str]) -> None:
        super().__init__(message)
        self.uid = uid
        self.paths = list(paths)


class DicomReadError(DicomlabError, ValueError):
    """A file could not be read as DICOM."""

    def __init__(self, message: str, *, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class InstanceMismatchError(DicomlabError, ValueError):
    """A store returned another instance than the one asked for.

    ``asked`` and ``received`` hold the UIDs (``InstanceRef``) of each.
    """

    def __init__(self, message: str, *, asked: object = None, received: object = None) -> None:
        super().__init__(message)
        self.asked = asked
        self.received = received


class RenderError(DicomlabError, ValueError):
    """An instance has no pixel data, or pixels that cannot be turned into an image."""


class RemoteError(DicomlabError, RuntimeError):
    """A remote service answered with an error.

    Carries the ``service`` (e.g. ``"DICOMweb"``), the ``resource`` addressed
    and the HTTP ``status`` when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str,
        resource: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.resource = redact_url(resource)
        self.status = status


class ServerDownError(RemoteError):
    """A server failed too many requests in a row; calls fail at once for a while.

    ``retry_at`` is the :func:`time.monotonic` time after which a request is tried again.
    """

    def __init__(
        self, message: str, *, service: str, resource: str = "", retry_at: float = 0.0
    ) -> None:
        super().__init__(message, service=service, resource=resource)
        self.retry_at = retry_at


class IncompleteReadError(RemoteError):
    """The store could not be read for some instances (a connection, a timeout, a
    server error, a file that cannot be opened), so an export stopped and wrote nothing.

    ``unread`` lists ``(source, reason)`` for each of them.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str,
        resource: str = "",
        unread: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message, service=service, resource=resource)
        self.unread = list(unread or [])


class InvalidRequestError(DicomlabError, ValueError):
    """Options that cannot go together, or a request the API would refuse."""

    def __init__(self, message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.value = redact_url(value) if isinstance(value, str) else value


class CredentialsError(DicomlabError, RuntimeError):
    """No Google Application Default Credentials were found where they are needed."""


class SkippedFilesWarning(UserWarning):
    """A folder store left out files or folders it could not read (named in the message).

    The store's ``skipped`` attribute lists them with the reason.
    """


class OperationError(RemoteError):
    """A long-running operation of the Cloud Healthcare API finished with an error.

    Carries the google.rpc ``code`` and its name (``rpc_status``), Google's
    ``error_message``, the ``logs_url``, the import ``sample_errors`` and the
    ``counters`` at the end; ``resource`` is the operation name and
    ``operation`` the :class:`~dicomlab.google.operations.Operation` itself.
    """

    def __init__(self, message: str, *, operation: Any, error: Any) -> None:
        super().__init__(message, service="Cloud Healthcare API", resource=operation.name)
        self.operation = operation
        self.code: int = error.code
        self.rpc_status: str = error.status_name
        self.error_message: str = error.message
        self.logs_url: str | None = error.logs_url
        self.sample_errors: tuple[Any, ...] = tuple(error.sample_errors)
        self.counters = operation.counters


class OperationTimeoutError(DicomlabError, TimeoutError):
    """Waiting on a long-running operation gave up; the operation goes on (``.operation``)."""

    def __init__(self, message: str, *, operation: Any) -> None:
        super().__init__(message)
        self.operation = operation


class PartialFailureWarning(UserWarning):
    """A long-running operation succeeded, but ``counter.failure`` instances failed."""


class ServerWarning(UserWarning):
    """A DICOMweb server said its answer is incomplete (truncated search results)."""
