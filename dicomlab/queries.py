"""Canned BigQuery queries, loaded from ``.sql`` files and translated without I/O.

Each file in :func:`queries_dir` holds one BigQuery Standard SQL query that can
be pasted into the BigQuery console as it stands. It reads the conventional
table ``dicom_metadata`` and takes named ``@parameters``; a header names the
query and declares each parameter with its BigQuery type (``-- note:`` lines
may follow)::

    -- name: latest_studies
    -- description: The reading worklist: newest studies first, with instance counts.
    -- param: limit INT64 How many studies to return.

The table name is swapped on sqlglot's syntax tree, from a validated
identifier. Parameter values are never written into SQL: the engine binds them
(``@limit`` on BigQuery, ``$limit`` on DuckDB) after :meth:`CannedQuery.bind`
has checked them.

>>> q = load_query("latest_studies")
>>> [(p.name, p.type) for p in q.parameters]
[('limit', 'INT64')]
>>> q.bind({"limit": 5})
{'limit': 5}
>>> "LIMIT $limit" in q.to_duckdb("dicom_metadata")
True

On DuckDB, ``CONCAT`` and ``CAST(... AS STRING)`` print TIME and TIMESTAMP
values as BigQuery does, with 0, 3 or 6 fractional digits (``07:59:11``,
``07:59:11.500``, ``07:59:11.123456``) instead of DuckDB's trimmed
``07:59:11.5``. TIMESTAMP WITH TIME ZONE values keep DuckDB's form.
"""

from __future__ import annotations

import datetime as dt
import functools
import numbers
import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from dicomlab.errors import InvalidIdentifierError, NotFoundError, QueryError
from dicomlab.resources import BigQueryTable, validate_table_name

__all__ = [
    "TABLE_PLACEHOLDER",
    "CannedQuery",
    "QueryParameter",
    "list_queries",
    "load_query",
    "parse_query",
    "queries_dir",
    "translate",
]

TABLE_PLACEHOLDER = "dicom_metadata"
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_HEADER_RE = re.compile(r"--\s*(name|description|param|note):\s*(.*?)\s*")
_PARAM_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s+(\S+)\s+(\S.*)")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{1,6})?")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?")


def _from_text(v: object, pattern: re.Pattern[str], parse: Callable[[str], object]) -> object:
    if isinstance(v, str) and pattern.fullmatch(v):
        return parse(v)  # may raise ValueError, e.g. for 2024-02-30
    raise TypeError


def _to_str(v: object) -> object:
    if isinstance(v, str):
        return str(v)
    raise TypeError


def _to_int(v: object) -> object:
    if isinstance(v, numbers.Integral) and not _is_bool(v):
        return int(v)
    raise TypeError


def _to_float(v: object) -> object:
    if isinstance(v, numbers.Real) and not _is_bool(v):
        return float(v)
    raise TypeError


def _to_numeric(v: object) -> object:
    if isinstance(v, Decimal) or (isinstance(v, numbers.Integral) and not _is_bool(v)):
        return Decimal(int(v) if isinstance(v, numbers.Integral) else v)
    raise TypeError


def _is_bool(v: object) -> bool:
    # numpy.bool_ is not a bool subclass; recognise it by its dtype kind.
    return isinstance(v, bool) or getattr(getattr(v, "dtype", None), "kind", "") == "b"


def _to_bool(v: object) -> object:
    if _is_bool(v):
        return bool(v)
    raise TypeError


def _to_bytes(v: object) -> object:
    if isinstance(v, bytes):
        return bytes(v)
    raise TypeError


def _to_date(v: object) -> object:
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    return _from_text(v, _DATE_RE, dt.date.fromisoformat)


def _to_time(v: object) -> object:
    return v if isinstance(v, dt.time) else _from_text(v, _TIME_RE, dt.time.fromisoformat)


def _to_datetime(v: object) -> object:
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        return v
    return _from_text(v, _DATETIME_RE, dt.datetime.fromisoformat)


def _to_timestamp(v: object) -> object:
    return v if isinstance(v, dt.datetime) else _to_datetime(v)


