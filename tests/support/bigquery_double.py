"""A local stand-in for the BigQuery REST API v2, answered by DuckDB (SPEC.md §7).

A stdlib ``http.server`` on 127.0.0.1 (a free port), in a thread, good enough for
the real ``google-cloud-bigquery`` client::

    with BigQueryDouble() as double:
        double.create_table("ds.t", pa.table({"x": [1, 2]}))
        client = bigquery.Client(project="test-project", credentials=AnonymousCredentials(),
                                 client_options={"api_endpoint": double.url})
        client.query("SELECT SUM(x) AS s FROM ds.t").result()

One project; a dataset is a DuckDB schema and ``project.dataset.table`` is
``"dataset"."table"``. SQL goes through sqlglot (tables rewritten, each ``@name``
cast to its declared type) and :func:`dicomlab.core.queries.translate`; values are
bound by DuckDB, never written into SQL. Result types map back as DuckDB
TIMESTAMP → DATETIME, TIMESTAMPTZ → TIMESTAMP, lists → REPEATED, structs →
RECORD. Every job is DONE in the call that creates it (no RUNNING state, so the
client never polls). Every request is recorded in :attr:`BigQueryDouble.requests`.

Modelled: ``jobs.insert`` (query, load, extract), media upload (multipart and
resumable), ``jobs.query``, ``jobs.get``, ``jobs.getQueryResults`` (``maxResults``,
``pageToken``, ``startIndex``, ``fields``), ``datasets.get``, ``tables.get``,
``tables.delete``, ``tabledata.list`` and ``tabledata.insertAll`` (JSON values cast
by DuckDB to the column types). Errors use BigQuery's shape
``{"error": {"code", "message", "errors": [{"reason", ...}], "status"}}``;
failures inside a job become its ``status.errorResult`` (HTTP 200 from
``jobs.insert``), as BigQuery does, while a malformed request is refused at once.
What the double does not model answers 501 ``notImplemented`` (``UNIMPLEMENTED``),
which the client does not retry (a 500 would be retried for minutes).

Before any of that, every request is checked against Google's own description
of the API, ``bigquery.v2.json`` from ``google-api-python-client``
(:mod:`tests.support.discovery`): path and method, query parameters and the
body, recursively (unknown names, types, int64 as text, enums, required
fields), answering Google's 400 when it would; every JSON response is checked
against the response schema (a mismatch is a double bug, answered 501) and cut
to the ``fields`` mask. Load jobs read their media, so ``sourceUris`` is not
required of an upload's metadata.

Byte estimate (dry runs, statistics, ``maximumBytesBilled``): for each table the
query reads, BigQuery's data sizes summed over the referenced columns (every
column when a ``*`` other than ``COUNT(*)`` appears): STRING and BYTES 2 + bytes,
BOOL 1, NUMERIC 16, nested columns the length of their DuckDB text form, other
types 8, NULL 0. Bytes billed: per table, 0 when it read nothing, else the bytes
rounded up to a MiB with a ``min_bytes_billed`` floor (10 MiB, as BigQuery); a
query whose bill exceeds ``maximumBytesBilled`` fails with
``bytesBilledLimitExceeded`` (dry runs ignore the cap).

Not modelled: legacy SQL, positional and STRUCT parameters, scripts, DML and
DDL (SELECT only), INFORMATION_SCHEMA, copy jobs, loads from ``gs://`` URIs and
CSV loads, extract formats other than CSV (and one file per extract), streaming
inserts, the Storage Read API, ``jobs.list``/``cancel``, ``datasets.insert``,
``tables.list``/``insert``/``patch``, RUNNING jobs, IAM, locations other than
``US``, query caching, authentication (no header is checked), table and field
descriptions, REQUIRED fields inside RECORDs, case-insensitive dataset names.

Table names are case-sensitive, as in BigQuery (``T`` and ``t`` are two
tables), unless the dataset was created with ``case_insensitive=True``
(BigQuery's ``isCaseInsensitive``). DuckDB's own names ignore case, so a
table whose name differs only in case from another's is kept under another
DuckDB name (:meth:`BigQueryDouble.duckdb_name`).

Appends with a schema check it against the table's, as BigQuery does: every
table field must be in it with its type and mode, and new fields (nested ones
too) need ``schemaUpdateOptions: ["ALLOW_FIELD_ADDITION"]``; they are then added.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import json
import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from dicomlab.core.queries import translate
from dicomlab.errors import QueryError
from tests.support.discovery import RPC_STATUS, ApiCall, DiscoveryApi, DiscoveryError
from tests.support.servers import APIDouble, JSONHandler, LocalHTTPServer, Recorded, read_request

__all__ = ["BigQueryApiError", "BigQueryDouble", "Recorded"]

logger = logging.getLogger(__name__)

UTC = dt.timezone.utc
MIB = 2**20
LOCATION = "US"
_HIDDEN_SCHEMAS = {"main", "information_schema", "pg_catalog"}
_NAME = re.compile(r"[A-Za-z0-9_][\w-]{0,1023}")
# fmt: off
# BigQuery type (column or parameter, both spellings) -> DuckDB type.
DUCKDB_TYPES = {
    "STRING": "VARCHAR", "BYTES": "BLOB", "INTEGER": "BIGINT", "INT64": "BIGINT",
    "FLOAT": "DOUBLE", "FLOAT64": "DOUBLE", "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN",
    "NUMERIC": "DECIMAL(38, 9)", "BIGNUMERIC": "DECIMAL(38, 9)", "DATE": "DATE", "TIME": "TIME",
    "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMPTZ", "JSON": "VARCHAR", "GEOGRAPHY": "VARCHAR",
}
# Arrow type test -> BigQuery type in a REST schema (first match wins; else STRING).
ARROW_TO_BIGQUERY: list[tuple[Callable[[pa.DataType], bool], str]] = [
    (pa.types.is_boolean, "BOOLEAN"), (pa.types.is_integer, "INTEGER"),
    (pa.types.is_floating, "FLOAT"),
    (lambda t: pa.types.is_decimal(t) and t.scale == 0, "INTEGER"),  # HUGEINT from SUM()
    (pa.types.is_decimal, "NUMERIC"),
    (pa.types.is_date, "DATE"), (pa.types.is_time, "TIME"),
    (lambda t: pa.types.is_timestamp(t) and t.tz is not None, "TIMESTAMP"),
    (pa.types.is_timestamp, "DATETIME"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BYTES"),
]
# fmt: on
# Where BigQuery accepts more than bigquery.v2.json says, and google-cloud-bigquery relies
# on it: ``projection=full`` on jobs.get, and FLOAT64 parameter values as JSON numbers.
API = DiscoveryApi(
    "bigquery.v2",
    extra_query={
        "bigquery.jobs.get": {"projection": {"type": "string", "enum": ["full", "minimal"]}}
    },
    numbers_as_text=frozenset({("QueryParameterValue", "value")}),
)
UPLOAD_METADATA = frozenset({"JobConfigurationLoad.sourceUris"})  # the media is the source
REASON_STATUS = {"notFound": 404, "duplicate": 409, "accessDenied": 403, "notImplemented": 501}


class BigQueryApiError(Exception):
    """A BigQuery error: its ``reason`` (``invalidQuery``, ``notFound``, …) sets the status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message
        self.status = REASON_STATUS.get(reason, 400)

    def proto(self) -> dict[str, Any]:
        """The ``ErrorProto`` of ``errorResult`` and ``error.errors``."""
        return {"reason": self.reason, "message": self.message}

    def to_json(self) -> dict[str, Any]:
        name = RPC_STATUS.get(self.status, "UNKNOWN")
        errors = [self.proto() | {"domain": "global"}]
        return {"error": {"code": self.status, "message": self.message, "errors": errors,
                          "status": name}}  # fmt: skip


