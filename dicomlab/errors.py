"""The dicomlab exception tree.

Every error dicomlab raises derives from :class:`DicomlabError`, and also from
the built-in exception it most resembles, so ``except ValueError`` keeps
working for code that does not know dicomlab::

    DicomlabError
    ├── InvalidIdentifierError (ValueError)   bad UID, table name, query name
    │   └── InvalidResourceError              bad store name, bq:// or gs:// URI
    ├── FilterFileError (ValueError)          malformed filter-file lines or rows
    ├── QueryError (ValueError)               unknown query, missing/extra parameters
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
    │   └── OperationError                    a long-running operation failed (operations.py)
    └── OperationTimeoutError (TimeoutError)  waiting on an operation gave up (operations.py)

Warnings::

    UserWarning
    ├── SkippedFilesWarning                   a folder store left out files it could not read
    └── ServerWarning                         a DICOMweb server's answer is incomplete
"""

from __future__ import annotations

from dicomlab.redaction import redact_url

__all__ = [
    "AlreadyExistsError",
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


class ServerWarning(UserWarning):
    """A DICOMweb server said its answer is incomplete (truncated search results)."""
