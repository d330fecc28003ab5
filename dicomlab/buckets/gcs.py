"""A Cloud Storage bucket (or a folder in one) as a :class:`~dicomlab.buckets.base.Bucket`.

The adapter receives a ready-made ``google.cloud.storage.Client``; when none
is given it builds one on first use with :func:`default_storage_client`
(Application Default Credentials, or the emulator named by
``STORAGE_EMULATOR_HOST``). Nothing from ``google`` is imported until then.

Errors from the client are translated in one place, :func:`translate_error`::

    google.api_core NotFound            -> NotFoundError      (object, or bucket)
    google.api_core PreconditionFailed  -> AlreadyExistsError (upload without overwrite)
    any other API, retry, auth or HTTP  -> RemoteError(service="Cloud Storage")

>>> bucket = GcsBucket("gs://my-bucket/cohorts/")
>>> bucket, bucket.url
(GcsBucket('gs://my-bucket/cohorts'), 'gs://my-bucket/cohorts')
>>> bucket.upload_bytes(b"/studies/1.2\\n", "lung.txt")  # doctest: +SKIP
'gs://my-bucket/cohorts/lung.txt'
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from dicomlab.core.resources import GcsUri, validate_object_name
from dicomlab.core.validation import validate_flag
from dicomlab.errors import (
    AlreadyExistsError,
    DicomlabError,
    InvalidResourceError,
    NotFoundError,
    RemoteError,
    UnsupportedBackendError,
)
from dicomlab.redaction import safe_cause

__all__ = ["SERVICE", "GcsBucket", "default_storage_client", "translate_error"]

SERVICE = "Cloud Storage"
_QUERY = re.compile(r"\?[^\s'\"]*")


def default_storage_client(project: str | None = None) -> Any:
    """A ``google.cloud.storage.Client`` from the environment.

    Uses Application Default Credentials, or anonymous credentials against the
    emulator when ``STORAGE_EMULATOR_HOST`` is set (``http://HOST:PORT``).

    Examples
    --------
    >>> client = default_storage_client()  # doctest: +SKIP
    >>> GcsBucket("gs://my-bucket", client=client).exists("lung.txt")  # doctest: +SKIP
    False
    """
    try:
        from google.cloud.storage import Client
    except ImportError as exc:
        raise UnsupportedBackendError(
            "Cloud Storage buckets need the google-cloud-storage package: "
            "pip install 'dicomlab[gcp]'"
        ) from exc
    with _translated("the default client"):
        return Client(project=project)


class GcsBucket:
    """Objects under ``gs://BUCKET[/PREFIX]``, named relative to the prefix.

    An upload never replaces an existing object unless ``overwrite=True``:
    the request carries the precondition ``ifGenerationMatch=0``, so Cloud
    Storage itself refuses it (no check-then-write race).

    Parameters
    ----------
    uri
        ``gs://BUCKET`` or ``gs://BUCKET/PREFIX`` (a trailing ``/`` is optional).
    client
        A ``google.cloud.storage.Client``; by default one is made on first use
        with :func:`default_storage_client`.

    Examples
    --------
    >>> GcsBucket("gs://my-bucket").url
    'gs://my-bucket'
    >>> bucket = GcsBucket("gs://my-bucket/cohorts", client=client)  # doctest: +SKIP
    >>> bucket.upload_bytes(b"/studies/1.2\\n", "lung.txt")  # doctest: +SKIP
    'gs://my-bucket/cohorts/lung.txt'
    >>> bucket.list()  # doctest: +SKIP
    ['lung.txt']
    """

    def __init__(self, uri: str | GcsUri, *, client: Any = None) -> None:
        parsed = uri if isinstance(uri, GcsUri) else GcsUri.parse(uri)
        prefix = parsed.object_name.rstrip("/")
        if prefix:
            try:
                validate_object_name(prefix)
            except ValueError as exc:
                raise InvalidResourceError(
                    f"folder {prefix!r} in {str(parsed)!r} is not valid: {exc}", value=str(uri)
                ) from exc
        self.uri = GcsUri(parsed.bucket, prefix)
        self._client = client

    @property
    def url(self) -> str:
        """``gs://BUCKET`` or ``gs://BUCKET/PREFIX``."""
        return str(self.uri)

    @property
    def client(self) -> Any:
        """The storage client (made with :func:`default_storage_client` if none was given)."""
        if self._client is None:
            self._client = default_storage_client()
        return self._client

    def storage_client(self) -> Any:
        """The ``google.cloud.storage.Client`` the bucket uses (built on first use)."""
        return self.client

    def __repr__(self) -> str:
        return f"GcsBucket({self.url!r})"

    def _blob_name(self, name: str) -> str:
        name = validate_object_name(name)
        return f"{self.uri.object_name}/{name}" if self.uri.object_name else name

    def _blob(self, name: str) -> Any:
        return self.client.bucket(self.uri.bucket).blob(self._blob_name(name))

    def _object_uri(self, name: str) -> str:
        return str(GcsUri(self.uri.bucket, self._blob_name(name)))

    def upload_bytes(
        self, data: bytes, name: str, *, overwrite: bool = False, content_type: str = "text/plain"
    ) -> str:
        """Write ``data`` as object ``name`` and return its ``gs://`` URI.

        Raises :class:`~dicomlab.errors.AlreadyExistsError` if the object
        exists and ``overwrite`` is false.
        """
        overwrite = validate_flag(overwrite, "overwrite")  # "no" must not replace an object
        uri = self._object_uri(name)
        blob = self._blob(name)
        # With the precondition the client retries transient failures; a retry after a
        # lost success answer finds our own object and reports it as already there.
        with _translated(uri, missing_bucket=self._bucket_uri):
            blob.upload_from_string(
                data, content_type=content_type, if_generation_match=None if overwrite else 0
            )
        return uri

    def download_bytes(self, name: str) -> bytes:
        """Read object ``name``; :class:`~dicomlab.errors.NotFoundError` if it is missing."""
        uri = self._object_uri(name)
        blob = self._blob(name)
        try:
            with _translated(uri):
                data: bytes = blob.download_as_bytes()
                return data
        except NotFoundError as exc:
            if self._bucket_is_missing():
                raise _missing_bucket_error(self._bucket_uri) from exc.__cause__
            raise

    def exists(self, name: str) -> bool:
        """Whether object ``name`` exists (``False`` too when the bucket does not)."""
        uri = self._object_uri(name)
        blob = self._blob(name)
        with _translated(uri):
            return bool(blob.exists())

    def list(self, prefix: str = "") -> list[str]:
        """Names of the objects under this bucket's folder that start with ``prefix``, sorted."""
        base = f"{self.uri.object_name}/" if self.uri.object_name else ""
        with _translated(self.url, missing_bucket=self._bucket_uri):
            blobs = self.client.list_blobs(self.uri.bucket, prefix=base + prefix)
            names = [blob.name[len(base) :] for blob in blobs]
        # Folder placeholders ("dir/") made by the console are not objects we can read back.
        return sorted(n for n in names if n and not n.endswith("/"))

    @property
    def _bucket_uri(self) -> str:
        return f"gs://{self.uri.bucket}"

    def _bucket_is_missing(self) -> bool:
        """Whether the bucket is gone (asked only after a 404, to say which is missing)."""
        with _translated(self._bucket_uri):
            return not self.client.bucket(self.uri.bucket).exists()


def _missing_bucket_error(bucket_uri: str) -> NotFoundError:
    return NotFoundError(
        f"bucket {bucket_uri} does not exist or these credentials cannot see it: "
        f"create it (gcloud storage buckets create {bucket_uri}) or check the gs:// URI"
    )


def _foreign_errors() -> tuple[type[BaseException], ...]:
    """The exception types :func:`translate_error` understands (those importable here)."""
    types: list[type[BaseException]] = []
    with contextlib.suppress(ImportError):
        from google.api_core import exceptions as api_exceptions

        types += [api_exceptions.GoogleAPIError]
    with contextlib.suppress(ImportError):
        from google.auth import exceptions as auth_exceptions

        types += [auth_exceptions.GoogleAuthError]
    with contextlib.suppress(ImportError):
        import requests

        types += [requests.RequestException]
    return tuple(types)


@contextlib.contextmanager
def _translated(resource: str, *, missing_bucket: str | None = None) -> Iterator[None]:
    """Re-raise the client's failures inside the block as dicomlab errors about ``resource``."""
    try:
        yield
    except _foreign_errors() as exc:
        error = translate_error(exc, resource=resource, missing_bucket=missing_bucket)
        raise error from safe_cause(exc)


def translate_error(
    exc: BaseException, *, resource: str, missing_bucket: str | None = None
) -> DicomlabError:
    """The dicomlab error for a Google client failure about ``resource``.

    A 404 means the object is missing, or the bucket when ``missing_bucket``
    (its ``gs://`` URI) is given; a 412 means an upload without ``overwrite``
    found an object already there. URL query strings are cut from messages.

    Examples
    --------
    >>> from google.api_core import exceptions
    >>> translate_error(exceptions.Forbidden("denied"), resource="gs://b/x.txt").status
    403
    """
    from google.api_core import exceptions as api_exceptions

    if isinstance(exc, api_exceptions.NotFound):
        if missing_bucket is not None:
            return _missing_bucket_error(missing_bucket)
        return NotFoundError(f"{resource} does not exist")
    if isinstance(exc, api_exceptions.PreconditionFailed):
        return AlreadyExistsError(
            f"{resource} already exists; pass overwrite=True to replace it or choose another name"
        )
    status = None
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        status = int(exc.code) if exc.code is not None else None
        problem = f"failed with HTTP {status}: {exc.message}"
    elif isinstance(exc, api_exceptions.RetryError):
        problem = f"failed, retries exhausted: {exc.cause or exc.message}"
    elif type(exc).__module__.startswith("google.auth"):
        problem = (
            f"found no usable Google credentials ({type(exc).__name__}: {exc}); run "
            "`gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, "
            "or pass client="
        )
    else:
        problem = f"failed: {type(exc).__name__}: {exc}"
    return RemoteError(
        f"{SERVICE} request for {resource} {_QUERY.sub('?…', problem)}",
        service=SERVICE,
        resource=resource,
        status=status,
    )
