"""Canned BigQuery queries, loaded from ``.sql`` files and translated without I/O.

Each file in :func:`queries_dir` holds one BigQuery Standard SQL query, valid as
it stands, that reads the conventional table ``dicom_metadata`` and takes named
``@parameters``. Its header names it and types each parameter (``-- note:``
lines may follow)::

    -- name: latest_studies
    -- description: The reading worklist: newest studies first, with instance counts.
    -- param: limit INT64 How many studies to return.

The table is swapped on sqlglot's syntax tree, from a validated identifier.
Values are never written into SQL: the engine binds them (``@limit`` on
BigQuery, ``$limit`` on DuckDB) once :meth:`CannedQuery.bind` has checked them.

>>> q = load_query("latest_studies")
>>> q.signature, q.bind({"limit": 5})
('limit INT64', {'limit': 5})
>>> "LIMIT $limit" in q.to_duckdb()
True

On DuckDB, ``CONCAT`` and ``CAST(x AS STRING)`` print TIME and TIMESTAMP (BigQuery's
DATETIME) values as BigQuery does, with 0, 3 or 6 fractional digits (``07:59:11``,
``07:59:11.500``, ``07:59:11.123456``), not DuckDB's trimmed ``07:59:11.5``.
TIMESTAMP WITH TIME ZONE values keep DuckDB's form. Functions that DuckDB
would answer differently from BigQuery (``FORMAT``, casts to INT64, BOOL and
NUMERIC, ``EXTRACT(DAYOFWEEK|WEEK …)``, ``SUBSTR``) are rewritten, or refused
with a :class:`~dicomlab.errors.QueryError` naming them
(:mod:`dicomlab.core.sqlcompat`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import numbers
import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from dicomlab.core.resources import BigQueryTable, validate_table_name
from dicomlab.core.sqlcompat import bigquery_semantics_for_duckdb
from dicomlab.core.sqlrewrite import (
    expand_legacy_tables,
    information_schema_views,
    local_table_names,
    name_unnamed_columns,
    unnest_offsets_from_zero,
)
from dicomlab.core.sqlscript import DuckDBScript, to_duckdb_script
from dicomlab.errors import InvalidIdentifierError, NotFoundError, QueryError

__all__ = [
    "TABLE_PLACEHOLDER",
    "CannedQuery",
    "QueryParameter",
    "filter_lines_sql",
    "for_bigquery",
    "list_queries",
    "load_query",
    "parse_query",
    "queries_dir",
    "translate",
    "translate_script",
    "validate_sql",
]

TABLE_PLACEHOLDER = "dicom_metadata"
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_HEADER_RE = re.compile(r"--\s*(name|description|param|note):\s*(.*?)\s*")
_PARAM_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s+(\S+)\s+(\S.*)")
# Python 3.10's fromisoformat reads only 0, 3 or 6 fractional digits.
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{3}(\d{3})?)?")
_DATETIME_RE = re.compile(rf"{_DATE_RE.pattern}[ T]{_TIME_RE.pattern}")
_TIMESTAMP_RE = re.compile(rf"{_DATETIME_RE.pattern}([+-]\d{{2}}:\d{{2}})?")


def _is_bool(v: object) -> bool:
    # numpy.bool_ is no bool subclass; recognise it by its dtype kind.
    return isinstance(v, bool) or getattr(getattr(v, "dtype", None), "kind", "") == "b"


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not _is_bool(v)


def _text(pattern: re.Pattern[str]) -> Callable[[object], bool]:
    return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None


def _iso(kind: Any) -> Callable[[Any], object]:
    return lambda v: kind.fromisoformat(v) if isinstance(v, str) else v


# BigQuery type -> (what a caller may pass, test, conversion to the value bound).
_SCALARS: dict[str, tuple[str, Callable[[object], bool], Callable[[Any], object]]] = {
    "STRING": ("a str", lambda v: isinstance(v, str), str),
    "INT64": ("an int", _is_int, int),
    "FLOAT64": (
        "an int or float",
        lambda v: isinstance(v, numbers.Real) and not _is_bool(v),
        float,
    ),
    "NUMERIC": (
        "a Decimal or int",
        lambda v: isinstance(v, Decimal) or _is_int(v),
        lambda v: Decimal(int(v)) if _is_int(v) else v,
    ),
    "BOOL": ("a bool", _is_bool, bool),
    "BYTES": ("bytes", lambda v: isinstance(v, bytes), bytes),
    "DATE": (
        "a datetime.date or 'YYYY-MM-DD'",
        lambda v: type(v) is dt.date or _text(_DATE_RE)(v),
        _iso(dt.date),
    ),
    "TIME": (
        "a datetime.time or 'HH:MM:SS'",
        lambda v: isinstance(v, dt.time) or _text(_TIME_RE)(v),
        _iso(dt.time),
    ),
    "DATETIME": (
        "a naive datetime or 'YYYY-MM-DD HH:MM:SS'",
        lambda v: (isinstance(v, dt.datetime) and v.tzinfo is None) or _text(_DATETIME_RE)(v),
        _iso(dt.datetime),
    ),
    "TIMESTAMP": (
        "a datetime or 'YYYY-MM-DD HH:MM:SS[+HH:MM]'",
        lambda v: isinstance(v, dt.datetime) or _text(_TIMESTAMP_RE)(v),
        _iso(dt.datetime),
    ),
}
_SCALARS["BIGNUMERIC"] = _SCALARS["NUMERIC"]
_ARRAY_RE = re.compile(rf"ARRAY<({'|'.join(_SCALARS)})>")


def _as_list(v: object) -> list[object]:
    """A list from a list, tuple, set, pandas Series/Index or numpy array, else TypeError."""
    if isinstance(v, (list, tuple, set, frozenset)):
        return list(v)
    items = v.tolist() if hasattr(v, "tolist") and not isinstance(v, (str, bytes)) else None
    if isinstance(items, list):
        return items
    raise TypeError


@dataclass(frozen=True)
class QueryParameter:
    """A named ``@parameter`` of a canned query, with its BigQuery type.

    >>> QueryParameter("day", "DATE", "A study date.").coerce("1998-09-24")
    datetime.date(1998, 9, 24)
    """

    name: str
    type: str
    description: str

    def coerce(self, value: object) -> object:
        """Return ``value`` as the Python value to bind, or raise :class:`QueryError`."""
        array = _ARRAY_RE.fullmatch(self.type)
        if array is None:
            return self._convert(self.type, value, "the value")
        try:
            items = _as_list(value)
        except TypeError:
            raise QueryError(
                f"parameter {self.name!r} is {self.type}: pass a list, tuple, set, "
                f"Series or array, not {type(value).__name__} {reprlib.repr(value)}"
            ) from None
        return [self._convert(array.group(1), v, f"item {i}") for i, v in enumerate(items)]

    def _convert(self, scalar: str, value: object, what: str) -> object:
        hint, accepts, convert = _SCALARS[scalar]
        try:
            if accepts(value):
                return convert(value)  # fromisoformat: ValueError for e.g. '2024-02-30'
        except ValueError:
            pass
        raise QueryError(
            f"parameter {self.name!r} is {self.type}: {what} should be {hint}, "
            f"not {type(value).__name__} {reprlib.repr(value)}"
        )


@dataclass(frozen=True)
class CannedQuery:
    """A BigQuery query read from a ``.sql`` file, with its declared parameters.

    >>> q = load_query("patient_dicomweb_paths")
    >>> q.bind({"patient_id": "19045"})
    {'patient_id': '19045'}
    >>> "FROM `my-project`.`imaging`.`dicom` AS" in q.to_bigquery("my-project.imaging.dicom")
    True
    """

    name: str
    description: str
    sql: str
    parameters: tuple[QueryParameter, ...]
    path: Path

    @property
    def signature(self) -> str:
        """The parameters as ``name TYPE, ...``, or ``"no parameters"``."""
        return ", ".join(f"{p.name} {p.type}" for p in self.parameters) or "no parameters"

    def bind(self, params: Mapping[str, object]) -> dict[str, object]:
        """Check ``params`` against the declared parameters; return the values to bind.

        >>> load_query("latest_studies").bind({"limit": 10})
        {'limit': 10}
        """
        declared = {p.name: p for p in self.parameters}
        unknown = ", ".join(sorted(map(str, set(params) - set(declared))))
        missing = ", ".join(name for name in declared if name not in params)
        problems = [
            f"{kind}: {names}"
            for kind, names in (("unknown", unknown), ("missing", missing))
            if names
        ]
        if problems:
            raise QueryError(f"query {self.name!r} takes {self.signature} ({'; '.join(problems)})")
        return {name: p.coerce(params[name]) for name, p in declared.items()}

    def to_bigquery(self, table: str | BigQueryTable, source: str | None = None) -> str:
        """The query reading ``table`` (``project.dataset.table``), parameters as ``@name``.

        >>> "`p-1234`.`ds`.`t`" in load_query("series_per_patient").to_bigquery("p-1234.ds.t")
        True
        """
        if table is None:
            raise InvalidIdentifierError("give the table as 'project.dataset.table'", value=table)
        return translate(self.sql, table=table, dialect="bigquery", source=self._source(source))

    def to_duckdb(
        self,
        table: str = TABLE_PLACEHOLDER,
        source: str | None = None,
        column_types: Mapping[str, str] | None = None,
    ) -> str:
        """The query in DuckDB's dialect, reading ``table``, parameters as ``$name``.

        >>> "$patient_id" in load_query("patient_dicomweb_paths").to_duckdb("dicom")
        True
        """
        return translate(
            self.sql,
            table=table,
            dialect="duckdb",
            source=self._source(source),
            column_types=column_types,
        )

    def _source(self, source: str | None) -> str | None:
        """``source`` checked: a canned query other than this one, or ``None``."""
        if source is not None and (source == self.name or source not in list_queries()):
            raise QueryError(
                f"source {source!r} for query {self.name!r} must be another canned query "
                f"(e.g. 'current_state'); known: {', '.join(list_queries())}"
            )
        return source


def parse_query(text: str, path: str | Path = "<string>") -> CannedQuery:
    """Parse the text of a canned query file: its header, then one BigQuery statement.

    >>> q = parse_query("-- name: one\\n-- description: One row.\\nSELECT 1 AS x")
    >>> q.name, q.parameters
    ('one', ())
    """
    path = Path(path)
    fields, params = _parse_header(text, str(path))
    for key in ("name", "description"):
        if not fields.get(key):
            raise QueryError(f"{path}: the header has no '-- {key}:' line")
    name = fields["name"]
    if _NAME_RE.fullmatch(name) is None or (path.suffix == ".sql" and name != path.stem):
        raise QueryError(f"{path}: query name {name!r} must be snake_case and match the file")
    used = {p.name for p in _parse_bigquery(text).find_all(exp.Parameter)}
    declared = [p.name for p in params]
    if len(set(declared)) != len(declared) or used != set(declared):
        raise QueryError(f"{path}: the header declares {declared} but the SQL uses {sorted(used)}")
    return CannedQuery(name, fields["description"], text, tuple(params), path)


def _parse_header(text: str, where: str) -> tuple[dict[str, str], list[QueryParameter]]:
    fields: dict[str, str] = {}
    params: list[QueryParameter] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("--"):
            break
        match = _HEADER_RE.fullmatch(line.rstrip())
        key, value = match.groups() if match else ("", "")
        param = _PARAM_RE.fullmatch(value) if key == "param" else None
        kind = param.group(2).upper() if param else ""
        if not match or (key == "param" and not param) or key in fields:
            raise QueryError(
                f"{where}, line {number}: expected one '-- name:' and one "
                "'-- description:', then '-- param: NAME TYPE description' "
                f"or '-- note:' lines; got {line!r}"
            )
        if param and kind not in _SCALARS and not _ARRAY_RE.fullmatch(kind):
            raise QueryError(
                f"{where}, line {number}: unknown type {kind!r}; use one of "
                f"{', '.join(_SCALARS)} or ARRAY<...> of them"
            )
        if param:
            params.append(QueryParameter(param.group(1), kind, param.group(3)))
        elif key != "note":
            fields[key] = value
    return fields, params


@functools.lru_cache(maxsize=64)
def _parse_statements(sql: str) -> tuple[exp.Expr, ...]:
    """The syntax trees of a BigQuery statement or script (shared: copy before changing)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except SqlglotError as exc:
        raise QueryError(f"the SQL does not parse as BigQuery: {exc}") from exc
    if not statements:
        raise QueryError("the SQL holds no statement")
    return tuple(statements)


