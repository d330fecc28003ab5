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
- the body, recursively against the request schema, with proto3 JSON rules:
  field names in lowerCamelCase or their original snake_case, int64 as a JSON
  string or number, enums by name or number, ``null`` as unset; an unknown name,
  a wrong type, a value outside its enum or a missing required field is a 400
  ``INVALID_ARGUMENT`` naming the field and the value. The body comes back
  normalised (camelCase names, enum names), as the service would read it.

Required fields are those whose description starts with ``Required`` or
``[Required]`` (the documents carry no other marker). A few BigQuery fields are
plain strings whose values are listed only in their description
(:data:`DESCRIBED_ENUMS`); their values are read from that text.

Responses are checked strictly against the response schema, as Google writes
them: camelCase names only, int64 as strings, enum names, no ``null``; an
``Any`` (a map with ``@type``) is checked against the named schema when the
document has it. A mismatch is a bug in the double: :class:`ResponseMismatch`.
:func:`select_fields` applies a ``fields`` partial-response mask.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

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

# The revisions validated; the wheel pinned in pyproject.toml ships exactly these.
REVISIONS = {
    "healthcare.v1": "20261013",
    "healthcare.v1beta1": "20260924",
    "bigquery.v2": "20261009",
}
# HTTP status -> google.rpc.Code name, as Google's JSON errors spell it.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Plain-string fields whose allowed values only their description lists.
DESCRIBED_ENUMS = {
    ("JobConfigurationQuery", "priority"),
    ("JobConfigurationQuery", "createDisposition"),
    ("JobConfigurationQuery", "writeDisposition"),
    ("JobConfigurationLoad", "createDisposition"),
    ("JobConfigurationLoad", "writeDisposition"),
    ("JobConfigurationLoad", "sourceFormat"),
    ("JobConfigurationExtract", "destinationFormat"),
    ("TableFieldSchema", "mode"),
}
_DESCRIBED_VALUE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*\b")
_REQUIRED = re.compile(r"\s*(?:\[Required\]|Required\b)")
_INT_RANGES = {
    "int32": (-(2**31), 2**31),
    "uint32": (0, 2**32),
    "int64": (-(2**63), 2**63),
    "uint64": (0, 2**64),
}
_DURATION = re.compile(r"-?\d+(?:\.\d{1,9})?s")


class DiscoveryError(Exception):
    """A request Google would refuse: ``status`` (HTTP) and the google.rpc name in ``rpc``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.rpc = RPC_STATUS.get(status, "UNKNOWN")


class ResponseMismatch(AssertionError):
    """A double's response that its API description does not allow: a bug in the double."""


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


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


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
            required = spec.get("required") or _required(spec)
            if spec.get("location") == "query" and required and name not in query:
                raise DiscoveryError(f"Missing required query parameter: {name!r}")
        for name, values in query.items():
            extra = self.extra_query.get(method.id, {})
            spec = method.parameters.get(name) or extra.get(name) or self.standard.get(name)
            if spec is None or spec.get("location") == "path":
                raise DiscoveryError(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                    f"parameter. Field '{name}' could not be found in request message."
                )
            if len(values) > 1 and not spec.get("repeated"):
                raise DiscoveryError(f"query parameter {name!r} given {len(values)} times")
            for value in values:
                self._scalar_text(value, spec, name)

    def _scalar_text(self, text: str, spec: dict[str, Any], where: str) -> None:
        """Check a query value (always text) against its parameter's type."""
        kind, fmt = spec.get("type"), spec.get("format")
        ok = True
        if "enum" in spec:
            ok = text in spec["enum"]
        elif kind == "boolean":
            ok = text.lower() in ("true", "false")  # the Python client sends "True"
        elif kind == "integer" or fmt in _INT_RANGES:
            ok = _int_in_range(text, fmt or "int32")
        elif kind == "number":
            ok = _is_number(text)
        if not ok:
            raise DiscoveryError(f"Invalid value at '{_snake(where)}' ({kind} {fmt}), \"{text}\"")

    def check_body(self, method: Method, body: Any, waive: frozenset[str] = frozenset()) -> Any:
        """The request body parsed against the method's schema (400 when Google would refuse)."""
        if method.request is None:
            if body not in (None, {}):
                raise DiscoveryError(f"{method.id} takes no request body")
            return None
        return _Parser(self.schemas, waive, self.numbers_as_text).message(
            method.request, {} if body is None else body, ""
        )

    # -- responses --

    def check_response(self, call: ApiCall, body: Any) -> Any:
        """Check a response body as Google writes it, then apply the ``fields`` mask."""
        if call.method.response is None:
            if body not in (None, {}):
                raise ResponseMismatch(f"{call.method.id} answers no body, not {body!r}")
            return body
        _Writer(self.schemas).message(call.method.response, body, call.method.response)
        return select_fields(body, call.fields) if call.fields else body