def _invalid(message: str) -> BigQueryApiError:
    return BigQueryApiError("invalid", message)


def _not_modelled(what: str) -> BigQueryApiError:
    return BigQueryApiError("notImplemented", f"The BigQuery double does not model {what}")


@dataclass
class _Job:
    resource: dict[str, Any]
    result: pa.Table | None = None
    fields: list[dict[str, Any]] = field(default_factory=list)
    error: BigQueryApiError | None = None


# -- parameters --------------------------------------------------------------


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise TypeError(raw)
    return raw


def _int64(raw: object) -> int:
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else _text(raw)
    if not re.fullmatch(r"[+-]?\d+", text.strip()) or not -(2**63) <= int(text) < 2**63:
        raise ValueError(raw)
    return int(text)


def _float64(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise TypeError(raw)
    return float(raw)


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _text(raw).lower()
    if text not in ("true", "false"):
        raise ValueError(raw)
    return text == "true"


def _datetime(raw: object) -> dt.datetime:
    value = dt.datetime.fromisoformat(_text(raw))
    if value.tzinfo is not None:
        raise ValueError(raw)
    return value


def _timestamp(raw: object) -> dt.datetime:
    value = dt.datetime.fromisoformat(re.sub(r"\s*(UTC|Z)$", "+00:00", _text(raw)))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _decimal(raw: object) -> Decimal:
    return Decimal(raw if isinstance(raw, int) and not isinstance(raw, bool) else _text(raw))


# fmt: off
PARAMETER_PARSERS: dict[str, Callable[[object], object]] = {
    "STRING": _text, "INT64": _int64, "FLOAT64": _float64, "BOOL": _bool,
    "NUMERIC": _decimal, "BIGNUMERIC": _decimal,
    "BYTES": lambda raw: base64.b64decode(_text(raw), validate=True),
    "DATE": lambda raw: dt.date.fromisoformat(_text(raw)),
    "TIME": lambda raw: dt.time.fromisoformat(_text(raw)),
    "DATETIME": _datetime, "TIMESTAMP": _timestamp,
}
# fmt: on
_TYPE_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


@dataclass(frozen=True)
class _Parameter:
    scalar: str  # INT64, STRING, ...
    array: bool
    value: object  # what DuckDB binds

    def cast_type(self) -> exp.DataType | None:
        """The type to cast ``@name`` to, or None to bind the value as it is.

        A cast to STRING would be rewritten by ``translate``, and NUMERIC loses its
        precision on the way (sqlglot prints ``CAST(x AS NUMERIC)``, which DuckDB
        reads as DECIMAL(18, 3)); DuckDB types those values well enough by itself.
        """
        if (self.scalar == "STRING" and not self.array) or "NUMERIC" in self.scalar:
            return None
        return exp.DataType.build(
            DUCKDB_TYPES[self.scalar] + ("[]" if self.array else ""), dialect="duckdb"
        )


def parse_parameters(config: dict[str, Any]) -> dict[str, _Parameter]:
    """The named ``queryParameters`` of a query config, checked and converted."""
    given = config.get("queryParameters") or []
    if given and config.get("parameterMode") != "NAMED":
        raise _not_modelled("positional parameters: set parameterMode NAMED")
    out = {}
    for spec in given:
        name, ptype = spec.get("name"), spec.get("parameterType") or {}
        if not name or name in out:
            raise _invalid(f"Query parameters need unique names, got {name!r}")
        array = ptype.get("type") == "ARRAY"
        inner = (ptype.get("arrayType") or {}) if array else ptype
        scalar = _TYPE_ALIASES.get(inner.get("type", ""), inner.get("type", ""))
        if scalar not in PARAMETER_PARSERS:
            raise _not_modelled(f"parameter type {ptype.get('type')} (parameter '{name}')")
        raw, parse = spec.get("parameterValue") or {}, PARAMETER_PARSERS[scalar]
        try:
            if array:
                items = [v.get("value") for v in raw.get("arrayValues") or []]
                if None in items:
                    raise ValueError("an array cannot hold NULL")
                value: object = [parse(v) for v in items]
            else:
                value = None if raw.get("value") is None else parse(raw["value"])
        except (TypeError, ValueError, ArithmeticError) as exc:
            kind = f"ARRAY<{scalar}>" if array else scalar
            raise _invalid(f"Invalid {kind} value for query parameter '{name}': {exc}") from exc
        out[name] = _Parameter(scalar, array, value)
    return out


# -- SQL ---------------------------------------------------------------------


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sq(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class _Prepared:
    sql: str  # DuckDB
    bound: dict[str, object]
    tables: list[tuple[str, str]]
    columns: set[str] | None  # referenced column names (lowercase); None: all


def _position(sql: str, name: str) -> str:
    match = re.search(rf"@{re.escape(name)}\b", sql)
    offset = match.start() if match else 0
    line = sql.count("\n", 0, offset) + 1
    return f"[{line}:{offset - (sql.rfind(chr(10), 0, offset) + 1) + 1}]"


def prepare_sql(
    sql: str,
    params: dict[str, _Parameter],
    project: str,
    default_dataset: str | None,
    resolve: Callable[[str, str], str] = lambda dataset, table: table,
) -> _Prepared:
    """Parse BigQuery SQL, point its tables at DuckDB schemas, cast its parameters."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="bigquery") if t is not None]
    except SqlglotError as exc:
        first = (getattr(exc, "errors", None) or [{}])[0]
        where = f" at [{first.get('line')}:{first.get('col')}]" if first.get("line") else ""
        message = first.get("description") or str(exc)
        raise BigQueryApiError("invalidQuery", f"Syntax error: {message}{where}") from exc
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise _not_modelled("statements other than one SELECT")
    tree = trees[0]
    tables = _rewrite_tables(tree, project, default_dataset, resolve)
    anonymous = (e for e in tree.selects if not isinstance(e, (exp.Alias, exp.Column, exp.Star)))
    for number, expression in enumerate(list(anonymous)):  # BigQuery's names: f0_, f1_, ...
        expression.replace(exp.alias_(expression.copy(), f"f{number}_"))
    bound = {}
    for node in list(tree.find_all(exp.Parameter)):
        name = node.name
        if name not in params:
            raise BigQueryApiError(
                "invalidQuery", f"Query parameter '{name}' not found at {_position(sql, name)}"
            )
        bound[name] = params[name].value
        if (kind := params[name].cast_type()) is not None:
            node.replace(exp.cast(node.copy(), kind))
    stars = [s for s in tree.find_all(exp.Star) if not isinstance(s.parent, exp.Count)]
    columns = None if stars else _column_names(tree)
    try:
        duck = translate(tree.sql(dialect="bigquery"), dialect="duckdb")
    except QueryError as exc:
        raise BigQueryApiError("invalidQuery", str(exc)) from exc
    return _Prepared(duck, bound, tables, columns)


def _rewrite_tables(
    tree: exp.Expr, project: str, default: str | None, resolve: Callable[[str, str], str]
) -> list[tuple[str, str]]:
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables: list[tuple[str, str]] = []
    for node in list(tree.find_all(exp.Table)):
        if not node.name or (not node.db and node.name in ctes):
            continue
        dataset = node.db or default
        if not dataset:
            raise BigQueryApiError(
                "invalid",
                f'Table "{node.name}" must be qualified with a dataset (e.g. dataset.table).',
            )
        if node.catalog and node.catalog != project:
            raise BigQueryApiError("accessDenied", f"Access Denied: Project {node.catalog}")
        node.set("catalog", None)
        node.set("db", exp.to_identifier(dataset, quoted=True))
        name = node.name
        node.set("this", exp.to_identifier(resolve(dataset, name), quoted=True))
        if (dataset, name) not in tables:
            tables.append((dataset, name))
    return tables


def _column_names(tree: exp.Expr) -> set[str]:
    names: set[str] = set()
    for column in tree.find_all(exp.Column):
        names.update(part.name.lower() for part in column.parts)
    return names


def _column_bytes_sql(name: str, kind: str) -> str:
    """SQL summing BigQuery's data size of one column (see the module docstring)."""
    c = _q(name)
    if "[" in kind or kind.startswith(("STRUCT", "MAP", "UNION")):
        return f"COALESCE(SUM(strlen(CAST({c} AS VARCHAR))), 0)"
    if kind == "VARCHAR":
        return f"COALESCE(SUM(strlen({c}) + 2), 0)"
    if kind == "BLOB":
        return f"COALESCE(SUM(octet_length({c}) + 2), 0)"
    size = 1 if kind == "BOOLEAN" else 16 if kind.startswith("DECIMAL") else 8
    return f"COUNT({c}) * {size}"


# -- schemas and rows --------------------------------------------------------


def schema_fields(schema: pa.Schema, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    """A BigQuery REST schema (``fields``) for an Arrow schema."""
    needed = set(required)
    return [_field(f.name, f.type, f.name in needed) for f in schema]


def _field(name: str, kind: pa.DataType, required: bool = False) -> dict[str, Any]:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _field(name, kind.value_type) | {"mode": "REPEATED"}
    out: dict[str, Any] = {"name": name, "mode": "REQUIRED" if required else "NULLABLE"}
    if pa.types.is_struct(kind):
        return out | {"type": "RECORD", "fields": [_field(f.name, f.type) for f in kind]}
    bq = next((bq for test, bq in ARROW_TO_BIGQUERY if test(kind)), "STRING")
    return out | {"type": bq}


_FIELD_TYPE_ALIASES = {
    "INT64": "INTEGER",
    "FLOAT64": "FLOAT",
    "BOOL": "BOOLEAN",
    "STRUCT": "RECORD",
}


def _type_mode(field: dict[str, Any]) -> tuple[str, str]:
    kind = str(field.get("type", "STRING")).upper()
    return _FIELD_TYPE_ALIASES.get(kind, kind), str(field.get("mode") or "NULLABLE").upper()


def _schema_diff(
    table: list[dict[str, Any]], load: list[dict[str, Any]], path: str = ""
) -> tuple[list[str], list[str]]:
    """Fields a load's schema adds to a table's (``a.b`` when nested), and BigQuery's
    objections: a table field missing from the load, or one whose type or mode changed."""
    given = {f["name"].lower(): f for f in load}
    problems = [f"Field {path}{f['name']} is missing in new schema"
                for f in table if f["name"].lower() not in given]  # fmt: skip
    have = {f["name"].lower(): f for f in table}
    added: list[str] = []
    for spec in load:
        name, old = f"{path}{spec['name']}", have.get(spec["name"].lower())
        if old is None:
            added.append(name)
        elif _type_mode(old) != _type_mode(spec):
            (was, was_mode), (now, now_mode) = _type_mode(old), _type_mode(spec)
            problems.append(
                f"Field {name} has changed type from {was} to {now}"
                if was != now
                else f"Field {name} has changed mode from {was_mode} to {now_mode}"
            )
        elif _type_mode(spec)[0] == "RECORD":
            more, wrong = _schema_diff(old.get("fields", []), spec.get("fields", []), f"{name}.")
            added, problems = added + more, problems + wrong
    return added, problems


def duckdb_type(spec: dict[str, Any]) -> str:
    """The DuckDB type of a BigQuery schema field (RECORD → STRUCT, REPEATED → list)."""
    kind = spec.get("type", "STRING").upper()
    if kind in ("RECORD", "STRUCT"):
        inner = ", ".join(f"{_q(f['name'])} {duckdb_type(f)}" for f in spec.get("fields", []))
        base = f"STRUCT({inner})"
    elif kind in DUCKDB_TYPES:
        base = DUCKDB_TYPES[kind]
    else:
        raise _invalid(f"Invalid field type {kind!r} for field {spec.get('name')!r}")
    return base + ("[]" if spec.get("mode") == "REPEATED" else "")


def _micros(value: dt.datetime) -> int:
    return (value - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


def _float_text(value: float) -> str:
    special = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
    return special.get(repr(value), repr(value))


# fmt: off
CELL_ENCODERS: dict[str, Callable[[Any], str]] = {
    "BOOLEAN": lambda v: "true" if v else "false", "FLOAT": _float_text,
    "NUMERIC": lambda v: format(v, "f"), "BYTES": lambda v: base64.b64encode(v).decode(),
    "DATE": dt.date.isoformat, "TIME": dt.time.isoformat, "DATETIME": dt.datetime.isoformat,
}
# fmt: on


def _cell(value: Any, spec: dict[str, Any], int64_ts: bool) -> Any:
    """One value in the JSON wire format of ``tabledata.list`` / ``getQueryResults``."""
    if spec.get("mode") == "REPEATED":
        scalar = spec | {"mode": "NULLABLE"}
        return [{"v": _cell(v, scalar, int64_ts)} for v in value or []]
    if value is None:
        return None
    if spec["type"] == "RECORD":
        return {"f": [{"v": _cell(value.get(f["name"]), f, int64_ts)} for f in spec["fields"]]}
    if spec["type"] == "TIMESTAMP":
        micros = _micros(value)
        text = f"{Decimal(micros).scaleb(-6).normalize():E}".replace("E+", "E")
        return str(micros) if int64_ts else text
    return CELL_ENCODERS.get(spec["type"], str)(value)


def encode_rows(table: pa.Table, fields: list[dict[str, Any]], int64_ts: bool) -> list[Any]:
    """Arrow rows as ``[{"f": [{"v": …}, …]}, …]``."""
    return [
        {"f": [{"v": _cell(row[f["name"]], f, int64_ts)} for f in fields]}
        for row in table.to_pylist()
    ]


def _csv_text(value: Any, spec: dict[str, Any]) -> str:
    if value is None:
        return ""
    if spec["type"] == "TIMESTAMP":
        fraction = f".{value.microsecond:06d}" if value.microsecond else ""
        return f"{value:%Y-%m-%d %H:%M:%S}{fraction} UTC"
    return CELL_ENCODERS.get(spec["type"], str)(value)


# -- the double --------------------------------------------------------------


class BigQueryDouble(APIDouble):
    """The server; use as a context manager, or :meth:`start` and :meth:`stop`.

    Its ``url`` is the client's ``api_endpoint``. ``storage`` receives
    extracted files: a ``google.cloud.storage.Client`` or a callable
    ``write(uri, data)``; every extracted file is also kept in :attr:`extracted`
    (``gs://…`` URI → bytes). ``page_rows`` is the page size when a request
    gives no ``maxResults``.
    """

    api = "BigQuery"

    def __init__(
        self,
        project: str = "test-project",
        *,
        database: str | Path = ":memory:",
        storage: Any = None,
        page_rows: int = 100_000,
        min_bytes_billed: int = 10 * MIB,
    ) -> None:
        self.project, self.storage = project, storage
        self.page_rows, self.min_bytes_billed = page_rows, min_bytes_billed
        self.requests: list[Recorded] = []
        self.extracted: dict[str, bytes] = {}
        self.bugs: list[str] = []  # answers the double got wrong; stopping then fails
        self.jobs: dict[str, _Job] = {}
        self._uploads: dict[str, tuple[dict[str, Any], bytearray]] = {}
        self._con = duckdb.connect(str(database))
        self._case_insensitive: set[str] = set()  # datasets with isCaseInsensitive
        self._aliases: dict[tuple[str, str], str] = {}  # (dataset, DuckDB name) -> table name
        self._insert_ids: set[str] = set()  # tabledata.insertAll rows already stored
        self._con.execute("SET TimeZone = 'UTC'")
        self._tmp = tempfile.TemporaryDirectory(prefix="bigquery-double-")
        self._lock = threading.RLock()
        self._http = LocalHTTPServer(_handler(self))

    # -- lifecycle and test helpers --

    @property
    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the double's database, for assertions between requests."""
        return self._con.cursor()

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._con.close()
            self._tmp.cleanup()

    def reset(self) -> None:
        """Drop every dataset; forget jobs, uploads, extracted files and requests."""
        with self._lock:
            for name in self._datasets():
                self._con.execute(f"DROP SCHEMA {_q(name)} CASCADE")
            for state in (self.requests, self.jobs, self._uploads, self.extracted, self._aliases,
                          self._insert_ids):  # fmt: skip
                state.clear()
            self._case_insensitive.clear()

    def create_dataset(self, dataset: str, *, case_insensitive: bool = False) -> None:
        """Create a dataset (a DuckDB schema) if it is missing.

        ``case_insensitive``: its table names ignore case (BigQuery's ``isCaseInsensitive``).
        """
        with self._lock:
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(_check_name(dataset))}")
            if case_insensitive:
                self._case_insensitive.add(dataset)

    def create_table(self, table: str, data: Any, *, schema: list[Any] | None = None) -> None:
        """Create or replace ``dataset.table`` (and its dataset) from a DataFrame or Arrow table.

        ``schema``: BigQuery fields (dicts or ``SchemaField``); else Arrow's types.
        """
        dataset, name = self._split(table)
        self.create_dataset(dataset)
        if not isinstance(data, pa.Table):
            data = pa.Table.from_pandas(data, preserve_index=False)
        fields = [f.to_api_repr() if hasattr(f, "to_api_repr") else f for f in schema or []]
        with self._lock, self._registered(data) as source:
            self._publish(dataset, name, source, fields or None, "WRITE_TRUNCATE")

    def read_table(self, table: str) -> pa.Table:
        """The rows of ``dataset.table``, as Arrow."""
        dataset, name = self._split(table)
        with self._lock:
            self._require(dataset, name)
            return self._con.sql(f"SELECT * FROM {self._ref(dataset, name)}").to_arrow_table()

    def _split(self, table: str) -> tuple[str, str]:
        parts = table.removeprefix(f"{self.project}.").split(".")
        if len(parts) != 2:
            raise ValueError(f"give the table as 'dataset.table', not {table!r}")
        return _check_name(parts[0]), _check_name(parts[1])

    @contextlib.contextmanager
    def _registered(self, data: pa.Table) -> Iterator[str]:
        self._con.register("__bq_source", data)
        try:
            yield "__bq_source"
        finally:
            self._con.unregister("__bq_source")

    # -- catalogue --

    def _value(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        """The first value of the first row of a query."""
        return self._con.sql(sql, params=params).fetchall()[0][0]

    def _datasets(self) -> list[str]:
        rows = self._con.sql("SELECT schema_name FROM information_schema.schemata").fetchall()
        return sorted({r[0] for r in rows} - _HIDDEN_SCHEMAS)

    def _duckdb_tables(self, dataset: str) -> list[str]:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = $d"
        return [r[0] for r in self._con.sql(sql, params={"d": dataset}).fetchall()]

    def duckdb_name(self, dataset: str, table: str) -> str | None:
        """The DuckDB table holding BigQuery table ``dataset.table``, or None."""
        fold = dataset in self._case_insensitive
        for duck in self._duckdb_tables(dataset):
            name = self._aliases.get((dataset, duck), duck)
            if name == table or (fold and name.lower() == table.lower()):
                return duck
        return None

    def _new_duckdb_name(self, dataset: str, table: str) -> str:
        """A DuckDB name for a new table: its own, unless another differs only in case."""
        if table.lower() not in {t.lower() for t in self._duckdb_tables(dataset)}:
            return table
        duck = f"{table}__case_{uuid.uuid4().hex[:8]}"
        self._aliases[(dataset, duck)] = table
        return duck

    def _ref(self, dataset: str, table: str) -> str:
        """``"dataset"."duckdb table"`` for an existing BigQuery table."""
        return f"{_q(dataset)}.{_q(self.duckdb_name(dataset, table) or table)}"

    def _exists(self, dataset: str, table: str) -> bool:
        return self.duckdb_name(dataset, table) is not None

    def _require(self, dataset: str, table: str | None = None, where: str = "") -> None:
        """Raise BigQuery's 404 unless the dataset (and table) exist."""
        if dataset not in self._datasets():
            raise BigQueryApiError(
                "notFound", f"Not found: Dataset {self.project}:{dataset}{where}"
            )
        if table is not None and not self._exists(dataset, table):
            name = f"{self.project}:{dataset}.{table}"
            raise BigQueryApiError("notFound", f"Not found: Table {name}{where}")

    def _count(self, dataset: str, table: str) -> int:
        return int(self._value(f"SELECT COUNT(*) FROM {self._ref(dataset, table)}"))

    def _table_fields(self, dataset: str, table: str) -> list[dict[str, Any]]:
        arrow = self._con.sql(f"SELECT * FROM {self._ref(dataset, table)} LIMIT 0").to_arrow_table()
        required = self._con.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $d "
            "AND table_name = $t AND is_nullable = 'NO'",
            params={"d": dataset, "t": self.duckdb_name(dataset, table) or table},
        ).fetchall()
        return schema_fields(arrow.schema, [r[0] for r in required])

    def _table_bytes(self, dataset: str, table: str, columns: set[str] | None) -> int:
        described = self._con.sql(f"DESCRIBE {self._ref(dataset, table)}").fetchall()
        parts = [_column_bytes_sql(name, kind) for name, kind, *_ in described
                 if columns is None or name.lower() in columns]  # fmt: skip
        total = f"SELECT {' + '.join(parts)} FROM {self._ref(dataset, table)}"
        return int(self._value(total) or 0) if parts else 0

    def _publish(
        self,
        dataset: str,
        table: str,
        source: str,
        fields: Any,
        write: str,
        create: str = "",
        widen: Iterable[str] = (),
    ) -> int:
        """Write ``source`` (a FROM item) into a table in one transaction; the rows written.

        ``widen``: statements adding fields to an existing table first (same transaction).
        """
        exists = self._exists(dataset, table)
        duck = self.duckdb_name(dataset, table) if exists else self._new_duckdb_name(dataset, table)
        target = f"{_q(dataset)}.{_q(duck or table)}"
        name = f"{self.project}:{dataset}.{table}"
        if write not in ("WRITE_EMPTY", "WRITE_APPEND", "WRITE_TRUNCATE"):
            raise _invalid(f"Invalid write disposition {write!r}")
        if not exists and create == "CREATE_NEVER":
            raise BigQueryApiError("notFound", f"Not found: Table {name}")
        before = self._count(dataset, table) if exists and write != "WRITE_TRUNCATE" else 0
        if write == "WRITE_EMPTY" and before:
            raise BigQueryApiError("duplicate", f"Already Exists: Table {name}")
        if exists and write != "WRITE_TRUNCATE":
            statements = [*widen, f"INSERT INTO {target} BY NAME SELECT * FROM {source}"]
        elif fields is not None:
            columns = ", ".join(f"{_q(f['name'])} {duckdb_type(f)}"
                                + (" NOT NULL" if f.get("mode") == "REQUIRED" else "")
                                for f in fields)  # fmt: skip
            statements = [f"CREATE OR REPLACE TABLE {target} ({columns})",
                          f"INSERT INTO {target} BY NAME SELECT * FROM {source}"]  # fmt: skip
        else:
            statements = [f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {source}"]
        self._con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                self._con.execute(statement)
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                self._con.execute("ROLLBACK")
            raise _invalid(f"Error while writing table {name}: {exc}") from exc
        return self._count(dataset, table) - before

    # -- jobs --

    def insert_job(self, body: dict[str, Any], media: bytes | None = None) -> dict[str, Any]:
        """``jobs.insert`` (and the upload endpoint, with ``media``): the job resource."""
        config = body.get("configuration") or {}
        kinds = [k for k in ("query", "load", "extract", "copy") if k in config]
        if len(kinds) != 1 or kinds[0] == "copy":
            raise _not_modelled(f"job configuration {sorted(config)}")
        if (kinds[0] == "load") != (media is not None):
            raise _invalid("load jobs need an upload (the double reads no gs:// source)")
        if kinds[0] == "query":
            return self._query_job(body, config, bool(config.get("dryRun")))[0]
        if kinds[0] == "load":
            self._require((config["load"].get("destinationTable") or {}).get("datasetId", ""))
        job = self._new_job(body, kinds[0], config)
        if media is not None:
            self._run(job, lambda: self._load(config["load"], media))
        else:
            self._run(job, lambda: self._extract(config["extract"]))
        return job.resource

    def _new_job(self, body: dict[str, Any], kind: str, config: dict[str, Any]) -> _Job:
        job_id = (body.get("jobReference") or {}).get("jobId") or f"job_{uuid.uuid4().hex}"
        name = f"{self.project}:{LOCATION}.{job_id}"
        if job_id in self.jobs:
            raise BigQueryApiError("duplicate", f"Already Exists: Job {name}")
        now = str(int(time.time() * 1000))
        self.jobs[job_id] = _Job({
            "kind": "bigquery#job",
            "id": name,
            "jobReference": {"projectId": self.project, "jobId": job_id, "location": LOCATION},
            "configuration": config | {"jobType": kind.upper()},
            "status": {"state": "DONE"},
            "statistics": {"creationTime": now, "startTime": now, "endTime": now},
        })  # fmt: skip
        return self.jobs[job_id]

    def _job(self, job_id: str) -> _Job:
        if job_id not in self.jobs:
            raise BigQueryApiError("notFound", f"Not found: Job {self.project}:{LOCATION}.{job_id}")
        return self.jobs[job_id]

    def _run(self, job: _Job, work: Callable[[], dict[str, Any]]) -> None:
        """Do a job's work; its statistics, or its ``errorResult`` when it fails."""
        try:
            job.resource["statistics"] |= work()
        except BigQueryApiError as exc:
            job.error = exc
            job.resource["status"] |= {"errorResult": exc.proto(), "errors": [exc.proto()]}

    def _query_job(
        self, body: dict[str, Any], config: dict[str, Any], dry_run: bool
    ) -> tuple[dict[str, Any], _Job | None]:
        """Check a query job's configuration, then dry-run it or run it as a job."""
        query = config["query"]
        if query.get("useLegacySql", True) is not False:
            raise _invalid("The BigQuery double runs GoogleSQL only: set useLegacySql false")
        if not isinstance(query.get("query"), str):
            raise _invalid("Required parameter is missing: query")
        params = parse_parameters(query)
        if dry_run:
            prepared, processed, _ = self._plan(query, params)
            relation = self._con.sql(prepared.sql, params=prepared.bound).limit(0)
            stats = _query_stats(processed, 0, schema_fields(relation.to_arrow_table().schema))
            return {"kind": "bigquery#job", "status": {"state": "DONE"}, "statistics": stats,
                    "jobReference": {"projectId": self.project, "location": LOCATION},
                    "configuration": config | {"dryRun": True}}, None  # fmt: skip
        job = self._new_job(body, "query", config)
        job.resource["statistics"] |= _query_stats(0, 0, [])
        self._run(job, lambda: self._execute(job, query, params))
        return job.resource, job

    def _plan(
        self, query: dict[str, Any], params: dict[str, _Parameter]
    ) -> tuple[_Prepared, int, int]:
        """The DuckDB statement, the bytes it processes and the bytes it bills."""
        default = (query.get("defaultDataset") or {}).get("datasetId")
        prepared = prepare_sql(
            query["query"], params, self.project, default, lambda d, t: self.duckdb_name(d, t) or t
        )
        for dataset, table in prepared.tables:
            self._require(dataset, table, f" was not found in location {LOCATION}")
        try:  # like BigQuery, a dry run validates the query: unknown columns are invalidQuery
            self._con.sql(prepared.sql, params=prepared.bound).limit(0).to_arrow_table()
            per_table = [self._table_bytes(d, t, prepared.columns) for d, t in prepared.tables]
        except duckdb.Error as exc:
            raise BigQueryApiError("invalidQuery", f"DuckDB: {exc}") from exc
        billed = [
            0 if b == 0 else max(self.min_bytes_billed, -(-b // MIB) * MIB) for b in per_table
        ]
        return prepared, sum(per_table), sum(billed)

    def _execute(
        self, job: _Job, query: dict[str, Any], params: dict[str, _Parameter]
    ) -> dict[str, Any]:
        prepared, processed, billed = self._plan(query, params)
        cap = query.get("maximumBytesBilled")
        if cap is not None and billed > int(cap):
            raise BigQueryApiError(
                "bytesBilledLimitExceeded",
                f"Query exceeded limit for bytes billed: {int(cap)}. {billed} or higher required.",
            )
        try:
            result = self._con.sql(prepared.sql, params=prepared.bound).to_arrow_table()
        except duckdb.Error as exc:
            raise BigQueryApiError("invalidQuery", f"DuckDB: {exc}") from exc
        if dest := query.get("destinationTable"):
            self._require(dest.get("datasetId", ""))
            with self._registered(result) as source:
                write = query.get("writeDisposition", "WRITE_EMPTY")
                create = query.get("createDisposition", "")
                self._publish(dest["datasetId"], _check_name(dest.get("tableId")), source,
                              None, write, create)  # fmt: skip
        job.result, job.fields = result, schema_fields(result.schema)
        return _query_stats(processed, billed, job.fields)

    def _load(self, load: dict[str, Any], media: bytes) -> dict[str, Any]:
        dest = load.get("destinationTable") or {}
        dataset, table = dest.get("datasetId", ""), _check_name(dest.get("tableId"))
        fields, write = (load.get("schema") or {}).get("fields"), load.get("writeDisposition")
        write = write or "WRITE_APPEND"
        path = Path(self._tmp.name) / f"{uuid.uuid4().hex}.upload"
        path.write_bytes(media)
        try:
            appending = self._exists(dataset, table) and write != "WRITE_TRUNCATE"
            widen = self._widening(dataset, table, fields, load) if appending and fields else []
            source = self._load_source(load, path, fields, appending and f"{dataset}.{table}")
            create = load.get("createDisposition", "")
            rows = self._publish(dataset, table, source, fields, write, create, widen)
        finally:
            path.unlink()
        return {"load": {"inputFiles": "1", "inputFileBytes": str(len(media)),
                         "outputRows": str(rows), "outputBytes": "0"}}  # fmt: skip

    def _widening(
        self, dataset: str, table: str, fields: list[dict[str, Any]], load: dict[str, Any]
    ) -> list[str]:
        """The statements that give the table a load's new fields, or BigQuery's refusal.

        A load's schema must hold every field of the table, with its type and
        mode; fields it adds (nested ones too) need ``ALLOW_FIELD_ADDITION``.
        """
        name = f"{self.project}:{dataset}.{table}"
        added, problems = _schema_diff(self._table_fields(dataset, table), fields)
        if problems:
            raise _invalid(f"Provided Schema does not match Table {name}. {problems[0]}")
        if added and "ALLOW_FIELD_ADDITION" not in (load.get("schemaUpdateOptions") or []):
            raise _invalid(
                f"Provided Schema does not match Table {name}. Cannot add fields "
                f"(field: {added[0]})"
            )
        target = self._ref(dataset, table)
        have = {f["name"].lower() for f in self._table_fields(dataset, table)}
        tops = {a.split(".")[0].lower() for a in added}
        return [
            f"ALTER TABLE {target} ADD COLUMN {_q(f['name'])} {duckdb_type(f)}"
            if f["name"].lower() not in have
            else f"ALTER TABLE {target} ALTER COLUMN {_q(f['name'])} TYPE {duckdb_type(f)}"
            for f in fields
            if f["name"].lower() in tops
        ]

    def _load_source(self, load: dict[str, Any], path: Path, fields: Any, existing: Any) -> str:
        """A DuckDB FROM item reading the uploaded file in its ``sourceFormat``."""
        kind, where = load.get("sourceFormat", "CSV"), _sq(str(path))
        if kind == "PARQUET":
            return f"read_parquet({where})"
        if kind != "NEWLINE_DELIMITED_JSON":
            raise _not_modelled(f"sourceFormat {kind}")
        if fields:
            columns = {f["name"]: duckdb_type(f) for f in fields}
        elif existing:
            described = self._con.sql(f"DESCRIBE {self._ref(*existing.split('.'))}")
            columns = {name: kind for name, kind, *_ in described.fetchall()}
        elif load.get("autodetect"):
            return f"read_json_auto({where}, format = 'newline_delimited')"
        else:
            raise _invalid("No schema specified on job or table.")
        spec = ", ".join(f"{_sq(k)}: {_sq(v)}" for k, v in columns.items())
        return f"read_json({where}, format = 'newline_delimited', columns = {{{spec}}})"

    def _extract(self, extract: dict[str, Any]) -> dict[str, Any]:
        source = extract.get("sourceTable") or {}
        dataset, table = source.get("datasetId", ""), source.get("tableId", "")
        self._require(dataset, table)
        kind, uris = extract.get("destinationFormat", "CSV"), extract.get("destinationUris") or []
        if kind != "CSV" or extract.get("compression", "NONE") != "NONE":
            raise _not_modelled(f"extract to {kind} with compression {extract.get('compression')}")
        if not uris or not all(re.fullmatch(r"gs://[\w.-]+/.+", u) for u in uris):
            raise _invalid(f"destinationUris must be gs://bucket/object URIs, got {uris}")
        fields = self._table_fields(dataset, table)
        nested = [f["name"] for f in fields if f["type"] == "RECORD" or f["mode"] == "REPEATED"]
        if nested:
            raise _invalid(f"Operation cannot be performed on a nested schema. Field: {nested[0]}")
        buffer = io.StringIO()
        delimiter = extract.get("fieldDelimiter", ",")
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
        if extract.get("printHeader", True):
            writer.writerow([f["name"] for f in fields])
        for row in self.read_table(f"{dataset}.{table}").to_pylist():
            writer.writerow([_csv_text(row[f["name"]], f) for f in fields])
        data = buffer.getvalue().encode()
        self._write_object(uris[0].replace("*", "000000000000", 1), data)
        return {"extract": {"destinationUriFileCounts": ["1"], "inputBytes": str(len(data))}}

    def _write_object(self, uri: str, data: bytes) -> None:
        self.extracted[uri] = data
        if callable(self.storage):
            self.storage(uri, data)
        elif self.storage is not None:
            bucket, _, name = uri.removeprefix("gs://").partition("/")
            self.storage.bucket(bucket).blob(name).upload_from_string(data, content_type="text/csv")

    def _page(
        self, table: pa.Table, fields: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> dict[str, Any]:
        """One page of rows, per ``maxResults``, ``pageToken`` and ``startIndex``."""
        token, start = _first(query, "pageToken"), int(_first(query, "startIndex") or 0)
        if token is not None:
            if not re.fullmatch(r"row-\d+", token):
                raise _invalid(f"Invalid page token {token!r}")
            start = int(token[4:])
        end = min(start + int(_first(query, "maxResults") or self.page_rows), table.num_rows)
        int64_ts = (_first(query, "formatOptions.useInt64Timestamp") or "").lower() == "true"
        page: dict[str, Any] = {"totalRows": str(table.num_rows)}
        if end > start:
            page["rows"] = encode_rows(table.slice(start, end - start), fields, int64_ts)
        if end < table.num_rows:
            page["pageToken"] = f"row-{end}"
        return page

    # -- REST calls: each takes the request and the path's groups --

    def handle(self, rec: Recorded) -> _Reply:
        """Answer one recorded request (called under the lock)."""
        call = _checked(rec)
        for method, pattern, name in ROUTES:
            match = pattern.fullmatch(rec.path)
            if match and method == rec.method:
                groups = match.groupdict()
                if groups.pop("project") != self.project:
                    raise BigQueryApiError("notFound", f"Not found: Project {match['project']}")
                answer = getattr(self, name)(rec, **groups)
                reply = answer if isinstance(answer, _Reply) else _Reply(200, answer)
                if call is not None and reply.status == 200 and reply.body is not None:
                    reply.body = API.check_response(call, reply.body)
                return reply
        raise _not_modelled(f"{rec.method} {rec.path}")

    def _post_jobs(self, rec: Recorded) -> dict[str, Any]:
        return self.insert_job(rec.body or {})

    def _get_job(self, rec: Recorded, job: str) -> dict[str, Any]:
        return self._job(job).resource

    def _post_queries(self, rec: Recorded) -> dict[str, Any]:
        body = rec.body or {}
        query = {k: v for k, v in body.items() if k not in QUERY_REQUEST_ONLY}
        resource, job = self._query_job({}, {"query": query}, bool(body.get("dryRun")))
        if job is None:
            stats = resource["statistics"]
            return {"kind": "bigquery#queryResponse", "jobComplete": True, "cacheHit": False,
                    "schema": stats["query"]["schema"],
                    "totalBytesProcessed": stats["totalBytesProcessed"]}  # fmt: skip
        int64_ts = (body.get("formatOptions") or {}).get("useInt64Timestamp", False)
        options = {"formatOptions.useInt64Timestamp": [str(int64_ts)]}
        if "maxResults" in body:
            options["maxResults"] = [str(body["maxResults"])]
        return self._results(job, options) | {"kind": "bigquery#queryResponse"}

    def _get_results(self, rec: Recorded, job: str) -> dict[str, Any]:
        return self._results(self._job(job), rec.query)

    def _results(self, job: _Job, params: dict[str, list[str]]) -> dict[str, Any]:
        if job.error is not None:
            raise job.error
        if job.result is None:
            raise _invalid(f"Job {job.resource['id']} is not a query job")
        body = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job.resource["jobReference"],
            "jobComplete": True,
            "schema": {"fields": job.fields},
            "totalBytesProcessed": job.resource["statistics"]["totalBytesProcessed"],
            "cacheHit": False,
        } | self._page(job.result, job.fields, params)
        return body

    def _get_dataset(self, rec: Recorded, dataset: str) -> dict[str, Any]:
        self._require(dataset)
        return {
            "kind": "bigquery#dataset",
            "id": f"{self.project}:{dataset}",
            "datasetReference": {"projectId": self.project, "datasetId": dataset},
            "location": LOCATION,
            "isCaseInsensitive": dataset in self._case_insensitive,
        }

    def _get_table(self, rec: Recorded, dataset: str, table: str) -> dict[str, Any]:
        self._require(dataset, table)
        now = str(int(time.time() * 1000))
        return {
            "kind": "bigquery#table",
            "id": f"{self.project}:{dataset}.{table}",
            "tableReference": {"projectId": self.project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": self._table_fields(dataset, table)},
            "numRows": str(self._count(dataset, table)),
            "numBytes": str(self._table_bytes(dataset, table, None)),
            "type": "TABLE",
            "location": LOCATION,
            "creationTime": now,
            "lastModifiedTime": now,
        }

    def _delete_table(self, rec: Recorded, dataset: str, table: str) -> _Reply:
        self._require(dataset, table)
        duck = self.duckdb_name(dataset, table) or table
        self._con.execute(f"DROP TABLE {_q(dataset)}.{_q(duck)}")
        self._aliases.pop((dataset, duck), None)
        return _Reply(204, None)

    def _list_data(self, rec: Recorded, dataset: str, table: str) -> dict[str, Any]:
        self._require(dataset, table)
        fields = self._table_fields(dataset, table)
        if selected := _first(rec.query, "selectedFields"):
            fields = [f for f in fields if f["name"] in selected.split(",")]
        data = self.read_table(f"{dataset}.{table}")
        return {"kind": "bigquery#tableDataList"} | self._page(data, fields, rec.query)

    def _insert_all(self, rec: Recorded, dataset: str, table: str) -> dict[str, Any]:
        """``tabledata.insertAll``: the rows are readable at once; an ``insertId`` seen
        before is not stored again (BigQuery's best-effort de-duplication)."""
        self._require(dataset, table)
        rows = [r for r in (rec.body or {}).get("rows", [])
                if r.get("insertId") is None or r["insertId"] not in self._insert_ids]  # fmt: skip
        if rows:
            data = pa.Table.from_pylist([r.get("json") or {} for r in rows])
            with self._registered(data) as source:
                self._publish(dataset, table, source, None, "WRITE_APPEND")
            self._insert_ids.update(r["insertId"] for r in rows if r.get("insertId"))
        return {"kind": "bigquery#tableDataInsertAllResponse"}

    def _post_upload(self, rec: Recorded) -> dict[str, Any] | _Reply:
        kind = _first(rec.query, "uploadType")
        if kind == "resumable":
            upload_id = uuid.uuid4().hex
            self._uploads[upload_id] = (rec.body or {}, bytearray())
            where = f"{self.url}{rec.path}?uploadType=resumable&upload_id={upload_id}"
            return _Reply(200, None, {"Location": where})
        if kind != "multipart":
            raise _not_modelled(f"uploadType {kind!r}")
        metadata, rec.media = _multipart(rec.headers.get("content-type", ""), rec.media or b"")
        rec.body = _api_call(lambda: API.check_body(API.match(rec.method, rec.path)[0],
                                                    metadata, UPLOAD_METADATA))  # fmt: skip
        return self.insert_job(rec.body, rec.media)

    def _put_upload(self, rec: Recorded) -> dict[str, Any] | _Reply:
        upload_id = _first(rec.query, "upload_id") or ""
        if upload_id not in self._uploads:
            raise BigQueryApiError("notFound", f"Not found: Upload {upload_id}")
        metadata, data = self._uploads[upload_id]
        span = rec.headers.get("content-range", "")
        match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", span)
        if match is None or (match[1] is not None and int(match[1]) != len(data)):
            raise _invalid(f"Content-Range {span!r} does not continue the upload at {len(data)}")
        data.extend(rec.media or b"")
        if match[3] == "*" or len(data) < int(match[3]):
            return _Reply(308, None, {"Range": f"bytes=0-{len(data) - 1}"} if data else {})
        del self._uploads[upload_id]
        return self.insert_job(metadata, bytes(data))


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


_P = r"/bigquery/v2/projects/(?P<project>[^/]+)"
_T = _P + r"/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/]+)"
ROUTES = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("POST", _P + "/jobs", "_post_jobs"),
        ("GET", _P + r"/jobs/(?P<job>[^/]+)", "_get_job"),
        ("POST", _P + "/queries", "_post_queries"),
        ("GET", _P + r"/queries/(?P<job>[^/]+)", "_get_results"),
        ("GET", _P + r"/datasets/(?P<dataset>[^/]+)", "_get_dataset"),
        ("GET", _T, "_get_table"),
        ("DELETE", _T, "_delete_table"),
        ("GET", _T + "/data", "_list_data"),
        ("POST", _T + "/insertAll", "_insert_all"),
        ("POST", "/upload" + _P + "/jobs", "_post_upload"),
        ("PUT", "/upload" + _P + "/jobs", "_put_upload"),
    ]
]
# jobs.query request fields that are not query configuration.
QUERY_REQUEST_ONLY = {"kind", "dryRun", "formatOptions", "maxResults", "timeoutMs", "location",
                      "requestId", "jobCreationMode", "preserveNulls"}  # fmt: skip


def _api_call(check: Callable[[], Any]) -> Any:
    """Run a discovery check; its refusal as BigQuery's error."""
    try:
        return check()
    except DiscoveryError as exc:
        reason = {404: "notFound", 501: "notImplemented"}.get(exc.status, "invalid")
        raise BigQueryApiError(reason, str(exc)) from exc


def _checked(rec: Recorded) -> ApiCall | None:
    """Check ``rec`` against the API description (``rec.body`` normalised); None when it
    continues a resumable upload, a session URI the description does not cover."""
    if rec.method == "PUT" and "upload_id" in rec.query:
        return None
    multipart = _first(rec.query, "uploadType") == "multipart"
    call: ApiCall = _api_call(lambda: API.check_request(
        rec.method, rec.path, rec.query, rec.body, check_body=not multipart,
        waive=UPLOAD_METADATA if rec.path.startswith("/upload/") else frozenset(),
    ))  # fmt: skip
    if not multipart:
        rec.body = call.body
    return call


def _multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON metadata and the media of a ``multipart/related`` upload."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    parts = raw.split(b"--" + match[1].encode()) if match else []
    if not content_type.startswith("multipart/related") or len(parts) < 4:
        raise _invalid("a multipart upload needs multipart/related with metadata and media")
    metadata, media = (p.partition(b"\r\n\r\n")[2].removesuffix(b"\r\n") for p in parts[1:3])
    try:
        return json.loads(metadata), media
    except ValueError as exc:
        raise _invalid("Invalid JSON payload received in the upload metadata.") from exc


def _handler(double: BigQueryDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(JSONHandler):
        def _serve(self) -> None:
            rec, raw = read_request(self)
            with double._lock:
                double.requests.append(rec)
                try:
                    _read_body(rec, raw)
                    reply = double.handle(rec)
                except BigQueryApiError as exc:
                    reply = _Reply(exc.status, exc.to_json())
                except Exception as exc:  # a bug here: 501 is not retried by the client
                    logger.exception("the BigQuery double failed on %s %s", rec.method, rec.path)
                    double.bugs.append(f"{rec.method} {rec.path}: {exc!r}")
                    error = BigQueryApiError("notImplemented", f"BigQuery double bug: {exc!r}")
                    reply = _Reply(501, error.to_json())
                rec.status = reply.status
            self.send_json(reply.status, reply.body, reply.headers)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


def _read_body(rec: Recorded, raw: bytes) -> None:
    if not raw:
        return
    if rec.headers.get("content-type", "").startswith("application/json"):
        try:
            rec.body = json.loads(raw)
        except ValueError as exc:
            raise _invalid("Invalid JSON payload received.") from exc
    else:
        rec.media = raw


def _query_stats(processed: int, billed: int, fields: list[dict[str, Any]]) -> dict[str, Any]:
    query = {"totalBytesProcessed": str(processed), "totalBytesBilled": str(billed),
             "cacheHit": False, "statementType": "SELECT",
             "schema": {"fields": fields}}  # fmt: skip
    return {"totalBytesProcessed": str(processed), "query": query}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _invalid(f"Invalid dataset or table ID {name!r}")
    return name


def _first(query: dict[str, list[str]], key: str) -> str | None:
    return query.get(key, [None])[0]
