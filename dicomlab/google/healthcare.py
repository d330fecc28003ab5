"""Admin operations of the Cloud Healthcare API on a DICOM store (SPEC.md §2, §3, §5).

Export to BigQuery or Cloud Storage, import from Cloud Storage, BigQuery
streaming destinations and long-running operations, over one
``requests.Session`` (in production an ``AuthorizedSession`` from
:func:`from_default_credentials`). Request bodies are built by pure
``build_*`` functions that check every value before anything is sent; every
HTTP or connection failure is translated in one place (:func:`_translated`)
into :class:`~dicomlab.errors.RemoteError` (``service="Cloud Healthcare API"``)
or :class:`~dicomlab.errors.NotFoundError`, with Google's message and never a
token.

Everything here exists in ``v1``, the default, including the BigQuery schema
options (``schema``, ``include_source_store``); ``filterConfig`` is sent on
whichever version the client uses (it is in v1's API description too), and
``base_url=".../v1beta1"`` works the same.

>>> build_bigquery_export("bq://my-project.imaging.t", write_disposition="write-append")
{'bigqueryDestination': {'tableUri': 'bq://my-project.imaging.t',
                         'writeDisposition': 'WRITE_APPEND'}}
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dicomlab.core.resources import HEALTHCARE_DATASET_PATTERN, BigQueryTable, HealthcareDicomStore
from dicomlab.errors import (
    CredentialsError,
    InvalidIdentifierError,
    InvalidRequestError,
    InvalidResourceError,
    NotFoundError,
    RemoteError,
)
from dicomlab.google.operations import Operation
from dicomlab.google.request_bodies import (
    BIGQUERY_SCHEMAS,
    MIME_TYPES,
    WRITE_DISPOSITIONS,
    Gcs,
    Store,
    Table,
    _store,
    _table,
    build_bigquery_export,
    build_gcs_export,
    build_gcs_import,
    parse_mime_type,
)
from dicomlab.plumbing.http_errors import ErrorHook, translated

if TYPE_CHECKING:
    import requests

__all__ = [
    "BIGQUERY_SCHEMAS",
    "DEFAULT_BASE_URL",
    "MIME_TYPES",
    "WRITE_DISPOSITIONS",
    "CredentialsError",
    "HealthcareClient",
    "InvalidRequestError",
    "build_bigquery_export",
    "build_gcs_export",
    "build_gcs_import",
    "from_default_credentials",
    "parse_mime_type",
]

logger = logging.getLogger(__name__)
SERVICE = "Cloud Healthcare API"
DEFAULT_BASE_URL = "https://healthcare.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MAX_STREAM_DESTINATIONS = 5
_BASE_RE = re.compile(r"(?P<root>https?://[^/?#]+(?:/[^?#]*?)?)/(?P<version>v1|v1beta1)/?")
_OPERATION_RE = re.compile(rf"{HEALTHCARE_DATASET_PATTERN}/operations/[\w.-]+")
_HINTS = {
    401: "check your Google credentials (gcloud auth application-default login)",
    403: "the caller, or the Healthcare service agent for exports and imports, lacks a role",
    429: "quota exceeded; try again later",
}


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    text = re.sub(r"(?i)(bearer\s+)[\w.~+/=-]+", r"\1[redacted]", text)
    return re.sub(r"(?i)(access_token=)[^&\s]+", r"\1[redacted]", text)


def _secrets(session: Any) -> list[str]:
    """The session's bearer token(s), so that no message ever repeats them."""
    header = str(session.headers.get("Authorization", "")) if session is not None else ""
    token = getattr(getattr(session, "credentials", None), "token", None)
    found = [header, header.partition(" ")[2], str(token) if token else ""]
    return [s for s in found if len(s) >= 8]


