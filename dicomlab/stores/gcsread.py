"""Reading DICOM objects in Cloud Storage: the client, listings, and headers by ranged reads.

:class:`RangedObject` is a read-only file object over one object: pydicom
reads the header through it, and every read it cannot answer from what it
already holds becomes one ranged ``GET``. The first is small
(:data:`FIRST_READ_BYTES`); each later one is twice the last, so a long
header costs a few requests and a short one just one. A value pydicom passes
over (pixel data, anything over
:data:`~dicomlab.rows.flatten.MAX_VALUE_BYTES`) is a ``seek``: never fetched.

Failures of the client are translated in one place, :func:`translate_error`;
inside a read they become :class:`OSError` with an ``errno``, which
:func:`~dicomlab.stores.headers.parse_instance_metadata` reports as a
transport failure (the object may well be a good instance).
"""

from __future__ import annotations

import contextlib
import errno
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dicomlab.errors import DicomlabError, NotFoundError, RemoteError, UnsupportedBackendError
from dicomlab.redaction import safe_cause
from dicomlab.stores.base import MetadataItem
from dicomlab.stores.headers import parse_instance_metadata

__all__ = [
    "DEFAULT",
    "FIRST_READ_BYTES",
    "SERVICE",
    "ObjectInfo",
    "RangedObject",
    "list_objects",
    "read_object_header",
    "storage_client",
    "translate_error",
]