def _parse_bigquery(sql: str) -> exp.Expr:
    """The syntax tree of one BigQuery statement (shared: copy it before changing it)."""
    statements = _parse_statements(sql)
    if len(statements) != 1:
        raise QueryError(
            f"expected one SQL statement, found {len(statements)}; a script of several "
            "runs with lab.sql"
        )
    return statements[0]


def validate_sql(sql: object) -> str:
    """Return ``sql`` if it is query text (a non-blank str), else raise :class:`QueryError`.

    >>> validate_sql(None)
    Traceback (most recent call last):
    ...
    dicomlab.errors.QueryError: the SQL is None, not query text: pass a str ...
    """
    if not isinstance(sql, str) or not sql.strip():
        raise QueryError(
            f"the SQL is {reprlib.repr(sql)}, not query text: pass a str such as "
            '"SELECT COUNT(*) AS n FROM dicom_metadata"'
        )
    return sql


def translate(
    sql: str,
    *,
    table: str | BigQueryTable | None = None,
    dialect: str = "duckdb",
    source: str | None = None,
    column_types: Mapping[str, str] | None = None,
) -> str:
    """Translate BigQuery SQL written against ``dicom_metadata`` to ``dialect``.

    ``table``, when given, replaces ``dicom_metadata``: ``project.dataset.table``
    for BigQuery, a plain table name elsewhere. ``source`` names a canned
    query (e.g. ``"current_state"``) whose rows ``dicom_metadata`` stands for:
    it becomes a ``WITH dicom_metadata AS (…)`` clause reading ``table``.
    ``column_types`` (DuckDB type names by column) lets columns turned into
    text take a cheaper, type-specific form on DuckDB.

    >>> print(translate("SELECT PatientID FROM dicom_metadata WHERE Modality = @m", table="t"))
    SELECT
      PatientID
    FROM "t" AS dicom_metadata
    WHERE
      Modality = $m
    """
    validate_sql(sql)
    if table is not None and not isinstance(table, (str, BigQueryTable)):
        raise InvalidIdentifierError(f"table {table!r} is not a str", value=table)
    types = tuple(sorted(column_types.items())) if column_types else ()
    return _translate(sql, table, dialect, source, types)


