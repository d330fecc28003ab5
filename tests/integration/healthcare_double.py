"""A local stand-in for the Cloud Healthcare API's admin calls (SPEC.md §2, §3, §5).

A stdlib ``http.server`` on 127.0.0.1 (a free port), in a thread. It answers
exactly these calls, under ``/v1/`` and ``/v1beta1/``:

- ``POST …/dicomStores/S:export`` and ``:import`` → ``{"name": …/operations/N}``;
- ``GET …/dicomStores/S`` and ``PATCH …/dicomStores/S?updateMask=streamConfigs``;
- ``GET …/operations/N`` and ``POST …/operations/N:cancel``.

Every request is checked against SPEC.md (method, path, ``Authorization``,
``Content-Type``, body fields and enums, ``tableUri`` form, import wildcards,
``updateMask``, at most 5 unique stream destinations, never ``force`` with
``writeDisposition``); anything else gets a Google-shaped error
``{"error": {"code": 400, "message": …, "status": "INVALID_ARGUMENT"}}``. The
checks are written here independently of dicomlab's own, so that a client bug
shows up as a 400.

Operations run for ``Outcome.polls`` GETs, then finish as scripted: success
(with failure counters, maybe), or an error with import ``sampleErrors``.
Every request is recorded in :attr:`HealthcareDouble.requests`.

    with HealthcareDouble() as double:
        double.add_store("projects/my-project/locations/us/datasets/d/dicomStores/s")
        double.script(Outcome(polls=3, success=80, failure=1))
        client = HealthcareClient(session, base_url=f"{double.url}/v1")
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.servers import LocalHTTPServer, Recorded, read_request

__all__ = [
    "HealthcareDouble",
    "Outcome",
    "Recorded",
    "check_export",
    "check_import",
    "check_stream_configs",
]

PROJECT = r"(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
ROOT = (
    rf"/(?P<version>v1|v1beta1)/(?P<dataset>projects/{PROJECT}/locations/[\w-]+/datasets/[\w.-]+)"
)
STORE_PATH = re.compile(ROOT + r"/dicomStores/(?P<store>[\w.-]+)(?::(?P<action>export|import))?")
OPERATION_PATH = re.compile(ROOT + r"/operations/(?P<op>\d+)(?::(?P<action>cancel))?")
TABLE_URI = re.compile(rf"bq://{PROJECT}\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+")
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?P<object>/.*)?")
WRITE_DISPOSITIONS = {
    "WRITE_DISPOSITION_UNSPECIFIED",
    "WRITE_EMPTY",
    "WRITE_TRUNCATE",
    "WRITE_APPEND",
}
TS = "1.2.840.10008.1.2"
DICOM_SYNTAXES = [TS, TS + ".1", TS + ".1.99", TS + ".5", TS + ".8.1", "*"] + [
    f"{TS}.4.{n}" for n in (50, 51, 57, 70, 80, 81, 90, 91, 110, 111, 112, 201, 202, 203)
]
MIME_TYPES = {
    *(f"application/dicom; transfer-syntax={ts}" for ts in DICOM_SYNTAXES),
    f"application/octet-stream; transfer-syntax={TS}.1",
    "application/octet-stream; transfer-syntax=*",
    f"image/jpeg; transfer-syntax={TS}.4.50",
    "image/png",
}
BQ_FIELDS = {"v1": {"tableUri", "force", "writeDisposition"}}
BQ_FIELDS["v1beta1"] = BQ_FIELDS["v1"] | {
    "schemaJson",
    "schemaFlattened",
    "changeDataCaptureConfig",
    "includeSourceStore",
}
IMPORT_FIELDS = {"v1": {"gcsSource"}, "v1beta1": {"gcsSource", "blobStorageSettings"}}
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class Invalid(Exception):
    """Answer the request with this HTTP status and Google-shaped error."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Outcome:
    """How the next operation ends: after ``polls`` GETs, with these counters or an error."""

    polls: int = 2
    success: int = 10
    failure: int = 0
    error: tuple[int, str] | None = None
    sample_errors: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class FakeOperation:
    name: str
    version: str
    method: str
    outcome: Outcome
    polls: int = 0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        out = self.outcome
        finished = self.cancelled or self.polls >= out.polls
        share = 1.0 if finished else self.polls / max(out.polls, 1)
        success, failure = int(out.success * share), int(out.failure * share)
        counter = {"success": success, "failure": failure}
        counter["pending"] = 0 if finished else out.success + out.failure - success - failure
        package = f"google.cloud.healthcare.{self.version}"
        meta: dict[str, Any] = {
            "@type": f"type.googleapis.com/{package}.OperationMetadata",
            "apiMethodName": f"{package}.dicom.DicomService.{self.method}",
            "createTime": "2026-01-02T03:04:05.678901Z",
            "logsUrl": f"https://console.cloud.google.com/logs/query/op-{self.name[-6:]}",
            # int64 as JSON strings, omitted when 0 (proto3 JSON)
            "counter": {k: str(v) for k, v in counter.items() if v},
        }
        if self.cancelled:
            meta["cancelRequested"] = True
        data: dict[str, Any] = {"name": self.name, "metadata": meta}
        if not finished:
            return data
        meta["endTime"] = "2026-01-02T03:09:05.678901Z"
        data["done"] = True
        if self.cancelled:
            data["error"] = {"code": 1, "message": "Operation was cancelled"}
        elif out.error is not None:
            data["error"] = {"code": out.error[0], "message": out.error[1]}
            if out.sample_errors:
                data["error"]["details"] = [self._details()]
        else:
            data["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        return data

    def _details(self) -> dict[str, Any]:
        samples = [
            {"resource": res, "error": {"code": code, "message": msg}}
            for res, code, msg in self.outcome.sample_errors
        ]
        kind = f"google.cloud.healthcare.{self.version}.dicom.ImportDicomDataErrorDetails"
        return {"@type": f"type.googleapis.com/{kind}", "sampleErrors": samples}


class HealthcareDouble:
    """The server; use as a context manager, or :meth:`start` and :meth:`stop`."""

    def __init__(self, *, require_auth: bool = True) -> None:
        self.require_auth = require_auth
        self.requests: list[Recorded] = []
        self.stores: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, FakeOperation] = {}
        self._outcomes: list[Outcome] = []
        self._failures: list[tuple[int, str]] = []
        self._ids = itertools.count(7_000_000_000_000_000_001)
        self._lock = threading.Lock()
        self._http = LocalHTTPServer(_handler(self))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (append ``/v1`` or ``/v1beta1``)."""
        return self._http.url

    def start(self) -> HealthcareDouble:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> HealthcareDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget stores, operations, scripts and recorded requests."""
        with self._lock:
            self.requests.clear()
            self.stores.clear()
            self.operations.clear()
            self._outcomes.clear()
            self._failures.clear()

    def add_store(self, name: str, stream_configs: list[dict[str, Any]] | None = None) -> None:
        self.stores[name] = {"name": name, "streamConfigs": list(stream_configs or [])}

    def script(self, *outcomes: Outcome) -> None:
        """How the next operations end, in order (then the default :class:`Outcome`)."""
        self._outcomes.extend(outcomes)

    def fail_next(self, status: int, message: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with this error, whatever they are."""
        self._failures.extend([(status, message)] * times)

    # -- request handling (called by the handler, under the lock) --

    def handle(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        if self._failures:
            status, message = self._failures.pop(0)
            raise Invalid(message, status)
        auth = rec.headers.get("authorization", "")
        if self.require_auth and not re.fullmatch(r"Bearer \S+", auth):
            raise Invalid("Request is missing required authentication credential.", 401)
        if rec.method in ("POST", "PATCH"):
            _check_content_type(rec)
        if match := STORE_PATH.fullmatch(rec.path):
            return self._store_call(rec, match)
        if match := OPERATION_PATH.fullmatch(rec.path):
            return self._operation_call(rec, match)
        raise Invalid(f"The requested URL {rec.path} was not found on this server.", 404)

    def _store_call(self, rec: Recorded, match: re.Match[str]) -> tuple[int, dict[str, Any]]:
        name = f"{match['dataset']}/dicomStores/{match['store']}"
        if name not in self.stores:
            raise Invalid(f"DICOM store {name} does not exist", 404)
        action, version = match["action"], match["version"]
        allowed = {"export": ("POST",), "import": ("POST",), None: ("GET", "PATCH")}[action]
        if rec.method not in allowed:
            raise Invalid(f"method {rec.method} is not allowed on {rec.path}", 405)
        if action is None and rec.method == "GET":
            _expect_query(rec, {})
            return 200, _store_json(self.stores[name])
        if action is None:
            _expect_query(rec, {"updateMask": ["streamConfigs"]})
            self.stores[name]["streamConfigs"] = check_stream_configs(rec.body, version)
            return 200, _store_json(self.stores[name])
        _expect_query(rec, {})
        if action == "export":
            method = check_export(rec.body, version)
        else:
            check_import(rec.body, version)
            method = "ImportDicomData"
        return 200, {"name": self._new_operation(match["dataset"], version, method)}

    def _new_operation(self, dataset: str, version: str, method: str) -> str:
        name = f"{dataset}/operations/{next(self._ids)}"
        outcome = self._outcomes.pop(0) if self._outcomes else Outcome()
        self.operations[name] = FakeOperation(name, version, method, outcome)
        return name

    def _operation_call(self, rec: Recorded, match: re.Match[str]) -> tuple[int, dict[str, Any]]:
        _expect_query(rec, {})
        op = self.operations.get(f"{match['dataset']}/operations/{match['op']}")
        if op is None:
            raise Invalid(f"operation {rec.path} not found", 404)
        if match["action"] == "cancel":
            if rec.method != "POST" or rec.body not in (None, {}):
                raise Invalid("cancel takes POST with an empty body")
            op.cancelled = op.cancelled or op.polls < op.outcome.polls
            return 200, {}
        if rec.method != "GET":
            raise Invalid(f"method {rec.method} is not allowed on {rec.path}", 405)
        op.polls += 1
        return 200, op.to_json()


def _store_json(store: dict[str, Any]) -> dict[str, Any]:
    # Empty repeated fields are omitted in proto3 JSON.
    return {k: v for k, v in store.items() if v}


def _check_content_type(rec: Recorded) -> None:
    kind = rec.headers.get("content-type", "")
    if rec.body is not None and not kind.startswith("application/json"):
        raise Invalid(f"Content-Type {kind!r} is not application/json")


def _expect_query(rec: Recorded, expected: dict[str, list[str]]) -> None:
    if rec.query != expected:
        raise Invalid(f"unexpected query parameters {rec.query} (expected {expected})")


def _fields(
    obj: Any, where: str, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise Invalid(f"Invalid value at '{where}': expected an object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise Invalid(
            f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at '{where}': "
            "Cannot find field."
        )
    missing = sorted(required - set(obj))
    if missing:
        raise Invalid(f"{where}.{missing[0]} is required")
    return obj


def _check_table(uri: Any, where: str) -> str:
    if not isinstance(uri, str) or len(uri) > 2000 or not TABLE_URI.fullmatch(uri):
        raise Invalid(
            f"{where}.tableUri {uri!r} must be bq://PROJECT.DATASET.TABLE "
            "(table: letters, digits and underscores)"
        )
    return uri


def _check_bigquery(dest: Any, version: str, where: str) -> None:
    _fields(dest, where, BQ_FIELDS[version], {"tableUri"})
    _check_table(dest["tableUri"], where)
    if "force" in dest and "writeDisposition" in dest:
        raise Invalid(f"{where}: set force or writeDisposition, not both")
    if "force" in dest and not isinstance(dest["force"], bool):
        raise Invalid(f"{where}.force must be a boolean")
    if "writeDisposition" in dest and dest["writeDisposition"] not in WRITE_DISPOSITIONS:
        raise Invalid(f"Invalid value at '{where}.write_disposition': {dest['writeDisposition']}")


def _check_gcs_uri(uri: Any, where: str, *, needs_object: bool) -> str:
    match = GCS_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None or (needs_object and len(match["object"] or "") <= 1):
        raise Invalid(f"{where} {uri!r} is not a valid Cloud Storage URI")
    return (match["object"] or "")[1:]


def check_export(body: Any, version: str) -> str:
    """Check an ExportDicomDataRequest; the apiMethodName suffix of the operation."""
    _fields(body, "", {"bigqueryDestination", "gcsDestination", "filterConfig"})
    destinations = [k for k in ("bigqueryDestination", "gcsDestination") if k in body]
    if len(destinations) != 1:
        raise Invalid(f"exactly one destination is required, got {destinations}")
    if "filterConfig" in body:
        config = _fields(body["filterConfig"], "filter_config", {"resourcePathsGcsUri"})
        uri = config.get("resourcePathsGcsUri")
        if any(c in _check_gcs_uri(uri, "resourcePathsGcsUri", needs_object=True) for c in "*?"):
            raise Invalid(f"resourcePathsGcsUri {uri!r} must name one file")
    if "bigqueryDestination" in body:
        _check_bigquery(body["bigqueryDestination"], version, "bigquery_destination")
        return "ExportDicomData_bq"  # S0, the newest page (SPEC open question 7)
    dest = _fields(
        body["gcsDestination"], "gcs_destination", {"uriPrefix", "mimeType"}, {"uriPrefix"}
    )
    prefix = _check_gcs_uri(dest["uriPrefix"], "uriPrefix", needs_object=False)
    if any(c in prefix for c in "*?"):
        raise Invalid(f"uriPrefix {dest['uriPrefix']!r} must not contain wildcards")
    if "mimeType" in dest and dest["mimeType"] not in MIME_TYPES:
        raise Invalid(f"mimeType {dest['mimeType']!r} is not supported")
    return "ExportDicomData"


def check_import(body: Any, version: str) -> None:
    """Check an ImportDicomDataRequest, with the wildcard rules of SPEC §2."""
    _fields(body, "", IMPORT_FIELDS[version], {"gcsSource"})
    uri = _fields(body["gcsSource"], "gcs_source", {"uri"}, {"uri"})["uri"]
    path = _check_gcs_uri(uri, "gcsSource.uri", needs_object=True)
    if path.endswith("/") or "[" in path or "]" in path:
        raise Invalid(f"gcsSource.uri {uri!r} must name files with *, ? or a trailing **")
    if "**" in path:
        head, _, tail = path.partition("**")
        extension_only = tail == "" or (tail[0] == "." and not set(tail) & set("*?/"))
        if set(head) & set("*?") or not extension_only:
            raise Invalid(f"gcsSource.uri {uri!r}: ** must end the path, with no other wildcard")


def check_stream_configs(body: Any, version: str) -> list[dict[str, Any]]:
    """Check a DicomStore patch of streamConfigs: ≤ 5 unique BigQuery destinations."""
    configs = _fields(body, "", {"streamConfigs"}, {"streamConfigs"})["streamConfigs"]
    if not isinstance(configs, list) or len(configs) > 5:
        raise Invalid("streamConfigs must be a list of at most 5 destinations")
    tables = []
    for i, config in enumerate(configs):
        where = f"stream_configs[{i}]"
        dest = _fields(config, where, {"bigqueryDestination"}, {"bigqueryDestination"})
        _check_bigquery(dest["bigqueryDestination"], version, f"{where}.bigquery_destination")
        tables.append(dest["bigqueryDestination"]["tableUri"])
    if len(set(tables)) != len(tables):
        raise Invalid(f"stream destinations must be unique: {tables}")
    return configs


def _handler(double: HealthcareDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            rec, raw = read_request(self)
            with double._lock:
                double.requests.append(rec)
                try:
                    rec.body = json.loads(raw) if raw else None
                except ValueError:
                    status, answer = _error(Invalid("Invalid JSON payload received."))
                else:
                    try:
                        status, answer = double.handle(rec)
                    except Invalid as exc:
                        status, answer = _error(exc)
                rec.status = status
            self._answer(status, answer)

        def _answer(self, status: int, answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _error(exc: Invalid) -> tuple[int, dict[str, Any]]:
    name = STATUS_NAMES.get(exc.status, "UNKNOWN")
    return exc.status, {"error": {"code": exc.status, "message": str(exc), "status": name}}