SERVICE = "Cloud Storage"
#: The first ranged read of an object: most DICOM headers end before it.
FIRST_READ_BYTES = 64 << 10
#: The largest single ranged read (reads double up to it).
MAX_READ_BYTES = 8 << 20
#: "The client's own retry policy" (its default: transient failures retried for 120 s).
DEFAULT: Any = object()


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its full name, size in bytes and checksum (CRC32C, base64)."""

    name: str
    size: int
    crc32c: str = ""


def storage_client(*, anonymous: bool = False) -> Any:
    """A ``google.cloud.storage.Client``: Application Default Credentials, or anonymous.

    Anonymous clients read public buckets (IDC's collections) without any
    credentials. ``STORAGE_EMULATOR_HOST`` is honoured by the client itself.

    >>> storage_client(anonymous=True)  # doctest: +SKIP
    <google.cloud.storage.client.Client object at ...>
    """
    try:
        from google.cloud.storage import Client
    except ImportError as exc:
        raise UnsupportedBackendError(
            "gs:// stores need the google-cloud-storage package: pip install 'dicomlab[gcp]'"
        ) from exc
    with translated("client"):  # "Cloud Storage client found no usable Google credentials…"
        if anonymous:
            return Client.create_anonymous_client()
        return Client()


def _foreign_errors() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = []
    with contextlib.suppress(ImportError):
        from google.api_core import exceptions as api_exceptions

        types.append(api_exceptions.GoogleAPIError)
    with contextlib.suppress(ImportError):
        from google.auth import exceptions as auth_exceptions

        types.append(auth_exceptions.GoogleAuthError)
    with contextlib.suppress(ImportError):
        import requests

        types.append(requests.RequestException)
    return tuple(types)


def translate_error(exc: BaseException, *, resource: str) -> DicomlabError:
    """The dicomlab error for a Cloud Storage client failure about ``resource``.

    >>> from google.api_core import exceptions
    >>> translate_error(exceptions.Forbidden("denied"), resource="gs://b/x.dcm").status
    403
    """
    from google.api_core import exceptions as api_exceptions

    if isinstance(exc, api_exceptions.NotFound):
        return NotFoundError(f"{resource} does not exist (or its bucket does not)")
    status = None
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        status = int(exc.code) if exc.code is not None else None
        problem = f"failed with HTTP {status}: {exc.message}"
    elif type(exc).__module__.startswith("google.auth"):
        problem = (
            f"found no usable Google credentials ({type(exc).__name__}); run "
            "`gcloud auth application-default login`, or read a public bucket anonymously "
            "(gs://BUCKET/PREFIX?anonymous=true)"
        )
    else:
        problem = f"failed: {type(exc).__name__}: {exc}"
    return RemoteError(
        f"Cloud Storage {resource} {problem}", service=SERVICE, resource=resource, status=status
    )


@contextlib.contextmanager
def translated(resource: str) -> Iterator[None]:
    """Re-raise the client's failures inside the block as dicomlab errors about ``resource``."""
    try:
        yield
    except _foreign_errors() as exc:
        raise translate_error(exc, resource=resource) from safe_cause(exc)


def list_objects(client: Any, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
    """Every object under ``prefix`` (a folder: ``""`` or ending in ``/``), page by page.

    Placeholders of folders (names ending in ``/``, as the console makes) are not objects.
    """
    resource = f"gs://{bucket}/{prefix}"
    with translated(resource):
        for blob in client.list_blobs(bucket, prefix=prefix or None, page_size=1000):
            if not blob.name.endswith("/"):
                yield ObjectInfo(blob.name, int(blob.size or 0), blob.crc32c or "")


class RangedObject(io.RawIOBase):
    """A seekable, read-only file object over one object, fetched in growing ranges.

    ``fetches`` lists the ``(start, length)`` of every request made, for tests
    and benchmarks. A failed request raises :class:`OSError` (``EIO``, or
    ``ENOENT`` when the object is gone).
    """

    def __init__(
        self,
        blob: Any,
        size: int,
        *,
        first: int = FIRST_READ_BYTES,
        uri: str = "",
        retry: Any = DEFAULT,
    ) -> None:
        super().__init__()
        self._blob, self._size, self._uri = blob, size, uri or str(getattr(blob, "name", ""))
        self._retry = retry
        self._next = max(1, first)
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []
        self.fetches: list[tuple[int, int]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        parts = []
        while self._pos < end:
            piece = self._held(self._pos, end) or self._fetch(self._pos, end - self._pos)
            parts.append(piece)
            self._pos += len(piece)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _held(self, start: int, end: int) -> bytes:
        """What the bytes already fetched hold from ``start`` on (up to ``end``)."""
        for first, data in self._segments:
            if first <= start < first + len(data):
                return data[start - first : end - first]
        return b""

    def _fetch(self, start: int, wanted: int) -> bytes:
        length = min(self._size - start, max(wanted, self._next))
        self._next = min(MAX_READ_BYTES, 2 * self._next)
        self.fetches.append((start, length))
        try:
            options = {} if self._retry is DEFAULT else {"retry": self._retry}
            data: bytes = self._blob.download_as_bytes(
                start=start, end=start + length - 1, checksum=None, **options
            )
        except _foreign_errors() as exc:
            error = translate_error(exc, resource=self._uri)
            code = errno.ENOENT if isinstance(error, NotFoundError) else errno.EIO
            raise OSError(code, str(error)) from safe_cause(exc)
        if not data:  # the object shrank since it was listed
            raise OSError(errno.EIO, f"{self._uri} ended at byte {start}, listed as {self._size}")
        self._segments.append((start, data))
        return data[:wanted]


def read_object_header(
    client: Any,
    bucket: str,
    info: ObjectInfo,
    *,
    first: int = FIRST_READ_BYTES,
    retry: Any = DEFAULT,
) -> tuple[MetadataItem, RangedObject]:
    """One object's metadata (no pixel data), read by ranged reads, and the reader used.

    Never raises for a bad object: as
    :func:`~dicomlab.stores.headers.read_instance_metadata`, an object that is
    not an instance comes back with ``error`` set, one that could not be read
    also with ``transport``. An object of ``first`` bytes or fewer is read whole.
    ``retry``: a ``google.api_core.retry.Retry`` for each read (``None``: none).
    """
    uri = f"gs://{bucket}/{info.name}"
    blob = client.bucket(bucket).blob(info.name)
    reader = RangedObject(blob, info.size, first=first, uri=uri, retry=retry)
    if info.size == 0:
        return MetadataItem(uri, error="not readable as DICOM: an empty object"), reader
    return parse_instance_metadata(reader, uri, info.size), reader  # type: ignore[arg-type]
