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

Parameters and their types are :mod:`dicomlab.core.queryparams`; the translation
is :mod:`dicomlab.core.sqltranslate`. On DuckDB, TIME and TIMESTAMP values turned
into text read as BigQuery prints them (:mod:`dicomlab.core.sqltext`). Functions
that DuckDB would answer differently from BigQuery (``FORMAT``, casts to INT64, BOOL and
NUMERIC, ``EXTRACT(DAYOFWEEK|WEEK …)``, ``SUBSTR``) are rewritten, or refused
with a :class:`~dicomlab.errors.QueryError` naming them
(:mod:`dicomlab.core.sqlcompat`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from dicomlab.core.queryparams import PARAMETER_TYPES, QueryParameter, is_parameter_type
from dicomlab.core.resources import SQL_IDENTIFIER_RE, BigQueryTable
from dicomlab.core.sqlrewrite import name_unnamed_columns
from dicomlab.core.sqltranslate import (
    TABLE_PLACEHOLDER,
    filter_lines_sql,
    for_bigquery,
    parse_bigquery,
    translate_script,
    translate_sql,
    validate_sql,
)
from dicomlab.errors import InvalidIdentifierError, NotFoundError, QueryError

__all__ = [
    "TABLE_PLACEHOLDER",
    "CannedQuery",
    "QueryParameter",
    "canned_columns",
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


_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_HEADER_RE = re.compile(r"--\s*(name|description|param|note):\s*(.*?)\s*")
_PARAM_RE = re.compile(rf"({SQL_IDENTIFIER_RE.pattern})\s+(\S+)\s+(\S.*)")


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
    def columns(self) -> tuple[str, ...] | None:
        """The names of the columns the query returns, read from its final SELECT.

        ``None`` when that SELECT has a ``*`` (the columns follow the table's).
        An expression without a name is BigQuery's ``f0_``, ``f1_``, …

        >>> load_query("series_per_patient").columns
        ('PatientID', 'StudyCount', 'SeriesCount', 'InstanceCount')
        >>> load_query("current_state").columns is None
        True
        """
        return _output_columns(self.sql)

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
    used = {p.name for p in parse_bigquery(text).find_all(exp.Parameter)}
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
        if param and not is_parameter_type(kind):
            raise QueryError(
                f"{where}, line {number}: unknown type {kind!r}; use one of "
                f"{', '.join(PARAMETER_TYPES)} or ARRAY<...> of them"
            )
        if param:
            params.append(QueryParameter(param.group(1), kind, param.group(3)))
        elif key != "note":
            fields[key] = value
    return fields, params


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
    text take a cheaper, type-specific form on DuckDB
    (:func:`dicomlab.core.sqltranslate.translate_sql`).

    >>> print(translate("SELECT PatientID FROM dicom_metadata WHERE Modality = @m", table="t"))
    SELECT
      PatientID
    FROM "t" AS dicom_metadata
    WHERE
      Modality = $m
    """
    source_sql = None
    if source is not None and source != TABLE_PLACEHOLDER:
        source_sql = load_query(source).sql
    return translate_sql(
        sql, table=table, dialect=dialect, source_sql=source_sql, column_types=column_types
    )


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


@functools.cache
def _output_columns(sql: str) -> tuple[str, ...] | None:
    tree = parse_bigquery(sql).copy()
    if not isinstance(tree, exp.Query) or any(s.is_star for s in tree.selects):
        return None
    name_unnamed_columns(tree)
    return tuple(tree.named_selects)


def canned_columns() -> dict[str, tuple[str, ...]]:
    """The columns each canned query returns, for those whose SELECT names them all.

    >>> canned_columns()["latest_studies"]
    ('StudyDateTime', 'PatientID', 'StudyInstanceUID', 'InstanceCount')
    """
    named = {name: load_query(name).columns for name in list_queries()}
    return {name: columns for name, columns in named.items() if columns is not None}


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
