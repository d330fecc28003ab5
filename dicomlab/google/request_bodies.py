"""Cloud Healthcare API request bodies, built and checked without I/O (SPEC.md §2).

Every value is checked before a request is sent: table URIs (letters, digits
and underscores in the table name), ``gs://`` URIs and import wildcards
(``*``, ``?``, and ``**`` only at the end with no other wildcard), write
dispositions (never together with ``force``), BigQuery table schemas and
export media types.

>>> build_gcs_import("gs://my-bucket/dicom/**.dcm")
{'gcsSource': {'uri': 'gs://my-bucket/dicom/**.dcm'}}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dicomlab.core.resources import BigQueryTable, GcsUri, HealthcareDicomStore
from dicomlab.core.validation import WRITE_DISPOSITIONS, validate_flag
from dicomlab.errors import InvalidIdentifierError, InvalidRequestError, InvalidResourceError

__all__ = [
    "BIGQUERY_SCHEMAS",
    "MIME_TYPES",
    "WRITE_DISPOSITIONS",
    "build_bigquery_export",
    "build_gcs_export",
    "build_gcs_import",
    "parse_mime_type",
]

# ``schema`` argument -> the bigqueryDestination field that selects it (an empty message).
BIGQUERY_SCHEMAS = {"flattened": "schemaFlattened", "json": "schemaJson"}
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
# ``**`` only at the end, no other wildcard, optionally followed by an extension.
_RECURSIVE_RE = re.compile(r"[^*?]*\*\*(?:\.[^/*?]+)?")
Store = HealthcareDicomStore | str
Table = BigQueryTable | str
Gcs = GcsUri | str


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


def _schema(value: object) -> str:
    if not isinstance(value, str) or value not in BIGQUERY_SCHEMAS:
        raise InvalidIdentifierError(
            f"BigQuery schema {value!r} is not one the export writes; use 'flattened' "
            "(one column per DICOM tag, the default) or 'json' (all tags in one JSON column)",
            value=value,
        )
    return BIGQUERY_SCHEMAS[value]


def build_bigquery_export(
    table_uri: Table,
    *,
    write_disposition: str | None = None,
    force: bool | None = None,
    filter_uri: Gcs | None = None,
    schema: str | None = None,
    include_source_store: bool | None = None,
) -> dict[str, Any]:
    """The ``ExportDicomDataRequest`` body for a BigQuery export (pure; raises on bad input).

    ``write_disposition`` (``WRITE_EMPTY``, ``WRITE_TRUNCATE``, ``WRITE_APPEND``;
    gcloud's ``write-truncate`` form also works) and ``force`` exclude each
    other. The table may be in another project than the store.

    ``schema`` (Google's reference, ``DicomBigQueryDestination``):
    ``"flattened"`` (``schemaFlattened``) gives one column per DICOM tag, the
    schema dicomlab's canned queries read and Google's default when unset;
    ``"json"`` (``schemaJson``) keeps ``StudyInstanceUID``,
    ``SeriesInstanceUID`` and ``SOPInstanceUID`` as columns and puts every
    tag in one JSON column ``Metadata`` (with ``DroppedTags``, ``StorageClass``,
    ``LastUpdated``, ``Type`` and storage sizes), which never meets BigQuery's
    column limit however varied the store. ``include_source_store=True`` adds
    the store's name as a column, so that exports of several stores appended to
    one table stay apart.

    >>> body = build_bigquery_export("bq://p-123456.ds.t", force=True, filter_uri="gs://bkt/f")
    >>> body["bigqueryDestination"], body["filterConfig"]
    ({'tableUri': 'bq://p-123456.ds.t', 'force': True}, {'resourcePathsGcsUri': 'gs://bkt/f'})
    >>> build_bigquery_export("bq://p-123456.ds.t", schema="json", include_source_store=True)
    {'bigqueryDestination': {'tableUri': 'bq://p-123456.ds.t', 'schemaJson': {},
                             'includeSourceStore': True}}
    """
    destination: dict[str, Any] = {"tableUri": str(_table(table_uri))}
    if schema is not None:
        destination[_schema(schema)] = {}
    if include_source_store is not None:
        destination["includeSourceStore"] = validate_flag(
            include_source_store, "include_source_store"
        )
    if write_disposition is not None and force is not None:
        raise InvalidRequestError(
            f"give write_disposition ({write_disposition!r}) or force ({force!r}), not both: "
            "the API ignores force when both are set",
            value=(write_disposition, force),
        )
    if write_disposition is not None:
        destination["writeDisposition"] = _write_disposition(write_disposition)
    if force is not None:
        destination["force"] = validate_flag(force, "force")
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