@functools.lru_cache(maxsize=256)
def _translate(
    sql: str,
    table: str | BigQueryTable | None,
    dialect: str,
    source: str | None,
    types: tuple[tuple[str, str], ...] = (),
) -> str:
    """:func:`translate`, kept for repeated calls (the same canned query, table and dialect)."""
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as exc:
        raise QueryError(f"unknown SQL dialect {dialect!r}: {exc}") from exc
    tree = _parse_bigquery(expand_legacy_tables(sql)).copy()
    parts = _table_identifiers(table, dialect) if table is not None else None
    if source is not None:
        _read_from(tree, source, parts)
    if parts is not None:
        _replace_table(tree, parts)
    if dialect == "duckdb":
        _for_duckdb(tree, dict(types), local=table is not None)
    try:
        return tree.sql(
            dialect=dialect, pretty=True, comments=False, unsupported_level=ErrorLevel.RAISE
        )
    except SqlglotError as exc:
        raise QueryError(f"cannot translate the SQL to {dialect}: {exc}") from exc


def _for_duckdb(tree: exp.Expr, types: Mapping[str, str], local: bool) -> set[str]:
    """Rewrite ``tree`` in place to give BigQuery's answer on DuckDB; the
    ``INFORMATION_SCHEMA`` views it reads (:mod:`dicomlab.core.sqlrewrite`).

    ``local``: the SQL runs on the embedded warehouse (a ``table`` was given),
    whose one schema holds every table, so qualified names lose their qualifiers;
    otherwise ``dataset.table`` stays a DuckDB ``schema.table``.
    """
    views = information_schema_views(tree)
    if local:
        local_table_names(tree)
    name_unnamed_columns(tree)
    unnest_offsets_from_zero(tree)
    bigquery_semantics_for_duckdb(tree, types)
    _in_unnest_as_subquery(tree)
    _bigquery_strings_for_duckdb(tree, types)
    return views


