"""BigQuery SQL written for a project's tables, reshaped to run on the local warehouse.

Pure: no I/O. SQL pasted from Google's documentation, from tutorials and from
BigQuery consoles names its tables ``project.dataset.table`` and reads
``INFORMATION_SCHEMA``; the embedded warehouse has one schema of plain table
names. The rewrites here, applied to a syntax tree parsed as BigQuery, make
such SQL run on DuckDB with BigQuery's answers:

- ``project.dataset.table`` and ``dataset.table`` read the local table of that
  name (logged once per name); Google's legacy ``[PROJECT:DATASET.TABLE]``
  (the filter-file example of "Export DICOM metadata to BigQuery") becomes
  ``` `PROJECT.DATASET.TABLE` ``` first, on every engine, since GoogleSQL does
  not read brackets;
- ``INFORMATION_SCHEMA.COLUMNS`` and ``INFORMATION_SCHEMA.TABLES`` (with any
  qualifier) read views the warehouse fills with BigQuery's names and type
  strings (:data:`INFORMATION_SCHEMA_VIEWS`); other views are refused;
- a select-list expression with no name gets BigQuery's ``f0_``, ``f1_``, …
  (numbered among the unnamed ones), where DuckDB would name it by its text;
- ``UNNEST(arr) AS x WITH OFFSET AS i`` counts ``i`` from 0, as BigQuery does,
  where DuckDB's ``WITH ORDINALITY`` counts from 1.

Sources: the legacy form is in Google's "Export DICOM metadata to BigQuery"
(SPEC.md S0/S1, "Create a filter file using BigQuery") and legacy SQL's FROM
clause (https://cloud.google.com/bigquery/docs/reference/legacy-sql#from);
INFORMATION_SCHEMA views with a ``project.dataset`` or ``dataset`` qualifier:
https://cloud.google.com/bigquery/docs/information-schema-columns; WITH OFFSET
"a zero-based offset": https://cloud.google.com/bigquery/docs/reference/standard-sql/query-syntax#unnest_operator;
``f<n>_`` is what BigQuery's result schema calls an anonymous column
(``SELECT Modality, COUNT(*)`` gives ``Modality, f0_``) [M: observed, the REST
double in tests/support names them the same way].

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT COUNT(*) FROM `p.d.dicom_metadata`", read="bigquery")
>>> name_unnamed_columns(tree); local_table_names(tree)
>>> tree.sql("duckdb")
'SELECT COUNT(*) AS f0_ FROM "dicom_metadata"'
"""

from __future__ import annotations

import itertools
import logging
import re

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import SqlglotError

from dicomlab.errors import QueryError

__all__ = [
    "INFORMATION_SCHEMA_VIEWS",
    "expand_legacy_tables",
    "in_unnest_as_subquery",
    "information_schema_views",
    "local_table_names",
    "name_unnamed_columns",
    "unnest_offsets_from_zero",
]

logger = logging.getLogger(__name__)

# BigQuery view -> the local table the warehouse fills for it before a query reads it.
INFORMATION_SCHEMA_VIEWS = {
    "COLUMNS": "__dicomlab_bq_columns",
    "TABLES": "__dicomlab_bq_tables",
}
_INFORMATION_SCHEMA = "INFORMATION_SCHEMA."
# What a legacy-SQL table reference holds: [project:dataset.table] or [dataset.table].
# Project ids may hold hyphens and a domain prefix ("example.com:my-project").
_LEGACY_TABLE = re.compile(
    r"(?:(?P<project>[\w.-]+(?::[\w-]+)?):)?(?P<dataset>\w+)\.(?P<table>[\w$-]+)"
)
_OFFSET_COLUMN = "__dicomlab_ordinal"
_warned: set[str] = set()


def expand_legacy_tables(sql: str) -> str:
    """``FROM [project:dataset.table]`` (legacy SQL) as GoogleSQL's ``` `project.dataset.table` ```.

    Only a bracketed name right after ``FROM`` or ``JOIN`` is rewritten; strings,
    comments and array literals are left as they are (the text is tokenized).

    >>> expand_legacy_tables("SELECT CONCAT('/studies/', StudyInstanceUID) FROM [p-1:d.t]")
    "SELECT CONCAT('/studies/', StudyInstanceUID) FROM `p-1.d.t`"
    """
    if "[" not in sql:
        return sql
    try:
        tokens = sqlglot.tokenize(sql, read="bigquery")
    except SqlglotError:
        return sql  # the parser reports the error with its position
    spans: list[tuple[int, int, str]] = []
    for before, start in itertools.pairwise(tokens):
        if before.token_type not in (TokenType.FROM, TokenType.JOIN):
            continue
        if start.token_type != TokenType.L_BRACKET:
            continue
        end = sql.find("]", start.end)
        match = _LEGACY_TABLE.fullmatch(sql[start.end + 1 : end].strip()) if end > 0 else None
        if match is not None:
            parts = [p for p in match.group("project", "dataset", "table") if p]
            spans.append((start.start, end + 1, f"`{'.'.join(parts)}`"))
    for begin, end, text in reversed(spans):
        sql = sql[:begin] + text + sql[end:]
    return sql


