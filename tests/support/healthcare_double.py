"""A local stand-in for the Cloud Healthcare API's admin calls (SPEC.md §2, §3, §5).

A stdlib ``http.server`` on 127.0.0.1 (a free port), in a thread. It answers
exactly these calls, under ``/v1/`` and ``/v1beta1/``:

- ``POST …/dicomStores/S:export`` and ``:import`` → ``{"name": …/operations/N}``;
- ``GET …/dicomStores/S`` and ``PATCH …/dicomStores/S?updateMask=streamConfigs``;
- ``GET …/operations/N`` and ``POST …/operations/N:cancel``.

Every request is first checked against Google's own description of the API,
``healthcare.v1.json`` (or ``healthcare.v1beta1.json``) from
``google-api-python-client`` (:mod:`tests.support.discovery`): path and
method, query parameters (the standard ones too: ``fields``, ``prettyPrint``,
``alt``, ``$.xgafv``, ``quotaUser``), and the body recursively, read as proto3
JSON (snake_case names, enums by number, int64 as text). Then what only the
descriptions' prose says: ``Authorization``, ``Content-Type``, one export
destination, the ``tableUri`` form, the export media types (read from the
``mimeType`` description), import wildcards, ``updateMask``, at most 5 unique
stream destinations. ``force`` with ``writeDisposition`` is accepted and
``force`` ignored, as documented. Anything refused gets Google's error shape
``{"error": {"code": 400, "message": …, "status": "INVALID_ARGUMENT"}}``; a
described call the double does not model gets 501 ``UNIMPLEMENTED``, an
undescribed path or method 404 ``NOT_FOUND``. Every answer is checked against
the response schema (:class:`~tests.support.discovery.ResponseMismatch`
when the double is wrong) and cut to the ``fields`` mask. The checks are
written here independently of dicomlab's own, so that a client bug shows up as
a 400.

The API text says a BigQuery export must stay in the store's project; the
vendor pages (SPEC §2) document cross-project export given IAM in the
destination project. The double follows the vendor pages: any project's table.

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

from tests.support.discovery import (
    RPC_STATUS,
    ApiCall,
    DiscoveryApi,
    DiscoveryError,
    ResponseMismatch,
)
from tests.support.servers import APIDouble, JSONHandler, LocalHTTPServer, Recorded, read_request

__all__ = [
    "HealthcareDouble",
    "Outcome",
    "Recorded",
    "check_export",
    "check_import",
    "check_stream_configs",
]

PROJECT = r"(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
APIS = {version: DiscoveryApi(f"healthcare.{version}") for version in ("v1", "v1beta1")}
METHODS = "healthcare.projects.locations.datasets."
# Any project's table: the vendor pages allow cross-project export (see the module docstring).
TABLE_URI = re.compile(rf"bq://{PROJECT}\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+")
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?P<object>/.*)?")
MIME_DOC = APIS["v1"].schemas["GoogleCloudHealthcareV1DicomGcsDestination"]
# The export media types, as the mimeType description lists them.
MIME_TYPES = set(
    re.findall(
        r"(?:application|image)/[\w.+-]+(?:; transfer-syntax=(?:[\d.]+\d|\*))?",
        MIME_DOC["properties"]["mimeType"]["description"].split("The following extensions")[0],
    )
)


class Invalid(Exception):
    """Answer the request with this HTTP status and Google-shaped error."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Outcome:
    """How the next operation ends: after ``polls`` GETs, with these counters or an error.

    ``response``: the full name of the success message; by default the method's
    own (``….dicom.ExportDicomDataResponse`` / ``ImportDicomDataResponse``, as the
    API description has it); ``"google.protobuf.Empty"`` is what the vendor
    pages' sample outputs show, and clients must take either.
    """

    polls: int = 2
    success: int = 10
    failure: int = 0
    error: tuple[int, str] | None = None
    sample_errors: list[tuple[str, int, str]] = field(default_factory=list)
    response: str | None = None


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
            # Export and import answer their own (empty) response messages.
            kind = "Import" if self.method == "ImportDicomData" else "Export"
            message = out.response or f"{package}.dicom.{kind}DicomDataResponse"
            data["response"] = {"@type": f"type.googleapis.com/{message}"}
        return data

    def _details(self) -> dict[str, Any]:
        samples = [
            {"resource": res, "error": {"code": code, "message": msg}}
            for res, code, msg in self.outcome.sample_errors
        ]
        kind = f"google.cloud.healthcare.{self.version}.dicom.ImportDicomDataErrorDetails"
        return {"@type": f"type.googleapis.com/{kind}", "sampleErrors": samples}