def translate_script(
    sql: str,
    *,
    table: str | None = None,
    column_types: Mapping[str, str] | None = None,
) -> DuckDBScript:
    """A BigQuery query or script as DuckDB statements (:mod:`dicomlab.core.sqlscript`).

    ``table`` replaces ``dicom_metadata`` as in :func:`translate`; ``column_types``
    (DuckDB type names by column) are the table's.

    >>> script = translate_script("DECLARE x FLOAT64 DEFAULT 0.5; SELECT x * 2", table="t")
    >>> [s.sql for s in script.setup], script.query.sql
    (['SET VARIABLE x = (SELECT CAST(0.5 AS DOUBLE) AS v)'], "SELECT GETVARIABLE('x') * 2 AS f0_")
    """
    validate_sql(sql)
    types = tuple(sorted(column_types.items())) if column_types else ()
    return _translate_script(sql, table, types)


@functools.lru_cache(maxsize=64)
def _translate_script(
    sql: str, table: str | None, types: tuple[tuple[str, str], ...]
) -> DuckDBScript:
    statements = _parse_statements(expand_legacy_tables(sql))
    parts = _table_identifiers(table, "duckdb") if table is not None else None
    views: set[str] = set()

    def finish(tree: exp.Expr) -> None:
        if parts is not None:
            _replace_table(tree, parts)
        views.update(_for_duckdb(tree, dict(types), local=table is not None))

    try:
        script = to_duckdb_script(statements, columns=[n for n, _ in types], finish=finish)
    except SqlglotError as exc:
        raise QueryError(f"cannot translate the SQL to DuckDB: {exc}") from exc
    return dataclasses.replace(script, views=frozenset(views))