def _int_in_range(raw: Any, fmt: str) -> bool:
    if isinstance(raw, bool):
        return False
    text = str(raw) if isinstance(raw, int) else raw
    if not isinstance(text, str) or not re.fullmatch(r"-?\d+", text):
        return False
    low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
    return low <= int(text) < high


def _is_number(raw: Any) -> bool:
    if isinstance(raw, bool):
        return False
    if isinstance(raw, (int, float)):
        return True
    try:
        float(raw)
    except (TypeError, ValueError):
        return False
    return True


def _described_values(description: str) -> set[str]:
    return set(_DESCRIBED_VALUE.findall(description))


def _required(spec: dict[str, Any]) -> bool:
    return bool(_REQUIRED.match(spec.get("description", "")))


def _bad(where: str, value: Any, why: str) -> DiscoveryError:
    shown = json.dumps(value) if not isinstance(value, str) else f'"{value}"'
    return DiscoveryError(f"Invalid value at '{where}' ({why}), {shown}")


class _Parser:
    """A request body read as the proto3 JSON parser reads it; raises on what it refuses."""

    def __init__(
        self,
        schemas: dict[str, dict[str, Any]],
        waive: frozenset[str],
        numbers_as_text: frozenset[tuple[str, str]],
    ) -> None:
        self.schemas, self.waive, self.numbers_as_text = schemas, waive, numbers_as_text

    def message(self, ref: str, obj: Any, where: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise _bad(where or ref, obj, f"type.googleapis.com/{ref} expects an object")
        props = self.schemas[ref].get("properties", {})
        names = {**{_snake(k): k for k in props}, **{k: k for k in props}}
        out: dict[str, Any] = {}
        for key, value in obj.items():
            name = names.get(key)
            if name is None:
                at = f" at '{where}'" if where else ""
                raise DiscoveryError(
                    f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
                )
            if name in out:
                raise DiscoveryError(f"field {_snake(name)!r} given twice (as {key!r})")
            if value is None and props[name].get("type") != "any":  # proto3: null is unset
                continue
            inner = f"{where}.{_snake(name)}" if where else _snake(name)
            out[name] = self.value(props[name], value, inner, (ref, name))
        for name, spec in props.items():
            if _required(spec) and name not in out and f"{ref}.{name}" not in self.waive:
                inner = f"{where}.{_snake(name)}" if where else _snake(name)
                raise DiscoveryError(f"Missing required field: {inner} ({ref}.{name})")
        return out

    def value(self, spec: dict[str, Any], value: Any, where: str, owner: tuple[str, str]) -> Any:
        if "$ref" in spec:
            return self.message(spec["$ref"], value, where)
        kind = spec.get("type")
        if kind == "array":
            if not isinstance(value, list):
                raise _bad(where, value, "expects a list")
            return [
                self.value(spec["items"], v, f"{where}[{i}]", owner) for i, v in enumerate(value)
            ]
        if kind == "object" and "additionalProperties" in spec:
            if not isinstance(value, dict):
                raise _bad(where, value, "expects a map")
            item = spec["additionalProperties"]
            return {k: self.value(item, v, f"{where}[{k!r}]", owner) for k, v in value.items()}
        return self.scalar(spec, value, where, owner)

    def scalar(self, spec: dict[str, Any], value: Any, where: str, owner: tuple[str, str]) -> Any:
        kind, fmt = spec.get("type"), spec.get("format")
        if kind == "any" or (kind == "object" and "properties" not in spec):
            return value
        if "enum" in spec:
            number = isinstance(value, int) and not isinstance(value, bool)
            if number and 0 <= value < len(spec["enum"]):
                return spec["enum"][value]  # proto3 JSON: an enum by its number
            if value not in spec["enum"]:
                raise _bad(where, value, f"one of {', '.join(spec['enum'])}")
            return value
        if kind == "boolean" and not isinstance(value, bool):
            raise _bad(where, value, "TYPE_BOOL")
        if kind == "integer" or fmt in _INT_RANGES:
            if not _int_in_range(value, fmt or "int32"):
                raise _bad(where, value, f"TYPE_{(fmt or 'int32').upper()}")
            return value
        if kind == "number" and not _is_number(value):
            raise _bad(where, value, "TYPE_DOUBLE")
        if kind == "string":
            return self._string(spec, value, where, owner)
        return value

    def _string(self, spec: dict[str, Any], value: Any, where: str, owner: tuple[str, str]) -> Any:
        if owner in self.numbers_as_text and _is_number(value) and not isinstance(value, str):
            return json.dumps(value)  # read as the text the service keeps
        if not isinstance(value, str):
            raise _bad(where, value, "TYPE_STRING")
        fmt = spec.get("format")
        if owner in DESCRIBED_ENUMS and value not in _described_values(spec["description"]):
            allowed = ", ".join(sorted(_described_values(spec["description"])))
            raise _bad(where, value, f"one of {allowed}")
        if fmt == "byte":
            try:
                base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _bad(where, value, "base64 bytes") from exc
        elif fmt == "google-datetime" and not _is_timestamp(value):
            raise _bad(where, value, "an RFC 3339 timestamp")
        elif fmt == "google-duration" and not _DURATION.fullmatch(value):
            raise _bad(where, value, "a duration such as 3.5s")
        return value


def _is_timestamp(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class _Writer:
    """What Google writes: checks a response strictly (raises :class:`ResponseMismatch`)."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        self.schemas = schemas

    def message(self, ref: str, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise ResponseMismatch(f"{where}: {ref} must be an object, not {obj!r}")
        props = self.schemas[ref].get("properties", {})
        for key, value in obj.items():
            if key not in props:
                raise ResponseMismatch(f"{where}: {ref} has no field {key!r}")
            self.value(props[key], value, f"{where}.{key}")

    def value(self, spec: dict[str, Any], value: Any, where: str) -> None:
        if value is None and spec.get("type") != "any":  # a Value may be null
            raise ResponseMismatch(f"{where}: Google omits unset fields instead of null")
        if "$ref" in spec:
            self.message(spec["$ref"], value, where)
        elif spec.get("type") == "array":
            if not isinstance(value, list):
                raise ResponseMismatch(f"{where}: expected a list, not {value!r}")
            for i, item in enumerate(value):
                self.value(spec["items"], item, f"{where}[{i}]")
        elif "additionalProperties" in spec:
            self._map(spec["additionalProperties"], value, where)
        elif not self._scalar_ok(spec, value):
            raise ResponseMismatch(
                f"{where}: {value!r} is not {spec.get('type')} {spec.get('format', '')}"
            )

    def _map(self, item: dict[str, Any], value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise ResponseMismatch(f"{where}: expected an object, not {value!r}")
        kind = str(value.get("@type", ""))
        if "@type" in item.get("description", "") and not kind:
            raise ResponseMismatch(f"{where}: an Any needs its @type")
        if item.get("type") == "any" and kind:  # an Any: check the message it names
            ref = _any_schema(kind, self.schemas)
            if ref is None:  # e.g. google.rpc details: nothing to check against
                return
            self.message(ref, {k: v for k, v in value.items() if k != "@type"}, where)
            return
        for key, inner in value.items():
            self.value(item, inner, f"{where}[{key!r}]")

    def _scalar_ok(self, spec: dict[str, Any], value: Any) -> bool:
        kind, fmt = spec.get("type"), spec.get("format")
        if kind == "any" or (kind == "object" and "properties" not in spec):
            return True
        if "enum" in spec:
            return value in spec["enum"]
        if kind == "boolean":
            return isinstance(value, bool)
        if fmt in ("int64", "uint64"):  # proto3 JSON writes 64-bit integers as strings
            return isinstance(value, str) and _int_in_range(value, fmt)
        if kind == "integer":
            return isinstance(value, int) and _int_in_range(value, fmt or "int32")
        if kind == "number":
            return (_is_number(value) and not isinstance(value, str)) or value in (
                "NaN",
                "Infinity",
            )
        if kind == "string" and fmt == "google-datetime":
            return isinstance(value, str) and _is_timestamp(value)
        return isinstance(value, str)


def _any_schema(type_url: str, schemas: dict[str, Any]) -> str | None:
    """The schema an ``Any``'s ``@type`` names, when the document describes it."""
    full = type_url.rsplit("/", 1)[-1]
    if full == "google.protobuf.Empty":
        return "Empty" if "Empty" in schemas else None
    short = full.rsplit(".", 1)[-1]
    return short if short in schemas else None


def select_fields(body: Any, mask: str) -> Any:
    """``body`` cut down to a partial-response mask: ``a,b/c,d(e,f)``.

    >>> select_fields({"a": 1, "b": {"c": 2, "x": 3}, "z": 0}, "a,b/c")
    {'a': 1, 'b': {'c': 2}}
    """
    return _select(body, _parse_mask(mask))


def _parse_mask(mask: str) -> dict[str, Any]:
    """``a,b/c,d(e,f)`` as a tree ``{"a": {}, "b": {"c": {}}, "d": {"e": {}, "f": {}}}``."""
    tree: dict[str, Any] = {}
    depth, start = 0, 0
    for i, char in enumerate(mask + ","):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            _add_mask_item(tree, mask[start:i].strip())
            start = i + 1
    return tree


def _add_mask_item(tree: dict[str, Any], item: str) -> None:
    if not item:
        return
    head, sep, rest = item.partition("(")
    node = tree
    for name in head.split("/"):
        node = node.setdefault(name.strip(), {})
    if sep:
        node.update(_parse_mask(rest.removesuffix(")")))


def _select(body: Any, tree: dict[str, Any]) -> Any:
    if not tree:
        return body
    if isinstance(body, list):
        return [_select(item, tree) for item in body]
    if not isinstance(body, dict):
        return body
    return {k: _select(v, tree[k]) for k, v in body.items() if k in tree}