# BigQuery parameter type -> (what a caller may pass, coercion raising TypeError/ValueError).
_SCALARS: dict[str, tuple[str, Callable[[object], object]]] = {
    "STRING": ("a str", _to_str),
    "INT64": ("an int", _to_int),
    "FLOAT64": ("an int or float", _to_float),
    "NUMERIC": ("a Decimal or int", _to_numeric),
    "BIGNUMERIC": ("a Decimal or int", _to_numeric),
    "BOOL": ("a bool", _to_bool),
    "BYTES": ("bytes", _to_bytes),
    "DATE": ("a datetime.date or 'YYYY-MM-DD'", _to_date),
    "TIME": ("a datetime.time or 'HH:MM:SS'", _to_time),
    "DATETIME": ("a naive datetime or 'YYYY-MM-DD HH:MM:SS'", _to_datetime),
    "TIMESTAMP": ("a datetime or 'YYYY-MM-DD HH:MM:SS'", _to_timestamp),
}
_ARRAY_RE = re.compile(rf"ARRAY<({'|'.join(_SCALARS)})>")


def _as_list(v: object) -> list[object]:
    """A list from a list, tuple, set, pandas Series/Index or numpy array."""
    if isinstance(v, (list, tuple, set, frozenset)):
        return list(v)
    items = v.tolist() if hasattr(v, "tolist") and not isinstance(v, (str, bytes)) else None
    if isinstance(items, list):
        return items
    raise TypeError


@dataclass(frozen=True)
class QueryParameter:
    """A named ``@parameter`` of a canned query, typed as BigQuery types it.

    >>> QueryParameter("limit", "INT64", "How many studies to return.").coerce(20)
    20
    """

    name: str
    type: str
    description: str

    def coerce(self, value: object) -> object:
        """Return ``value`` as the Python value to bind, or raise :class:`QueryError`."""
        array = _ARRAY_RE.fullmatch(self.type)
        hint, convert = _SCALARS[array.group(1) if array else self.type]
        try:
            if array is None:
                return convert(value)
            items = _as_list(value)
        except (TypeError, ValueError):
            wanted = f"a list of {hint.split(' or ')[0][2:]}s" if array else hint
            raise QueryError(
                f"parameter {self.name!r} is {self.type}: pass {wanted}, not "
                f"{type(value).__name__} {reprlib.repr(value)}"
            ) from None
        return [_item(self, i, item, convert, hint) for i, item in enumerate(items)]


def _item(param: QueryParameter, index: int, item: object,
          convert: Callable[[object], object], hint: str) -> object:
    try:
        return convert(item)
    except (TypeError, ValueError):
        raise QueryError(
            f"parameter {param.name!r} is {param.type}: item {index} should be {hint}, "
            f"not {type(item).__name__} {reprlib.repr(item)}"
        ) from None


@dataclass(frozen=True)
class CannedQuery:
    """A BigQuery query read from a ``.sql`` file, with its declared parameters.

    >>> q = load_query("patient_dicomweb_paths")
    >>> q.bind({"patient_id": "19045"})
    {'patient_id': '19045'}
    >>> "`my-project`.`imaging`.`dicom_metadata`" in q.to_bigquery("my-project.imaging.dicom_metadata")
    True
    """

    name: str
    description: str
    sql: str
    parameters: tuple[QueryParameter, ...]
    path: Path

    @property
    def signature(self) -> str:
        """The parameters as ``name TYPE, ...`` (``"no parameters"`` when there are none)."""
        return ", ".join(f"{p.name} {p.type}" for p in self.parameters) or "no parameters"

    def bind(self, params: Mapping[str, object]) -> dict[str, object]:
        """Check ``params`` against the declared parameters and return the values to bind.

        >>> load_query("latest_studies").bind({"limit": 10})
        {'limit': 10}
        """
        declared = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(declared))
        missing = [name for name in declared if name not in params]
        if unknown or missing:
            problems = [f"unknown: {', '.join(map(str, unknown))}"] if unknown else []
            problems += [f"missing: {', '.join(missing)}"] if missing else []
            raise QueryError(
                f"query {self.name!r} takes {self.signature} ({'; '.join(problems)})"
            )
        return {name: p.coerce(params[name]) for name, p in declared.items()}

    def to_bigquery(self, table: str | BigQueryTable) -> str:
        """The query reading ``table`` (``project.dataset.table``), parameters kept as ``@name``.

        >>> "`p-1234`.`ds`.`t`" in load_query("series_per_patient").to_bigquery("p-1234.ds.t")
        True
        """
        return translate(self.sql, table=table, dialect="bigquery")

    def to_duckdb(self, table: str = TABLE_PLACEHOLDER) -> str:
        """The query in DuckDB's dialect, reading ``table``, parameters as ``$name``.

        >>> "$patient_id" in load_query("patient_dicomweb_paths").to_duckdb("dicom")
        True
        """
        return translate(self.sql, table=table, dialect="duckdb")