def for_bigquery(sql: str, table: str | BigQueryTable) -> str:
    """``sql`` as BigQuery runs it: untouched, but for ``dicom_metadata`` and legacy names.

    Each unqualified ``dicom_metadata`` becomes ``table`` (keeping its name as the
    alias) and a legacy ``[project:dataset.table]`` GoogleSQL's backticked name;
    every other character, qualified names and script statements included, is
    left as written. SQL that sqlglot cannot parse goes as it is, for BigQuery to judge.

    >>> for_bigquery("DECLARE n INT64 DEFAULT 5; SELECT n FROM dicom_metadata", "my-proj.d.t")
    'DECLARE n INT64 DEFAULT 5; SELECT n FROM `my-proj.d.t` AS dicom_metadata'
    """
    validate_sql(sql)
    text = expand_legacy_tables(sql)
    target = ".".join(part.name for part in _table_identifiers(table, "bigquery"))
    try:
        statements = _parse_statements(text)
    except QueryError:
        return text
    spans: list[tuple[int, int, str]] = []
    for tree in statements:
        if any(cte.alias == TABLE_PLACEHOLDER for cte in tree.find_all(exp.CTE)):
            continue
        for node in tree.find_all(exp.Table):
            where = node.this.meta if isinstance(node.this, exp.Identifier) else {}
            if node.name != TABLE_PLACEHOLDER or node.db or node.catalog or "start" not in where:
                continue
            alias = "" if node.alias else f" AS {TABLE_PLACEHOLDER}"
            spans.append((where["start"], where["end"] + 1, f"`{target}`{alias}"))
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _table_identifiers(table: str | BigQueryTable, dialect: str) -> list[exp.Identifier]:
    if dialect != "bigquery":
        return [exp.to_identifier(validate_table_name(table), quoted=True)]
    if not isinstance(table, BigQueryTable):
        if not isinstance(table, str):
            raise InvalidIdentifierError(f"table {table!r} is not a str", value=table)
        table = BigQueryTable.parse(table if table.startswith("bq://") else f"bq://{table}")
    parts = (table.project_id, table.dataset_id, table.table_id)
    return [exp.to_identifier(part, quoted=True) for part in parts]


