"""Google's own API descriptions, as the checker every API double runs first.

The discovery documents come from the ``google-api-python-client`` wheel
(``googleapiclient/discovery_cache/documents/``), pinned in pyproject.toml to
the revisions in :data:`REVISIONS`; loading another revision fails, so a new
wheel is validated on purpose, not by accident. From a document,
:class:`DiscoveryApi` checks each request as Google's front end parses it:

- the path against every method's ``flatPath`` (no match: 404 ``NOT_FOUND``)
  and the HTTP method (another method on a known path: 404 as well, as Google);
- query parameters: the method's own and the standard ones (``fields``,
  ``prettyPrint``, ``alt``, ``$.xgafv``, ``quotaUser`` …), each typed (integers,
  int64 as decimal text, booleans, enums); an unknown or repeated one is a 400;
- the body, recursively against the request schema, read as proto3 JSON
  (:mod:`tests.support.discovery_schema`).

Responses are checked strictly against the response schema, then cut to the
request's ``fields`` mask.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from tests.support.discovery_schema import (
    DESCRIBED_ENUMS,
    INT_RANGES,
    RPC_STATUS,
    DiscoveryError,
    RequestReader,
    ResponseChecker,
    ResponseMismatch,
    int_in_range,
    is_number,
    is_required,
    select_fields,
    snake_case,
)

__all__ = [
    "DESCRIBED_ENUMS",
    "REVISIONS",
    "RPC_STATUS",
    "ApiCall",
    "DiscoveryApi",
    "DiscoveryError",
    "ResponseMismatch",
    "load_document",
    "select_fields",
]

REVISIONS = {
    "healthcare.v1": "20261013",
    "healthcare.v1beta1": "20260924",
    "bigquery.v2": "20261009",
}


@functools.cache
def load_document(name: str) -> dict[str, Any]:
    """The discovery document ``name`` (e.g. ``"bigquery.v2"``) at its pinned revision."""
    package = resources.files("googleapiclient.discovery_cache") / "documents"
    doc: dict[str, Any] = json.loads((package / f"{name}.json").read_text(encoding="utf-8"))
    if doc.get("revision") != REVISIONS[name]:
        raise RuntimeError(
            f"{name}.json is revision {doc.get('revision')}, but the doubles were validated "
            f"against {REVISIONS[name]}: check the new revision, then update REVISIONS and "
            "the google-api-python-client pin"
        )
    return doc


@dataclass
class Method:
    """One REST method of a document."""

    id: str
    http_method: str
    pattern: re.Pattern[str]
    parameters: dict[str, dict[str, Any]]
    request: str | None
    response: str | None
    upload: bool = False


@dataclass
class ApiCall:
    """A request that passed: its method, path and query values, and the normalised body."""

    method: Method
    path_params: dict[str, str]
    query: dict[str, list[str]]
    body: Any = None
    fields: str | None = field(default=None)


def _template(path: str) -> re.Pattern[str]:
    """A ``flatPath`` as a regex: each ``{name}`` (or ``{+name}``) one segment.

    A segment may hold ``:`` (``example.com:project``) unless it is the last,
    where ``:`` starts a custom verb (``…/dicomStores/s:export``).
    """
    parts = re.split(r"\{\+?([^}]+)\}", path.lstrip("/"))
    regex = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            segment = "[^/]+" if parts[i + 1].startswith("/") else "[^/:]+"
            regex += f"(?P<{_group(part)}>{segment})"
    return re.compile("/" + regex)


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _methods(node: dict[str, Any], prefix: str) -> list[Method]:
    found = []
    for spec in node.get("methods", {}).values():
        params = spec.get("parameters", {})
        request = (spec.get("request") or {}).get("$ref")
        response = (spec.get("response") or {}).get("$ref")
        flat = spec.get("flatPath", spec["path"])
        found.append(
            Method(
                spec["id"], spec["httpMethod"], _template(prefix + flat), params, request, response
            )
        )
        for protocol in (spec.get("mediaUpload") or {}).get("protocols", {}).values():
            found.append(
                Method(
                    spec["id"],
                    spec["httpMethod"],
                    _template(protocol["path"]),
                    params,
                    request,
                    response,
                    upload=True,
                )
            )
    for child in node.get("resources", {}).values():
        found.extend(_methods(child, prefix))
    return found


class DiscoveryApi:
    """Checks requests and responses against one discovery document.

    ``name``: the document, e.g. ``"healthcare.v1"``; its methods are matched
    under ``/`` + the document's ``servicePath``. Where the service accepts
    more than its document says (and an official client relies on it), say so:
    ``extra_query`` maps a method id to more query parameters (discovery
    parameter specs); ``numbers_as_text`` names ``(schema, field)`` strings that
    also take a JSON number.
    """

    def __init__(
        self,
        name: str,
        *,
        extra_query: dict[str, dict[str, dict[str, Any]]] | None = None,
        numbers_as_text: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.name = name
        self.extra_query = extra_query or {}
        self.numbers_as_text = numbers_as_text
        self.doc = load_document(name)
        self.schemas: dict[str, dict[str, Any]] = self.doc["schemas"]
        self.standard: dict[str, dict[str, Any]] = self.doc.get("parameters", {})
        self.methods = _methods(self.doc, self.doc.get("servicePath", ""))

    # -- requests --

    def match(self, http_method: str, path: str) -> tuple[Method, dict[str, str]]:
        """The method serving ``http_method path``; 404 (as Google) when there is none."""
        known_path = False
        for method in self.methods:
            if found := method.pattern.fullmatch(path):
                known_path = True
                if method.http_method == http_method:
                    return method, found.groupdict()
        where = "with this method" if known_path else "on this server"
        raise DiscoveryError(f"The requested URL {path} was not found {where}.", 404)

    def check_request(
        self,
        http_method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any = None,
        *,
        check_body: bool = True,
        waive: frozenset[str] = frozenset(),
    ) -> ApiCall:
        """Check a request; the :class:`ApiCall` with its body normalised.

        ``check_body=False`` leaves the body for :meth:`check_body` (an upload's
        metadata is read later); ``waive``: ``"Schema.field"`` not required here.
        """
        method, params = self.match(http_method, path)
        self._check_query(method, query)
        if (alt := query.get("alt")) and alt[0] != "json":
            raise DiscoveryError(f"the double answers JSON only, not alt={alt[0]}", 501)
        call = ApiCall(method, params, query, fields=next(iter(query.get("fields", [])), None))
        if check_body:
            call.body = self.check_body(method, body, waive)
        return call

    def _check_query(self, method: Method, query: dict[str, list[str]]) -> None:
        for name, spec in method.parameters.items():
            required = spec.get("required") or is_required(spec)
            if spec.get("location") == "query" and required and name not in query:
                raise DiscoveryError(f"Missing required query parameter: {name!r}")
        extra = self.extra_query.get(method.id, {})
        for name, values in query.items():
            found = method.parameters.get(name) or extra.get(name) or self.standard.get(name)
            if found is None or found.get("location") == "path":
                raise DiscoveryError(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                    f"parameter. Field '{name}' could not be found in request message."
                )
            if len(values) > 1 and not found.get("repeated"):
                raise DiscoveryError(f"query parameter {name!r} given {len(values)} times")
            for value in values:
                self._scalar_text(value, found, name)

    def _scalar_text(self, text: str, spec: dict[str, Any], where: str) -> None:
        """Check a query value (always text) against its parameter's type."""
        kind, fmt = spec.get("type"), spec.get("format")
        ok = True
        if "enum" in spec:
            ok = text in spec["enum"]
        elif kind == "boolean":
            ok = text.lower() in ("true", "false")  # the Python client sends "True"
        elif kind == "integer" or fmt in INT_RANGES:
            ok = int_in_range(text, fmt or "int32")
        elif kind == "number":
            ok = is_number(text)
        if not ok:
            raise DiscoveryError(
                f"Invalid value at '{snake_case(where)}' ({kind} {fmt}), \"{text}\""
            )

    def check_body(self, method: Method, body: Any, waive: frozenset[str] = frozenset()) -> Any:
        """The request body parsed against the method's schema (400 when Google would refuse)."""
        if method.request is None:
            if body not in (None, {}):
                raise DiscoveryError(f"{method.id} takes no request body")
            return None
        return RequestReader(self.schemas, waive, self.numbers_as_text).message(
            method.request, {} if body is None else body, ""
        )

    # -- responses --

    def check_response(self, call: ApiCall, body: Any) -> Any:
        """Check a response body as Google writes it, then apply the ``fields`` mask."""
        if call.method.response is None:
            if body not in (None, {}):
                raise ResponseMismatch(f"{call.method.id} answers no body, not {body!r}")
            return body
        ResponseChecker(self.schemas).message(call.method.response, body, call.method.response)
        return select_fields(body, call.fields) if call.fields else body