def _google_error(response: requests.Response | None) -> tuple[str, str]:
    """``(status name, message)`` from Google's ``{"error": {...}}`` body, or the raw text."""
    if response is None:
        return "", ""
    try:
        error = response.json().get("error", {})
        return str(error.get("status", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        return "", response.text[:300].strip()


def _describe(response: requests.Response | None, exc: Exception) -> tuple[str, str]:
    """``(" STATUS_NAME", message and a hint)`` from Google's error body."""
    name, message = _google_error(response)
    status = response.status_code if response is not None else None
    hint = f"; {_HINTS[status]}" if status in _HINTS else ""
    return (f" {name}" if name else ""), f"{message or exc}{hint}"


def _translated(resource: str, session: Any) -> contextlib.AbstractContextManager[None]:
    """Turn ``requests`` failures inside the block into dicomlab errors about ``resource``.

    Messages never repeat the session's token (:func:`_secrets`).
    """
    hook = ErrorHook(
        SERVICE,
        describe=_describe,
        redact=lambda text: _redact(text, _secrets(session)),
    )
    return translated(resource, hook)


def _operation_name(name: object) -> str:
    text = re.sub(r"^https?://[^/]+/v1(beta1)?/", "", name) if isinstance(name, str) else ""
    if _OPERATION_RE.fullmatch(text) is None:
        raise InvalidResourceError(
            f"{name!r} is not an operation name; expected "
            "projects/PROJECT/locations/LOCATION/datasets/DATASET/operations/ID",
            value=name,
        )
    return text


def _destination(config: Any) -> str:
    """A stream config's table URI, canonical when it parses."""
    uri = str((config.get("bigqueryDestination") or {}).get("tableUri", ""))
    try:
        return str(BigQueryTable.parse(uri))
    except InvalidIdentifierError:
        return uri


class HealthcareClient:
    """The Cloud Healthcare API's admin calls on DICOM stores, over ``session``.

    Parameters
    ----------
    session
        A ``requests.Session`` that authenticates (``AuthorizedSession`` in
        production, see :func:`from_default_credentials`).
    base_url
        The API root with its version: ``https://healthcare.googleapis.com/v1``
        (default) or ``…/v1beta1``; a test double's URL in tests.
    timeout
        ``(connect, read)`` seconds for each request.

    Examples
    --------
    >>> client = from_default_credentials()                                    # doctest: +SKIP
    >>> store = "projects/p/locations/us/datasets/d/dicomStores/s"
    >>> client.export_to_bigquery(store, "bq://p.imaging.dicom_metadata",      # doctest: +SKIP
    ...                           write_disposition="WRITE_TRUNCATE").wait()
    """

    def __init__(
        self,
        session: requests.Session,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = (10, 60),
    ) -> None:
        match = _BASE_RE.fullmatch(base_url) if isinstance(base_url, str) else None
        if match is None:
            raise InvalidResourceError(
                f"base URL {base_url!r} is not valid; expected e.g. {DEFAULT_BASE_URL!r} "
                "(ending in /v1 or /v1beta1)",
                value=base_url,
            )
        self._session = session
        self.base_url = f"{match['root']}/{match['version']}"
        self.version = match["version"]
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HealthcareClient({self.base_url!r})"

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: str
    ) -> dict[str, Any]:
        """Send one request to ``base_url/path``; the answer's JSON (``{}`` when empty)."""
        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else {}
        with _translated(path, self._session):
            response = self._session.request(
                method,
                f"{self.base_url}/{path}",
                params=params or None,
                data=None if body is None else json.dumps(body).encode("utf-8"),
                headers=headers,
                timeout=self.timeout,
            )
            response.raise_for_status()
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RemoteError(
                f"{SERVICE} answered {method} {path} with something other than a JSON object",
                service=SERVICE,
                resource=path,
                status=response.status_code,
            )
        return data

    def _start(self, store: Store, action: str, body: dict[str, Any]) -> Operation:
        data = self._call("POST", f"{_store(store)}:{action}", body)
        logger.info("started %s of %s: %s", action, _store(store), data.get("name"))
        return Operation(data, api=self)

    def export_to_bigquery(
        self,
        store: Store,
        table_uri: Table,
        *,
        write_disposition: str | None = None,
        force: bool | None = None,
        filter_uri: Gcs | None = None,
        schema: str | None = None,
        include_source_store: bool | None = None,
    ) -> Operation:
        """Start exporting the store's metadata to a BigQuery table (``dicomStores.export``).

        See :func:`build_bigquery_export` for the options; ``filter_uri`` names
        a filter file (:class:`dicomlab.FilterFile`) in Cloud Storage;
        ``schema="json"`` puts all tags in one JSON column (``"flattened"``,
        one column per tag, is the default); ``include_source_store=True``
        adds the store's name as a column.

        >>> client.export_to_bigquery(store, "bq://p.ds.t", filter_uri="gs://b/f")  # doctest: +SKIP
        <Operation projects/p/locations/us/datasets/d/operations/1 ? RUNNING ...>
        """
        body = build_bigquery_export(
            table_uri,
            write_disposition=write_disposition,
            force=force,
            filter_uri=filter_uri,
            schema=schema,
            include_source_store=include_source_store,
        )
        return self._start(_store(store), "export", body)

    def export_to_gcs(
        self,
        store: Store,
        uri_prefix: Gcs,
        *,
        mime_type: str | None = None,
        filter_uri: Gcs | None = None,
    ) -> Operation:
        """Start exporting instances to ``uri_prefix/{study}/{series}/{instance}.{ext}``.

        >>> client.export_to_gcs(store, "gs://b/out", mime_type="image/png")  # doctest: +SKIP
        """
        body = build_gcs_export(uri_prefix, mime_type=mime_type, filter_uri=filter_uri)
        return self._start(_store(store), "export", body)

    def import_from_gcs(self, store: Store, uri: Gcs) -> Operation:
        """Start importing DICOM files matching ``uri`` (see :func:`build_gcs_import`).

        >>> client.import_from_gcs(store, "gs://b/cohort/**.dcm").wait()     # doctest: +SKIP
        """
        return self._start(_store(store), "import", build_gcs_import(uri))

    def get_stream_configs(self, store: Store) -> list[dict[str, Any]]:
        """The store's ``streamConfigs`` (``[{"bigqueryDestination": {"tableUri": …}}]``).

        >>> client.get_stream_configs(store)                                # doctest: +SKIP
        [{'bigqueryDestination': {'tableUri': 'bq://p.ds.stream'}}]
        """
        configs = self._call("GET", str(_store(store))).get("streamConfigs") or []
        return [dict(c) for c in configs if isinstance(c, dict)]

    def add_stream_destination(self, store: Store, table_uri: Table) -> list[dict[str, Any]]:
        """Stream the store's changes into ``table_uri`` too; the new ``streamConfigs``.

        Reads the configs and writes them back with the new one (``PATCH
        ?updateMask=streamConfigs``). A table already streamed to is left as is;
        a sixth destination is refused before anything is sent (the limit is 5).

        >>> client.add_stream_destination(store, "bq://p.ds.stream")        # doctest: +SKIP
        """
        name, table = _store(store), str(_table(table_uri))
        configs = self.get_stream_configs(name)
        current = [_destination(c) for c in configs]
        if table in current:
            logger.info("%s already streams to %s", name, table)
            return configs
        if len(configs) >= MAX_STREAM_DESTINATIONS:
            raise InvalidRequestError(
                f"cannot stream {name} to {table}: it already streams to "
                f"{MAX_STREAM_DESTINATIONS} tables ({', '.join(current)}), the API's limit; "
                "remove one first",
                value=table,
            )
        return self._patch_streams(name, [*configs, {"bigqueryDestination": {"tableUri": table}}])

    def remove_stream_destination(self, store: Store, table_uri: Table) -> list[dict[str, Any]]:
        """Stop streaming the store's changes into ``table_uri``; the new ``streamConfigs``.

        >>> client.remove_stream_destination(store, "bq://p.ds.stream")     # doctest: +SKIP
        []
        """
        name, table = _store(store), str(_table(table_uri))
        configs = self.get_stream_configs(name)
        kept = [c for c in configs if _destination(c) != table]
        if len(kept) == len(configs):
            current = ", ".join(_destination(c) for c in configs) or "none"
            raise NotFoundError(f"{name} does not stream to {table} (it streams to: {current})")
        return self._patch_streams(name, kept)

    def _patch_streams(
        self, store: HealthcareDicomStore, configs: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        body = {"streamConfigs": configs}
        updated = self._call("PATCH", str(store), body, updateMask="streamConfigs")
        return [dict(c) for c in updated.get("streamConfigs") or []]

    def fetch_operation(self, name: str) -> dict[str, Any]:
        """An operation's raw JSON (``operations.get``)."""
        return self._call("GET", _operation_name(name))

    def get_operation(self, name: str) -> Operation:
        """The operation called ``name``, e.g. to wait again after a timeout.

        >>> name = "projects/p/locations/us/datasets/d/operations/1"
        >>> client.get_operation(name).wait()                               # doctest: +SKIP
        """
        return Operation(self.fetch_operation(name), api=self)

    def cancel_operation(self, name: str) -> None:
        """Ask the API to cancel an operation (``operations.cancel``); it stops asynchronously."""
        self._call("POST", f"{_operation_name(name)}:cancel", {})


def from_default_credentials(
    *, base_url: str = DEFAULT_BASE_URL, timeout: float | tuple[float, float] = (10, 60)
) -> HealthcareClient:
    """A client authenticated with Application Default Credentials (SPEC §5).

    Set them up with ``gcloud auth application-default login`` or
    ``GOOGLE_APPLICATION_CREDENTIALS`` (``google-auth`` is installed with dicomlab).

    >>> client = from_default_credentials()                                 # doctest: +SKIP
    """
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    from google.auth.transport.requests import AuthorizedSession

    # AuthorizedSession is an untyped requests.Session subclass.
    make_session: Callable[..., requests.Session] = AuthorizedSession
    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except DefaultCredentialsError as exc:
        raise CredentialsError(
            "no Google Application Default Credentials found; run "
            "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from exc
    return HealthcareClient(make_session(credentials), base_url=base_url, timeout=timeout)