def _replace_table(tree: exp.Expr, parts: list[exp.Identifier]) -> None:
    """Point every unqualified ``dicom_metadata`` at ``parts`` (project, dataset, table).

    The old name stays as the alias, so columns qualified with it still resolve.
    """
    if any(cte.alias == TABLE_PLACEHOLDER for cte in tree.find_all(exp.CTE)):
        return  # the query defines its own dicom_metadata
    for node in list(tree.find_all(exp.Table)):
        if node.name != TABLE_PLACEHOLDER or node.db or node.catalog:
            continue
        if not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(TABLE_PLACEHOLDER)))
        for key, part in zip(("this", "db", "catalog"), reversed(parts), strict=False):
            node.set(key, part.copy())


def _read_from(tree: exp.Expr, source: str, parts: list[exp.Identifier] | None) -> None:
    """Make ``dicom_metadata`` in ``tree`` the rows of canned query ``source``."""
    if source == TABLE_PLACEHOLDER:
        return
    rows = _parse_bigquery(load_query(source).sql).copy()
    if parts is not None:
        _replace_table(rows, parts)
    cte = exp.CTE(this=rows, alias=exp.TableAlias(this=exp.to_identifier(TABLE_PLACEHOLDER)))
    existing = tree.args.get("with_")
    if existing is not None:
        existing.set("expressions", [cte, *existing.expressions])
    else:
        tree.set("with_", exp.With(expressions=[cte]))


_LEVEL_COLUMNS = {
    "study": ("StudyInstanceUID",),
    "series": ("StudyInstanceUID", "SeriesInstanceUID"),
    "instance": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}


def filter_lines_sql(sql: str, level: str) -> str:
    """BigQuery SQL giving the filter-file lines (column ``path``) of ``sql``'s rows.

    ``sql`` is any BigQuery query whose rows carry the UID columns; the lines
    are built in BigQuery (``CONCAT``), once each, so a cohort of any size never
    passes through the notebook.

    >>> sql = filter_lines_sql("SELECT StudyInstanceUID FROM t", "study")
    >>> sql.startswith("SELECT DISTINCT CONCAT('/studies/', StudyInstanceUID) AS path FROM (")
    True
    >>> sql.endswith("AS hits WHERE NOT StudyInstanceUID IS NULL")
    True
    """
    if level not in _LEVEL_COLUMNS:
        raise QueryError(f"level {level!r} is not one of {', '.join(_LEVEL_COLUMNS)}")
    columns = _LEVEL_COLUMNS[level]
    parts: list[exp.Expr] = []
    for prefix, column in zip(("/studies/", "/series/", "/instances/"), columns, strict=False):
        parts += [exp.Literal.string(prefix), exp.column(column)]
    inner = _parse_bigquery(sql).copy()
    if not isinstance(inner, exp.Query):
        raise QueryError(f"expected a query (SELECT …), got {type(inner).__name__}")
    outer = (
        exp.select(exp.alias_(exp.Concat(expressions=parts), "path"))
        .distinct()
        .from_(inner.subquery("hits"))
        .where(exp.and_(*(exp.column(c).is_(exp.null()).not_() for c in columns)))
    )
    return outer.sql(dialect="bigquery")


