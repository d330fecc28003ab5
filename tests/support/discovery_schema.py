"""Discovery-document schemas read as proto3 JSON: request bodies, responses, field masks.

The rules Google's front end applies to JSON, against a document's
``schemas``. :class:`RequestReader` reads a request body as the service does:
field names in lowerCamelCase or their original snake_case, int64 as a JSON
string or number, enums by name or number, ``null`` as unset; an unknown name,
a wrong type, a value outside its enum or a missing required field is a 400
:class:`DiscoveryError` naming the field and the value, and the body comes back
normalised (camelCase names, enum names). :class:`ResponseChecker` checks what
a double writes, strictly, as Google writes it: camelCase names only, int64 as
strings, enum names, no ``null``; an ``Any`` (a map with ``@type``) against the
schema it names when the document has it. A mismatch is a bug in the double:
:class:`ResponseMismatch`. :func:`select_fields` applies a ``fields`` mask.

Required fields are those whose description starts with ``Required`` or
``[Required]`` (the documents carry no other marker). A few BigQuery fields are
plain strings whose values are listed only in their description
(:data:`DESCRIBED_ENUMS`); their values are read from that text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any

__all__ = [
    "DESCRIBED_ENUMS",
    "INT_RANGES",
    "RPC_STATUS",
    "DiscoveryError",
    "RequestReader",
    "ResponseChecker",
    "ResponseMismatch",
    "int_in_range",
    "is_number",
    "is_required",
    "select_fields",
    "snake_case",
]

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
INT_RANGES = {
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


def snake_case(name: str) -> str:
    """A JSON field name as its proto name: ``tableUri`` -> ``table_uri``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def int_in_range(raw: Any, fmt: str) -> bool:
    """Whether ``raw`` (a JSON integer or decimal text) fits the integer format ``fmt``."""
    if isinstance(raw, bool):
        return False
    text = str(raw) if isinstance(raw, int) else raw
    if not isinstance(text, str) or not re.fullmatch(r"-?\d+", text):
        return False
    low, high = INT_RANGES.get(fmt, INT_RANGES["int64"])
    return low <= int(text) < high


def is_number(raw: Any) -> bool:
    """Whether ``raw`` is a JSON number or text that reads as one (``"NaN"`` too)."""
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


def is_required(spec: dict[str, Any]) -> bool:
    """Whether a field or parameter is required: its description says so first."""
    return bool(_REQUIRED.match(spec.get("description", "")))


def _bad(where: str, value: Any, why: str) -> DiscoveryError:
    shown = json.dumps(value) if not isinstance(value, str) else f'"{value}"'
    return DiscoveryError(f"Invalid value at '{where}' ({why}), {shown}")


class RequestReader:
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
        names = {**{snake_case(k): k for k in props}, **{k: k for k in props}}
        out: dict[str, Any] = {}
        for key, value in obj.items():
            name = names.get(key)
            if name is None:
                at = f" at '{where}'" if where else ""
                raise DiscoveryError(
                    f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
                )
            if name in out:
                raise DiscoveryError(f"field {snake_case(name)!r} given twice (as {key!r})")
            if value is None and props[name].get("type") != "any":  # proto3: null is unset
                continue
            inner = f"{where}.{snake_case(name)}" if where else snake_case(name)
            out[name] = self.value(props[name], value, inner, (ref, name))
        for name, spec in props.items():
            if is_required(spec) and name not in out and f"{ref}.{name}" not in self.waive:
                inner = f"{where}.{snake_case(name)}" if where else snake_case(name)
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
        if kind == "integer" or fmt in INT_RANGES:
            if not int_in_range(value, fmt or "int32"):
                raise _bad(where, value, f"TYPE_{(fmt or 'int32').upper()}")
            return value
        if kind == "number" and not is_number(value):
            raise _bad(where, value, "TYPE_DOUBLE")
        if kind == "string":
            return self._string(spec, value, where, owner)
        return value

    def _string(self, spec: dict[str, Any], value: Any, where: str, owner: tuple[str, str]) -> Any:
        if owner in self.numbers_as_text and is_number(value) and not isinstance(value, str):
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


class ResponseChecker:
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
            return isinstance(value, str) and int_in_range(value, fmt)
        if kind == "integer":
            return isinstance(value, int) and int_in_range(value, fmt or "int32")
        if kind == "number":
            return (is_number(value) and not isinstance(value, str)) or value in (
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
