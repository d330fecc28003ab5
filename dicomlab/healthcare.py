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

Everything here exists in ``v1``, the default. ``v1beta1`` adds only BigQuery
schema options not exposed here; ``filterConfig`` is sent on whichever version
the client uses (SPEC §2 and open question 4: the newest docs send it on v1),
so a project whose v1 refuses filters can use ``base_url=".../v1beta1"``.

>>> build_bigquery_export("bq://my-project.imaging.t", write_disposition="write-append")
{'bigqueryDestination': {'tableUri': 'bq://my-project.imaging.t',
                         'writeDisposition': 'WRITE_APPEND'}}
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dicomlab.errors import (
    DicomlabError,
    InvalidIdentifierError,
    InvalidResourceError,
    NotFoundError,
    RemoteError,
)
from dicomlab.operations import Operation
from dicomlab.resources import BigQueryTable, GcsUri, HealthcareDicomStore

if TYPE_CHECKING:
    import requests

__all__ = [
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
WRITE_DISPOSITIONS = ("WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND")
MAX_STREAM_DESTINATIONS = 5
_TS = "1.2.840.10008.1.2"
# gcsDestination.mimeType: media type -> accepted transfer-syntax parameter (None: no parameter).
MIME_TYPES: dict[str, frozenset[str | None]] = {
    "application/dicom": frozenset(
        {_TS, f"{_TS}.1", f"{_TS}.1.99", f"{_TS}.5", f"{_TS}.8.1", "*"}
        | {f"{_TS}.4.{n}" for n in (50, 51, 57, 70, 80, 81, 90, 91, 110, 111, 112, 201, 202, 203)}
    ),
    "application/octet-stream": frozenset({f"{_TS}.1", "*"}),
    "image/jpeg": frozenset({f"{_TS}.4.50"}),
    "image/png": frozenset({None}),
}
_BASE_RE = re.compile(r"(?P<root>https?://[^/?#]+(?:/[^?#]*?)?)/(?P<version>v1|v1beta1)/?")
_OPERATION_RE = re.compile(
    r"projects/[\w-]+(?::[\w-]+)?/locations/[\w-]+/datasets/[\w.-]+/operations/[\w.-]+"
)
# ``**`` only at the end, no other wildcard, optionally followed by an extension.
_RECURSIVE_RE = re.compile(r"[^*?]*\*\*(?:\.[^/*?]+)?")
_HINTS = {
    401: "check your Google credentials (gcloud auth application-default login)",
    403: "the caller, or the Healthcare service agent for exports and imports, lacks a role",
    429: "quota exceeded; try again later",
}
Store = HealthcareDicomStore | str
Table = BigQueryTable | str
Gcs = GcsUri | str


class InvalidRequestError(DicomlabError, ValueError):
    """Options that cannot go together, or a request the API would refuse."""

    def __init__(self, message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.value = value


class CredentialsError(DicomlabError, RuntimeError):
    """No Google Application Default Credentials were found."""


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


@contextlib.contextmanager
def _translated(resource: str, session: Any) -> Iterator[None]:
    """Turn ``requests`` failures inside the block into dicomlab errors about ``resource``."""
    import requests

    try:
        yield
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        name, message = _google_error(exc.response)
        hint = f"; {_HINTS[status]}" if status in _HINTS else ""
        text = _redact(f"{message or exc}{hint}", _secrets(session))
        if status == 404:
            raise NotFoundError(f"{resource} was not found ({SERVICE}): {text}") from exc
        raise RemoteError(
            f"{SERVICE} request for {resource} failed with HTTP {status}"
            f"{f' {name}' if name else ''}: {text}",
            service=SERVICE,
            resource=resource,
            status=status,
        ) from exc
    except requests.RequestException as exc:
        text = _redact(f"{type(exc).__name__}: {exc}", _secrets(session))
        raise RemoteError(
            f"{SERVICE} request for {resource} failed: {text}", service=SERVICE, resource=resource
        ) from exc


def _split_mime(mime_type: object) -> tuple[str, str | None]:
    """``(media type, transfer syntax or None)``; ``("", None)`` when unreadable."""
    if not isinstance(mime_type, str):
        return "", None
    kind, _, param = mime_type.partition(";")
    key, eq, value = param.partition("=")
    if not param.strip():
        return kind.strip().lower(), None
    if key.strip().lower() != "transfer-syntax" or not eq:
        return "", None
    return kind.strip().lower(), value.strip().strip('"') or None


def _syntaxes(kind: str) -> str:
    """The transfer syntaxes ``kind`` accepts, in UID order, ``*`` last."""
    found = [s for s in MIME_TYPES[kind] if s not in (None, "*")]
    found.sort(key=lambda uid: [int(part) for part in str(uid).split(".")])
    return ", ".join([*map(str, found), *(["*"] if "*" in MIME_TYPES[kind] else [])])


def parse_mime_type(mime_type: object) -> str:
    """The canonical form of a ``gcsDestination.mimeType`` the API supports, else raise.

    >>> parse_mime_type("application/dicom;transfer-syntax=1.2.840.10008.1.2.4.90")
    'application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90'
    >>> parse_mime_type("image/png")
    'image/png'
    """
    kind, syntax = _split_mime(mime_type)
    if kind in MIME_TYPES and None not in MIME_TYPES[kind] and syntax not in MIME_TYPES[kind]:
        raise InvalidIdentifierError(
            f"mime type {mime_type!r}: the Cloud Storage export writes {kind} only with "
            f"a transfer-syntax of: {_syntaxes(kind)}",
            value=mime_type,
        )
    if syntax not in MIME_TYPES.get(kind, ()):
        raise InvalidIdentifierError(
            f"mime type {mime_type!r} is not supported by the Cloud Storage export; use "
            "'application/dicom; transfer-syntax=UID' (or =* to keep the stored encoding), "
            "'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1' (or =*), "
            "'image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50' or 'image/png'",
            value=mime_type,
        )
    return kind if syntax is None else f"{kind}; transfer-syntax={syntax}"


def _store(store: Store) -> HealthcareDicomStore:
    return store if isinstance(store, HealthcareDicomStore) else HealthcareDicomStore.parse(store)


def _table(table: Table) -> BigQueryTable:
    return table if isinstance(table, BigQueryTable) else BigQueryTable.parse(table)


def _gcs(uri: Gcs, what: str, problem: Callable[[str], str]) -> GcsUri:
    """Parse ``uri``; raise naming it (as given) if ``problem(object name)`` says why not."""
    parsed = uri if isinstance(uri, GcsUri) else GcsUri.parse(uri)
    reason = problem(parsed.object_name)
    if reason:
        shown = uri if isinstance(uri, str) else str(uri)
        raise InvalidResourceError(f"{what} {shown!r} {reason}", value=shown)
    return parsed


def _no_wildcard(name: str) -> str:
    if any(c in name for c in "*?[]"):
        return "contains a wildcard (* ? [ ]), which only an import source may use"
    return ""


def _one_file(name: str) -> str:
    if not name or name.endswith("/"):
        return "names a bucket or folder, not a file"
    return _no_wildcard(name)


def _import_problem(name: str) -> str:
    if not name or name.endswith("/"):
        return "names a bucket or folder; name files, e.g. gs://BUCKET/DIR/** or …/*.dcm"
    if "[" in name or "]" in name:
        return "uses [ ], which the import does not support; use *, ? or a trailing **"
    if "**" in name and _RECURSIVE_RE.fullmatch(name) is None:
        return (
            "uses ** other than at the very end with no other wildcard "
            "(optionally plus an extension, e.g. gs://BUCKET/DIR/**.dcm)"
        )
    return ""


def _write_disposition(value: object) -> str:
    text = value.strip().upper().replace("-", "_") if isinstance(value, str) else ""
    if text not in WRITE_DISPOSITIONS:
        raise InvalidIdentifierError(
            f"write disposition {value!r} is not valid; use one of {', '.join(WRITE_DISPOSITIONS)}",
            value=value,
        )
    return text


def _with_filter(body: dict[str, Any], filter_uri: Gcs | None) -> dict[str, Any]:
    if filter_uri is not None:
        uri = _gcs(filter_uri, "filter file", _one_file)
        body["filterConfig"] = {"resourcePathsGcsUri": str(uri)}
    return body


def build_bigquery_export(
    table_uri: Table,
    *,
    write_disposition: str | None = None,
    force: bool | None = None,
    filter_uri: Gcs | None = None,
) -> dict[str, Any]:
    """The ``ExportDicomDataRequest`` body for a BigQuery export (pure; raises on bad input).

    ``write_disposition`` (``WRITE_EMPTY``, ``WRITE_TRUNCATE``, ``WRITE_APPEND``;
    gcloud's ``write-truncate`` form also works) and ``force`` exclude each
    other. The table may be in another project than the store.

    >>> body = build_bigquery_export("bq://p-123456.ds.t", force=True, filter_uri="gs://bkt/f")
    >>> body["bigqueryDestination"], body["filterConfig"]
    ({'tableUri': 'bq://p-123456.ds.t', 'force': True}, {'resourcePathsGcsUri': 'gs://bkt/f'})
    """
    destination: dict[str, Any] = {"tableUri": str(_table(table_uri))}
    if write_disposition is not None and force is not None:
        raise InvalidRequestError(
            f"give write_disposition ({write_disposition!r}) or force ({force!r}), not both: "
            "the API ignores force when both are set",
            value=(write_disposition, force),
        )
    if write_disposition is not None:
        destination["writeDisposition"] = _write_disposition(write_disposition)
    if force is not None:
        if not isinstance(force, bool):
            raise InvalidRequestError(f"force must be True or False, not {force!r}", value=force)
        destination["force"] = force
    return _with_filter({"bigqueryDestination": destination}, filter_uri)


def build_gcs_export(
    uri_prefix: Gcs, *, mime_type: str | None = None, filter_uri: Gcs | None = None
) -> dict[str, Any]:
    """The ``ExportDicomDataRequest`` body for a Cloud Storage export (pure).

    Unset ``mime_type`` exports the bytes as uploaded; see :data:`MIME_TYPES`.

    >>> jpeg = "image/jpeg;transfer-syntax=1.2.840.10008.1.2.4.50"
    >>> build_gcs_export("gs://my-bucket/o", mime_type=jpeg)
    {'gcsDestination': {'uriPrefix': 'gs://my-bucket/o',
                        'mimeType': 'image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50'}}
    """
    destination: dict[str, Any] = {
        "uriPrefix": str(_gcs(uri_prefix, "export prefix", _no_wildcard))
    }
    if mime_type is not None:
        destination["mimeType"] = parse_mime_type(mime_type)
    return _with_filter({"gcsDestination": destination}, filter_uri)


def build_gcs_import(uri: Gcs) -> dict[str, Any]:
    """The ``ImportDicomDataRequest`` body (pure): ``*`` and ``?`` anywhere in the object
    part, ``**`` only at the end with no other wildcard, optionally plus an extension.

    >>> build_gcs_import("gs://my-bucket/dir/**.dcm")
    {'gcsSource': {'uri': 'gs://my-bucket/dir/**.dcm'}}
    """
    parsed = _gcs(uri, "import source", _import_problem)
    return {"gcsSource": {"uri": str(parsed)}}


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
    ) -> Operation:
        """Start exporting the store's metadata to a BigQuery table (``dicomStores.export``).

        See :func:`build_bigquery_export` for the options; ``filter_uri`` names
        a filter file (:class:`dicomlab.FilterFile`) in Cloud Storage.

        >>> client.export_to_bigquery(store, "bq://p.ds.t", filter_uri="gs://b/f")  # doctest: +SKIP
        <Operation projects/p/locations/us/datasets/d/operations/1 ? RUNNING ...>
        """
        body = build_bigquery_export(
            table_uri, write_disposition=write_disposition, force=force, filter_uri=filter_uri
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
    ``GOOGLE_APPLICATION_CREDENTIALS``; needs ``pip install dicomlab[gcp]``.

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