def information_schema_views(tree: exp.Expr) -> set[str]:
    """Point ``INFORMATION_SCHEMA.COLUMNS``/``TABLES`` at the warehouse's views; their names.

    The view keeps its own name as the alias (``COLUMNS``), so qualified
    column references still resolve. Any other ``INFORMATION_SCHEMA`` view is
    refused with a :class:`~dicomlab.errors.QueryError` naming it.
    """
    used: set[str] = set()
    for node in list(tree.find_all(exp.Table)):
        name = node.name.upper()
        if not name.startswith(_INFORMATION_SCHEMA):
            continue
        view = name[len(_INFORMATION_SCHEMA) :]
        local = INFORMATION_SCHEMA_VIEWS.get(view)
        if local is None:
            raise QueryError(
                f"INFORMATION_SCHEMA.{view} is not available on the embedded warehouse; "
                f"it has {', '.join(f'INFORMATION_SCHEMA.{v}' for v in INFORMATION_SCHEMA_VIEWS)}"
                ", or run the query on BigQuery"
            )
        if not node.alias or "." in node.alias:  # sqlglot may alias it by its whole path
            node.set("alias", exp.TableAlias(this=exp.to_identifier(view)))
        node.set("this", exp.to_identifier(local, quoted=True))
        node.set("db", None)
        node.set("catalog", None)
        used.add(view)
    return used


def local_table_names(tree: exp.Expr) -> None:
    """Make ``project.dataset.table`` and ``dataset.table`` read the local table ``table``.

    The embedded warehouse has one schema, so the qualifiers only say which
    BigQuery table the SQL was written for; each qualified name is logged once.
    """
    for node in tree.find_all(exp.Table):
        if not (node.args.get("db") or node.args.get("catalog")) or not node.name:
            continue
        written = ".".join(part.name for part in node.parts)
        if written not in _warned:
            _warned.add(written)
            logger.warning(
                "%s is read from the local table %r (the embedded warehouse has no projects "
                "or datasets)",
                written,
                node.name,
            )
        node.set("db", None)
        node.set("catalog", None)


def _named(node: exp.Expr) -> bool:
    """Whether BigQuery names a select-list expression itself (not ``f0_``)."""
    return isinstance(node, (exp.Alias, exp.Column, exp.Dot, exp.Star))


def name_unnamed_columns(tree: exp.Expr) -> None:
    """Give unnamed select-list expressions BigQuery's names: ``f0_``, ``f1_``, ….

    A column keeps its name and a field access (``PatientName.Alphabetic``) is
    named by its last field, as in BigQuery.
    """
    for select in tree.find_all(exp.Select):
        if select.args.get("kind"):  # SELECT AS STRUCT / AS VALUE: no column names
            continue
        number = 0
        for expression in list(select.expressions):
            if isinstance(expression, exp.Dot):
                expression.replace(exp.alias_(expression.copy(), expression.name))
            elif not _named(expression):
                expression.replace(exp.alias_(expression.copy(), f"f{number}_"))
                number += 1


def unnest_offsets_from_zero(tree: exp.Expr) -> None:
    """``UNNEST(arr) AS x WITH OFFSET AS i``: ``i`` from 0 (DuckDB's ordinality starts at 1).

    The UNNEST becomes a subquery that reads the array with a hidden ordinal and
    gives ``x`` and ``i = ordinal - 1``; DuckDB joins it laterally, as BigQuery
    does the UNNEST.
    """
    for node in list(tree.find_all(exp.Unnest)):
        offset = node.args.get("offset")
        if offset is None or not isinstance(node.parent, (exp.From, exp.Join)):
            continue
        offset_name = offset.name if isinstance(offset, exp.Expr) and offset.name else "offset"
        alias = node.args.get("alias")
        columns = list(alias.columns) if isinstance(alias, exp.TableAlias) else []
        value = columns[0].name if columns else (alias.name if alias else "") or "f0_"
        inner = node.copy()
        inner.set("offset", exp.to_identifier(_OFFSET_COLUMN))
        inner.set("alias", exp.TableAlias(columns=[exp.to_identifier(value)]))
        ordinal = exp.Sub(this=exp.column(_OFFSET_COLUMN), expression=exp.Literal.number(1))
        rows = exp.select(exp.column(value), exp.alias_(ordinal, offset_name)).from_(inner)
        node.replace(rows.subquery(exp.to_identifier(f"_unnest_{offset_name}")))


def in_unnest_as_subquery(tree: exp.Expr) -> None:
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