def _in_unnest_as_subquery(tree: exp.Expr) -> None:
    """Rewrite ``x IN UNNEST(array)`` as ``x IN (SELECT UNNEST(array))`` for DuckDB.

    sqlglot emits a CASE that calls ``ARRAY_LENGTH`` and ``LIST_COUNT`` on the
    whole array for every row: 7,000 study UIDs over 5 M rows took about 27 s,
    against 0.6 s for the subquery, which DuckDB runs as a hash semi-join. NULL
    semantics stay BigQuery's (an empty array gives FALSE; a NULL ``x``, or no
    match in an array holding NULL, gives NULL).
    """
    for node in list(tree.find_all(exp.In)):
        unnest = node.args.get("unnest")
        if unnest is not None:
            node.set("unnest", None)
            node.set("query", exp.select(unnest.copy()).subquery())


def _bigquery_strings_for_duckdb(tree: exp.Expr, types: Mapping[str, str]) -> None:
    """Make DuckDB turn TIME and TIMESTAMP values into text the way BigQuery does.

    BigQuery's ``CONCAT`` and ``CAST(x AS STRING)`` print 0, 3 or 6 fractional
    digits (``07:59:11.500``); DuckDB trims trailing zeros (``07:59:11.5``), so
    ``latest_studies``' StudyDateTime would differ between engines. Column types
    are unknown here, so the rewrite tests ``typeof(x)`` at run time (DuckDB folds
    it) and calls string functions only on ``CAST(x AS VARCHAR)``, which binds for
    every type. Nodes are visited deepest first, so that the copies made for an
    outer node hold the rewritten inner ones.
    """
    for node in reversed(list(tree.bfs())):
        if isinstance(node, exp.Concat) and (joined := _date_and_time(node, types)) is not None:
            node.replace(joined)
        elif isinstance(node, exp.Concat):
            for arg in list(node.expressions):
                if not isinstance(arg, (exp.Literal, exp.Concat)) and "bq_text" not in arg.meta:
                    arg.replace(_bigquery_text(arg.copy(), types))
        elif (
            isinstance(node, exp.Cast)
            and node.to.is_type(*exp.DataType.TEXT_TYPES)
            and not node.args.get("format")
            and "bq_text" not in node.meta  # made for DuckDB's sake, not BigQuery text
        ):
            node.replace(_bigquery_text(node.this.copy(), types))


# DuckDB types whose text is the same as BigQuery's (no fractional seconds to pad).
_PLAIN_TEXT_TYPES = ("VARCHAR", "DATE", "BIGINT", "INTEGER", "DOUBLE", "BOOLEAN")


def _typed_text(value: exp.Expr, kind: str) -> exp.Expr | None:
    """A cheaper text form when the column's DuckDB type is known (``None``: not here)."""
    if kind in _PLAIN_TEXT_TYPES:
        return exp.cast(value.copy(), exp.DataType.build("VARCHAR"))
    if kind != "TIME":
        return None
    midnight = exp.cast(exp.Literal.string("1970-01-01"), "DATE")
    return _strftime_time(exp.Add(this=midnight, expression=value.copy()), value, "")