def parse_query(text: str, path: str | Path = "<string>") -> CannedQuery:
    """Parse the text of a canned query file: header, then one BigQuery statement.

    >>> q = parse_query("-- name: one\\n-- description: One row.\\nSELECT 1 AS x")
    >>> q.name, q.parameters
    ('one', ())
    """
    path = Path(path)
    where = str(path)
    fields, params = _parse_header(text, where)
    for key in ("name", "description"):
        if not fields.get(key):
            raise QueryError(f"{where}: the header has no '-- {key}:' line")
    name = fields["name"]
    if _NAME_RE.fullmatch(name) is None or (path.suffix == ".sql" and name != path.stem):
        raise QueryError(f"{where}: query name {name!r} must be snake_case and match the file name")
    used = {p.name for p in _parse_bigquery(text).find_all(exp.Parameter)}
    declared = [p.name for p in params]
    if len(set(declared)) != len(declared) or used != set(declared):
        raise QueryError(
            f"{where}: the header declares {sorted(declared)} but the SQL uses {sorted(used)}"
        )
    return CannedQuery(name, fields["description"], text, tuple(params), path)


def _parse_header(text: str, where: str) -> tuple[dict[str, str], list[QueryParameter]]:
    fields: dict[str, str] = {}
    params: list[QueryParameter] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("--"):
            break
        match = _HEADER_RE.fullmatch(line.rstrip())
        if match is None:
            raise QueryError(
                f"{where}, line {number}: expected '-- name:', '-- description:', "
                f"'-- param:' or '-- note:', got {line!r}"
            )
        key, value = match.groups()
        if key == "param":
            params.append(_parse_param(value, f"{where}, line {number}"))
        elif key != "note":
            if key in fields:
                raise QueryError(f"{where}, line {number}: a second '-- {key}:' line")
            fields[key] = value
    return fields, params


def _parse_param(value: str, where: str) -> QueryParameter:
    match = _PARAM_RE.fullmatch(value)
    if match is None:
        raise QueryError(f"{where}: expected '-- param: NAME TYPE description', got {value!r}")
    name, type_, description = match.groups()
    type_ = type_.upper()
    if type_ not in _SCALARS and _ARRAY_RE.fullmatch(type_) is None:
        known = ", ".join([*_SCALARS, "ARRAY<...>"])
        raise QueryError(f"{where}: parameter {name!r} has type {type_!r}; use one of {known}")
    return QueryParameter(name, type_, description)


