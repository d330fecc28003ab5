"""BigQuery SQL translated to another dialect, or retargeted for BigQuery, without I/O.

SQL is written against the conventional table ``dicom_metadata``
(:data:`TABLE_PLACEHOLDER`); the table is swapped on sqlglot's syntax tree, from
a validated identifier, and values are never written into SQL. For DuckDB the
tree is also rewritten to give BigQuery's answers (:mod:`dicomlab.core.sqlrewrite`,
:mod:`dicomlab.core.sqlcompat`, :mod:`dicomlab.core.sqltext`) and a BigQuery
script becomes DuckDB statements (:mod:`dicomlab.core.sqlscript`).

>>> "LIMIT $n" in translate_sql("SELECT 1 FROM dicom_metadata LIMIT @n", table="t")
True
"""

from __future__ import annotations

import dataclasses
import functools
import re
import reprlib
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from dicomlab.core.resources import BigQueryTable, validate_table_name
from dicomlab.core.sqlcompat import bigquery_semantics_for_duckdb
from dicomlab.core.sqlrewrite import (
    expand_legacy_tables,
    in_unnest_as_subquery,
    information_schema_views,
    local_table_names,
    name_unnamed_columns,
    unnest_offsets_from_zero,
)
from dicomlab.core.sqlscript import DuckDBScript, to_duckdb_script
from dicomlab.core.sqltext import bigquery_strings_for_duckdb
from dicomlab.errors import InvalidIdentifierError, QueryError

__all__ = [
    "TABLE_PLACEHOLDER",
    "filter_lines_sql",
    "for_bigquery",
    "parse_bigquery",
    "parse_statements",
    "translate_script",
    "translate_sql",
    "validate_sql",
]

TABLE_PLACEHOLDER = "dicom_metadata"

# sqlglot underlines the offending token with terminal escapes, which a notebook or a
# log shows as "\x1b[4m1\x1b[0m": the plain text is kept.
_TERMINAL_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")


def _plain(exc: Exception) -> str:
    r"""``exc``'s message without terminal escapes.

    >>> from sqlglot.errors import ParseError
    >>> _plain(ParseError("Unexpected token. Line 1, Col: 7.\n  SELEC \x1b[4m1\x1b[0m"))
    'Unexpected token. Line 1, Col: 7.\n  SELEC 1'
    """
    return _TERMINAL_ESCAPES.sub("", str(exc))


@functools.lru_cache(maxsize=64)
def parse_statements(sql: str) -> tuple[exp.Expr, ...]:
    """The syntax trees of a BigQuery statement or script (shared: copy before changing)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except SqlglotError as exc:
        raise QueryError(f"the SQL does not parse as BigQuery: {_plain(exc)}") from exc
    if not statements:
        raise QueryError("the SQL holds no statement")
    return tuple(statements)


def parse_bigquery(sql: str) -> exp.Expr:
    """The syntax tree of one BigQuery statement (shared: copy it before changing it)."""
    statements = parse_statements(sql)
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


def translate_sql(
    sql: str,
    *,
    table: str | BigQueryTable | None = None,
    dialect: str = "duckdb",
    source_sql: str | None = None,
    column_types: Mapping[str, str] | None = None,
) -> str:
    """Translate BigQuery SQL written against ``dicom_metadata`` to ``dialect``.

    ``table``, when given, replaces ``dicom_metadata``: ``project.dataset.table``
    for BigQuery, a plain table name elsewhere. ``source_sql`` is a query whose
    rows ``dicom_metadata`` stands for: it becomes a ``WITH dicom_metadata AS (…)``
    clause reading ``table``. ``column_types`` (DuckDB type names by column) lets
    columns turned into text take a cheaper, type-specific form on DuckDB.

    >>> print(translate_sql("SELECT PatientID FROM dicom_metadata WHERE Modality = @m", table="t"))
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
    return _translate(sql, table, dialect, source_sql, types)


@functools.lru_cache(maxsize=256)
def _translate(
    sql: str,
    table: str | BigQueryTable | None,
    dialect: str,
    source_sql: str | None,
    types: tuple[tuple[str, str], ...] = (),
) -> str:
    """:func:`translate_sql`, kept for repeated calls (the same canned query, table and dialect)."""
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as exc:
        raise QueryError(f"unknown SQL dialect {dialect!r}: {exc}") from exc
    tree = parse_bigquery(expand_legacy_tables(sql)).copy()
    parts = _table_identifiers(table, dialect) if table is not None else None
    if source_sql is not None:
        _read_from(tree, source_sql, parts)
    if parts is not None:
        _replace_table(tree, parts)
    if dialect == "duckdb":
        _for_duckdb(tree, dict(types), local=table is not None)
    try:
        return tree.sql(
            dialect=dialect, pretty=True, comments=False, unsupported_level=ErrorLevel.RAISE
        )
    except SqlglotError as exc:
        raise QueryError(f"cannot translate the SQL to {dialect}: {_plain(exc)}") from exc


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
    in_unnest_as_subquery(tree)
    bigquery_strings_for_duckdb(tree, types)
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
    statements = parse_statements(expand_legacy_tables(sql))
    parts = _table_identifiers(table, "duckdb") if table is not None else None
    views: set[str] = set()

    def finish(tree: exp.Expr) -> None:
        if parts is not None:
            _replace_table(tree, parts)
        views.update(_for_duckdb(tree, dict(types), local=table is not None))

    try:
        script = to_duckdb_script(statements, columns=[n for n, _ in types], finish=finish)
    except SqlglotError as exc:
        raise QueryError(f"cannot translate the SQL to DuckDB: {_plain(exc)}") from exc
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
        statements = parse_statements(text)
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


def _read_from(tree: exp.Expr, source_sql: str, parts: list[exp.Identifier] | None) -> None:
    """Make ``dicom_metadata`` in ``tree`` the rows of the query ``source_sql``."""
    rows = parse_bigquery(source_sql).copy()
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
    inner = parse_bigquery(sql).copy()
    if not isinstance(inner, exp.Query):
        raise QueryError(f"expected a query (SELECT …), got {type(inner).__name__}")
    outer = (
        exp.select(exp.alias_(exp.Concat(expressions=parts), "path"))
        .distinct()
        .from_(inner.subquery("hits"))
        .where(exp.and_(*(exp.column(c).is_(exp.null()).not_() for c in columns)))
    )
    return outer.sql(dialect="bigquery")