def _strftime_time(stamp: exp.Expr, time: exp.Expr, prefix: str) -> exp.Expr:
    """``stamp`` (a TIMESTAMP) as ``prefix`` + the time of day with 0, 3 or 6 fraction digits,
    as BigQuery prints ``time``."""
    micro = exp.Mod(
        this=exp.Anonymous(this="microsecond", expressions=[time.copy()]),
        expression=exp.Literal.number(1_000_000),
    )

    def formatted(pattern: str) -> exp.Expr:
        text = exp.Literal.string(prefix + pattern)
        return exp.Anonymous(this="strftime", expressions=[stamp.copy(), text])

    millis = exp.Mod(this=micro.copy(), expression=exp.Literal.number(1000))
    return (
        exp.case()
        .when(exp.EQ(this=micro, expression=exp.Literal.number(0)), formatted("%H:%M:%S"))
        .when(exp.EQ(this=millis, expression=exp.Literal.number(0)), formatted("%H:%M:%S.%g"))
        .else_(formatted("%H:%M:%S.%f"))
    )


def _date_and_time(node: exp.Concat, types: Mapping[str, str]) -> exp.Expr | None:
    """``CONCAT(date, ' ', time)`` of a DATE and a TIME column as one ``strftime`` of their
    sum (the worklist's StudyDateTime), or ``None`` for any other concatenation."""
    parts = node.expressions
    if len(parts) != 3 or not types:
        return None
    date, space, time = parts
    if not (
        isinstance(date, exp.Column)
        and isinstance(time, exp.Column)
        and isinstance(space, exp.Literal)
        and space.is_string
        and space.this == " "
        and types.get(date.name, "").upper() == "DATE"
        and types.get(time.name, "").upper() == "TIME"
    ):
        return None
    joined = _strftime_time(exp.Add(this=date.copy(), expression=time.copy()), time, "%Y-%m-%d ")
    joined.meta["bq_text"] = True
    return joined


def _bigquery_text(value: exp.Expr, types: Mapping[str, str] | None = None) -> exp.Expr:
    """``value`` as VARCHAR, a TIME/TIMESTAMP fraction right-padded to 3 or 6 digits."""
    if isinstance(value, exp.Column) and types and value.name in types:
        typed = _typed_text(value, types[value.name].upper())
        if typed is not None:
            typed.meta["bq_text"] = True
            return typed
    text = exp.cast(value.copy(), exp.DataType.build("VARCHAR"))
    dot = exp.StrPosition(this=text.copy(), substr=exp.Literal.string("."))
    digits = exp.Length(this=text.copy()) - dot.copy()
    width = exp.case().when(digits <= 3, exp.Literal.number(3)).else_(exp.Literal.number(6))
    padded = exp.Pad(
        this=text.copy(),
        expression=exp.cast(dot.copy() + width, "INT"),
        fill_pattern=exp.Literal.string("0"),
        is_left=False,
    )
    is_temporal = exp.Typeof(this=value.copy()).isin("TIME", "TIMESTAMP")
    result = exp.case().when(exp.and_(is_temporal, dot > 0), padded).else_(text)
    result.meta["bq_text"] = True
    return result


def queries_dir() -> Path:
    """The folder of canned ``.sql`` files: ``dicomlab/_queries`` in a wheel, else the repo's.

    >>> (queries_dir() / "latest_studies.sql").is_file()
    True
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_queries", package.parent / "queries"):
        if candidate.is_dir():
            return candidate
    raise NotFoundError(f"no queries folder in {package} or {package.parent}")


def list_queries() -> list[str]:
    """The names of the canned queries, sorted.

    >>> "latest_studies" in list_queries()
    True
    """
    return sorted(p.stem for p in queries_dir().glob("*.sql") if _NAME_RE.fullmatch(p.stem))


def load_query(name: str) -> CannedQuery:
    """The canned query ``name``, parsed once and then cached.

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


@functools.cache
def _load_file(path: Path) -> CannedQuery:
    return parse_query(path.read_text(encoding="utf-8"), path)