class HealthcareDouble(APIDouble):
    """The server; use as a context manager, or :meth:`start` and :meth:`stop`.

    Its ``url`` takes ``/v1`` or ``/v1beta1`` after it.
    """

    api = "Healthcare"

    def __init__(self, *, require_auth: bool = True) -> None:
        self.require_auth = require_auth
        self.requests: list[Recorded] = []
        self.bugs: list[str] = []  # answers the API description does not allow; stopping fails
        self.stores: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, FakeOperation] = {}
        self._outcomes: list[Outcome] = []
        self._failures: list[tuple[int, str]] = []
        self._ids = itertools.count(7_000_000_000_000_000_001)
        self._lock = threading.Lock()
        self._http = LocalHTTPServer(_handler(self))

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
        version = rec.path.split("/")[1]
        if version not in APIS:
            raise Invalid(f"The requested URL {rec.path} was not found on this server.", 404)
        try:
            call = APIS[version].check_request(rec.method, rec.path, rec.query, rec.body)
        except DiscoveryError as exc:
            raise Invalid(str(exc), exc.status) from exc
        rec.body = call.body
        answer = self._call(call, version)
        return 200, APIS[version].check_response(call, answer)

    def _call(self, call: ApiCall, version: str) -> dict[str, Any]:
        """Answer a described call the double models (501 ``UNIMPLEMENTED`` for the rest)."""
        kind, params = call.method.id.removeprefix(METHODS), call.path_params
        dataset = "projects/{projectsId}/locations/{locationsId}/datasets/{datasetsId}".format(
            **params
        )
        if kind.startswith("operations."):
            return self._operation_call(call, f"{dataset}/operations/{params['operationsId']}")
        name = f"{dataset}/dicomStores/{params.get('dicomStoresId')}"
        if kind not in ("dicomStores.get", "dicomStores.patch", *STARTS):
            raise Invalid(f"the Healthcare double does not model {call.method.id}", 501)
        if name not in self.stores:
            raise Invalid(f"DICOM store {name} does not exist", 404)
        if kind == "dicomStores.get":
            return _store_json(self.stores[name])
        if kind == "dicomStores.patch":
            if call.query.get("updateMask") != ["streamConfigs"]:
                mask = call.query.get("updateMask")
                raise Invalid(
                    f"the Healthcare double models updateMask=streamConfigs only: {mask}", 501
                )
            self.stores[name]["streamConfigs"] = check_stream_configs(call.body)
            return _store_json(self.stores[name])
        method = STARTS[kind](call.body)
        return {"name": self._new_operation(dataset, version, method)}

    def _new_operation(self, dataset: str, version: str, method: str) -> str:
        name = f"{dataset}/operations/{next(self._ids)}"
        outcome = self._outcomes.pop(0) if self._outcomes else Outcome()
        self.operations[name] = FakeOperation(name, version, method, outcome)
        return name

    def _operation_call(self, call: ApiCall, name: str) -> dict[str, Any]:
        op = self.operations.get(name)
        if op is None:
            raise Invalid(f"operation {name} not found", 404)
        if call.method.id.endswith(".cancel"):
            op.cancelled = op.cancelled or op.polls < op.outcome.polls
            return {}
        if not call.method.id.endswith(".get"):
            raise Invalid(f"the Healthcare double does not model {call.method.id}", 501)
        op.polls += 1
        return op.to_json()


def _store_json(store: dict[str, Any]) -> dict[str, Any]:
    # Empty repeated fields are omitted in proto3 JSON.
    return {k: v for k, v in store.items() if v}


def _check_content_type(rec: Recorded) -> None:
    kind = rec.headers.get("content-type", "")
    if rec.body is not None and not kind.startswith("application/json"):
        raise Invalid(f"Content-Type {kind!r} is not application/json")