@functools.lru_cache(maxsize=64)
def _parse_bigquery(sql: str) -> exp.Expression:
    """The syntax tree of one BigQuery statement (shared: copy it before changing it)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except SqlglotError as exc:
        raise QueryError(f"the SQL does not parse as BigQuery: {exc}") from exc
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, found {len(statements)}")
    return statements[0]


def translate(sql: str, *, table: str | BigQueryTable | None = None,
              dialect: str = "duckdb") -> str:
    """Translate BigQuery SQL written against ``dicom_metadata`` to ``dialect``.

    ``table``, when given, replaces ``dicom_metadata``: ``project.dataset.table``
    for BigQuery, a plain table name elsewhere.

    >>> translate("SELECT PatientID FROM dicom_metadata WHERE Modality = @m", table="dicom")
    'SELECT\\n  PatientID\\nFROM "dicom" AS dicom_metadata\\nWHERE\\n  Modality = $m'
    """
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as exc:
        raise QueryError(f"unknown SQL dialect {dialect!r}: {exc}") from exc
    tree = _parse_bigquery(sql).copy()
    if table is not None:
        _replace_table(tree, _table_identifiers(table, dialect))
    if dialect == "duckdb":
        _bigquery_strings_for_duckdb(tree)
    try:
        return tree.sql(dialect=dialect, pretty=True, comments=False,
                        unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise QueryError(f"cannot translate the SQL to {dialect}: {exc}") from exc


def _table_identifiers(table: str | BigQueryTable, dialect: str) -> list[exp.Identifier]:
    if dialect != "bigquery":
        return [exp.to_identifier(validate_table_name(table), quoted=True)]
    if not isinstance(table, BigQueryTable):
        if not isinstance(table, str):
            raise InvalidIdentifierError(f"table {table!r} is not a str", value=table)
        table = BigQueryTable.parse(table if table.startswith("bq://") else f"bq://{table}")
    parts = (table.project_id, table.dataset_id, table.table_id)
    return [exp.to_identifier(part, quoted=True) for part in parts]


def _replace_table(tree: exp.Expression, parts: list[exp.Identifier]) -> None:
    """Point every unqualified ``dicom_metadata`` reference at ``parts`` (table last).

    The old name stays as the alias, so columns qualified with it still resolve.
    """
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    for node in list(tree.find_all(exp.Table)):
        if node.name != TABLE_PLACEHOLDER or node.db or node.catalog or node.name in ctes:
            continue
        if not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(TABLE_PLACEHOLDER)))
        for key, part in zip(("this", "db", "catalog"), reversed(parts)):
            node.set(key, part.copy())


def _bigquery_strings_for_duckdb(tree: exp.Expression) -> None:
    """Make DuckDB turn TIME and TIMESTAMP values into text the way BigQuery does.

    BigQuery's ``CONCAT`` and ``CAST(x AS STRING)`` print 0, 3 or 6 fractional
    digits (``07:59:11.500``); DuckDB trims trailing zeros (``07:59:11.5``), so
    ``latest_studies``' StudyDateTime would differ between the engines. Column
    types are unknown here, so the rewritten expression tests ``typeof(x)`` at
    run time and only ever calls string functions on ``CAST(x AS VARCHAR)``,
    which binds for every type. Nodes are visited deepest first so that copies
    made for an outer node already hold the rewritten inner ones.
    """
    for node in reversed(list(tree.bfs())):
        if isinstance(node, exp.Concat):
            for arg in list(node.expressions):
                if not isinstance(arg, (exp.Literal, exp.Concat)) and "bq_text" not in arg.meta:
                    arg.replace(_bigquery_text(arg.copy()))
        elif isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.TEXT_TYPES):
            if not node.args.get("format"):
                node.replace(_bigquery_text(node.this.copy()))


def _bigquery_text(value: exp.Expression) -> exp.Expression:
    """``value`` as VARCHAR, with TIME/TIMESTAMP fractions padded to 3 or 6 digits."""
    text = exp.cast(value.copy(), exp.DataType.build("VARCHAR"))
    fraction = exp.SplitPart(this=text.copy(), delimiter=exp.Literal.string("."),
                             part_index=exp.Literal.number(2))
    width = exp.case().when(exp.Length(this=fraction.copy()) <= 3, exp.Literal.number(3)).else_(
        exp.Literal.number(6))
    padded = exp.Pad(this=fraction, expression=width, fill_pattern=exp.Literal.string("0"),
                     is_left=False)
    whole = exp.SplitPart(this=text.copy(), delimiter=exp.Literal.string("."),
                          part_index=exp.Literal.number(1))
    is_temporal = exp.Typeof(this=value.copy()).isin("TIME", "TIMESTAMP")
    has_fraction = exp.StrPosition(this=text.copy(), substr=exp.Literal.string(".")) > 0
    rewritten = exp.DPipe(this=exp.DPipe(this=whole, expression=exp.Literal.string(".")),
                          expression=padded)
    result = exp.case().when(exp.and_(is_temporal, has_fraction), rewritten).else_(text)
    result.meta["bq_text"] = True
    return result


def queries_dir() -> Path:
    """The folder holding the canned ``.sql`` files.

    ``dicomlab/queries`` in an installed wheel, ``<repo>/queries`` in a checkout.

    >>> (queries_dir() / "latest_studies.sql").is_file()
    True
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "queries", here.parent / "queries"):
        if candidate.is_dir():
            return candidate
    raise NotFoundError(f"no canned queries folder at {here / 'queries'} or {here.parent / 'queries'}")


def list_queries() -> list[str]:
    """The names of the canned queries, sorted.

    >>> "latest_studies" in list_queries()
    True
    """
    return sorted(p.stem for p in queries_dir().glob("*.sql") if _NAME_RE.fullmatch(p.stem))


def load_query(name: str) -> CannedQuery:
    """The canned query ``name`` (parsed once, then cached).

    >>> load_query("filter_file_paths").parameters[0].type
    'ARRAY<STRING>'
    """
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise InvalidIdentifierError(
            f"query name {name!r} is not valid: use lowercase letters, digits and "
            "underscores, starting with a letter (e.g. 'latest_studies')",
            value=name,
        )
    path = queries_dir() / f"{name}.sql"
    if not path.is_file():
        raise QueryError(f"no canned query {name!r}; available: {', '.join(list_queries())}")
    return _load_file(path)


@functools.lru_cache(maxsize=None)
def _load_file(path: Path) -> CannedQuery:
    return parse_query(path.read_text(encoding="utf-8"), path)