def _check_table(dest: dict[str, Any], where: str) -> str:
    uri = dest.get("tableUri")
    if not isinstance(uri, str) or len(uri) > 2000 or not TABLE_URI.fullmatch(uri):
        raise Invalid(
            f"{where}.tableUri {uri!r} must be bq://PROJECT.DATASET.TABLE "
            "(table: letters, digits and underscores)"
        )
    return uri


def _check_gcs_uri(uri: Any, where: str, *, needs_object: bool) -> str:
    match = GCS_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None or (needs_object and len(match["object"] or "") <= 1):
        raise Invalid(f"{where} {uri!r} is not a valid Cloud Storage URI")
    return (match["object"] or "")[1:]


def check_export(body: dict[str, Any]) -> str:
    """Check a (described-valid) ExportDicomDataRequest; the apiMethodName suffix."""
    destinations = [k for k in ("bigqueryDestination", "gcsDestination") if k in body]
    if len(destinations) != 1:
        raise Invalid(f"exactly one destination is required, got {destinations}")
    if "filterConfig" in body:
        uri = body["filterConfig"].get("resourcePathsGcsUri")
        if any(c in _check_gcs_uri(uri, "resourcePathsGcsUri", needs_object=True) for c in "*?"):
            raise Invalid(f"resourcePathsGcsUri {uri!r} must name one file")
    if "bigqueryDestination" in body:
        dest = body["bigqueryDestination"]
        _check_table(dest, "bigquery_destination")
        if "schemaJson" in dest and "schemaFlattened" in dest:
            raise Invalid("bigquery_destination: set schemaJson or schemaFlattened, not both")
        return "ExportDicomData_bq"  # S0, the newest page (SPEC open question 7)
    dest = body["gcsDestination"]
    prefix = _check_gcs_uri(dest.get("uriPrefix"), "uriPrefix", needs_object=False)
    if any(c in prefix for c in "*?"):
        raise Invalid(f"uriPrefix {dest['uriPrefix']!r} must not contain wildcards")
    if "mimeType" in dest and dest["mimeType"] not in MIME_TYPES:
        raise Invalid(f"mimeType {dest['mimeType']!r} is not supported")
    return "ExportDicomData"


def check_import(body: dict[str, Any]) -> str:
    """Check a (described-valid) ImportDicomDataRequest, with the wildcard rules of its
    ``gcsSource.uri`` description; the apiMethodName suffix."""
    uri = (body.get("gcsSource") or {}).get("uri")
    path = _check_gcs_uri(uri, "gcsSource.uri", needs_object=True)
    if path.endswith("/") or "[" in path or "]" in path:
        raise Invalid(f"gcsSource.uri {uri!r} must name files with *, ? or a trailing **")
    if "**" in path:
        head, _, tail = path.partition("**")
        extension_only = tail == "" or (tail[0] == "." and not set(tail) & set("*?/"))
        if set(head) & set("*?") or not extension_only:
            raise Invalid(f"gcsSource.uri {uri!r}: ** must end the path, with no other wildcard")
    return "ImportDicomData"


STARTS = {"dicomStores.export": check_export, "dicomStores.import": check_import}


def check_stream_configs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Check a DicomStore patch of streamConfigs: ≤ 5 unique BigQuery destinations."""
    configs = body.get("streamConfigs") or []
    if len(configs) > 5:
        raise Invalid("streamConfigs must be a list of at most 5 destinations")
    tables = []
    for i, config in enumerate(configs):
        where = f"stream_configs[{i}].bigquery_destination"
        if "bigqueryDestination" not in config:
            raise Invalid(f"{where} is required")
        tables.append(_check_table(config["bigqueryDestination"], where))
    if len(set(tables)) != len(tables):
        raise Invalid(f"stream destinations must be unique: {tables}")
    return configs


def _handler(double: HealthcareDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(JSONHandler):
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
                    except ResponseMismatch as exc:  # a bug here; 501 is not retried
                        double.bugs.append(f"{rec.method} {rec.path}: {exc}")
                        status, answer = _error(Invalid(f"Healthcare double bug: {exc}", 501))
                rec.status = status
            self.send_json(status, answer)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


def _error(exc: Invalid) -> tuple[int, dict[str, Any]]:
    name = RPC_STATUS.get(exc.status, "UNKNOWN")
    return exc.status, {"error": {"code": exc.status, "message": str(exc), "status": name}}
